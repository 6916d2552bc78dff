/**
 * The one file that imports `@google/adk` at runtime. ADK is heavy (~1,300 modules, ~1 s, ~140 MB), so nothing
 * reaches this file statically from `index.ts`: the engine (`run-agent.ts` and the modules it pulls in) is loaded
 * by one cached dynamic import (`loadAdk` in index.ts). Other files may `import type` from ADK freely.
 */
import { setLogger } from '@google/adk';

// ADK logs coloured INFO lines through winston for every model call; Mule's own logs say what matters.
setLogger(null);

export {
  BaseLlm,
  BaseTool,
  Gemini,
  InMemorySessionService,
  LlmAgent,
  Runner,
  StreamingMode,
  createEvent,
  getFunctionCalls,
} from '@google/adk';
export type {
  BaseLlmConnection,
  Event,
  LlmRequest,
  LlmResponse,
  RunAsyncToolRequest,
  ToolProcessLlmRequest,
} from '@google/adk';

/** ADK's content shapes (from @google/genai, which Mule does not depend on directly). */
export type Content = import('@google/adk').LlmRequest['contents'][number];
export type Part = NonNullable<Content['parts']>[number];
export type FunctionCall = NonNullable<Part['functionCall']>;
export type GenerateContentConfig = NonNullable<import('@google/adk').LlmRequest['config']>;
export type UsageMetadata = NonNullable<import('@google/adk').LlmResponse['usageMetadata']>;
