/**
 * One agent run on ADK: a single LlmAgent built per run from the definition (its model instance reports to this
 * run's meter), an in-memory session holding the earlier turns, and the runner's events read into the result.
 * Loaded only through `loadAdk` (index.ts), since it pulls in ADK.
 *
 * Bounds: max_tool_calls is checked on every model event that asks for tools, before those tools run; ADK's
 * maxLlmCalls (max_tool_calls + 1: one call per tool round plus the answer) is the backstop behind it.
 */
import { DEFAULT_MAX_TOOL_CALLS, MuleError, assertNever, toMuleError, untilAborted } from '@mule/core';
import {
  InMemorySessionService,
  LlmAgent,
  Runner,
  StreamingMode,
  createEvent,
  getFunctionCalls,
  type BaseLlm,
  type Event,
  type GenerateContentConfig,
  type Part,
} from './adk.js';
import { MuleTool, RejectedCallTool, type ToolRunContext } from './agent-tools.js';
import { splitConversation } from './conversation.js';
import { GeminiLlm } from './gemini-llm.js';
import { OpenAiLlm } from './openai-llm.js';
import { REJECTED_CALL_TOOL, rejectUnknownCalls } from './rejected-call.js';
import { RunMeter } from './run-meter.js';
import type { AgentRunRequest, AgentRunResult } from './run-request.js';

const APP_NAME = 'mule';
const USER_ID = 'mule';
/** ADK wants an identifier; Mule names may contain "." and "-". The model never sees it (no identity prompt). */
const AGENT_NAME = 'mule_agent';
const TURN_SEPARATOR = '\n\n';

export async function runAgentWithAdk(request: AgentRunRequest): Promise<AgentRunResult> {
  const { signal } = request;
  if (signal?.aborted) throw cancelled();
  const conversation = splitConversation(request.agent.instruction, request.messages);
  const maxToolCalls = request.agent.max_tool_calls ?? DEFAULT_MAX_TOOL_CALLS;
  const meter = new RunMeter();

  // The run's own signal: follows the caller's, and also stops the run when a tool fails with a bug.
  const controller = new AbortController();
  let fatal: MuleError | undefined;
  const toolContext: ToolRunContext = {
    signal: controller.signal,
    fail(error) {
      fatal ??= error;
      controller.abort(error);
    },
  };

  const agent = buildAgent(request, conversation.instruction, meter, toolContext);
  const sessionService = new InMemorySessionService();
  const session = await sessionService.createSession({ appName: APP_NAME, userId: USER_ID });
  for (const turn of conversation.history) {
    const author = turn.role === 'user' ? 'user' : AGENT_NAME;
    await sessionService.appendEvent({ session, event: createEvent({ author, content: { role: turn.role, parts: [{ text: turn.text }] } }) });
  }
  const events = new Runner({ appName: APP_NAME, agent, sessionService }).runAsync({
    userId: USER_ID,
    sessionId: session.id,
    newMessage: { role: 'user', parts: [{ text: conversation.prompt }] },
    runConfig: { streamingMode: request.onTextDelta ? StreamingMode.SSE : StreamingMode.NONE, maxLlmCalls: maxToolCalls + 1 },
    abortSignal: controller.signal,
  });

  const answer = new AnswerText(request.onTextDelta);
  let toolCalls = 0;
  let finished = false;
  const iterator = events[Symbol.asyncIterator]();
  const followCaller = (): void => controller.abort(signal?.reason);
  signal?.addEventListener('abort', followCaller, { once: true });
  if (signal?.aborted) followCaller();
  try {
    for (;;) {
      const step = await untilAborted(iterator.next(), controller.signal);
      if (step.done) {
        finished = true;
        break;
      }
      const event = step.value;
      if (event.errorCode) throw runError(event, meter, fatal);
      if (event.author !== AGENT_NAME || event.content?.role !== 'model') continue;
      const parts = event.content.parts ?? [];
      if (event.partial) {
        answer.delta(textOf(parts));
        continue;
      }
      const calls = getFunctionCalls(event).length;
      toolCalls += calls;
      if (toolCalls > maxToolCalls) {
        const limit = `agent "${request.agent.name}" asked for more than its max_tool_calls (${maxToolCalls}) tool calls`;
        throw new MuleError('tool_call_limit', `${limit}; the run was stopped`, { details: { maxToolCalls, toolCalls } });
      }
      answer.complete(textOf(parts));
    }
  } catch (error) {
    throw fatal ?? (signal?.aborted ? cancelled() : toMuleError(error));
  } finally {
    signal?.removeEventListener('abort', followCaller);
    if (!finished) {
      // Ends ADK's generator (and its session bookkeeping) when we stopped early; errors are already reported.
      // Not after a normal end: there, aborting would only build a DOMException and run the provider client's
      // abort listeners for a request that has already finished (seen in the api's CPU profile under load).
      controller.abort();
      void iterator.return?.().catch(() => undefined);
    }
  }
  if (signal?.aborted) throw cancelled();
  const failure = fatal ?? meter.failure;
  if (failure) throw failure;
  return { text: answer.text, usage: meter.usage, finishReason: meter.finishReason, llmCalls: meter.llmCalls, toolCalls };
}

function buildAgent(request: AgentRunRequest, instruction: string, meter: RunMeter, toolContext: ToolRunContext): LlmAgent {
  const known = new Set([...request.tools.map((tool) => tool.name), REJECTED_CALL_TOOL]);
  return new LlmAgent({
    name: AGENT_NAME,
    model: createModel(request, meter),
    // A function, not a string: ADK would read "{word}" in a string instruction as a session-state placeholder.
    ...(instruction ? { instruction: () => instruction } : {}),
    tools: [...request.tools.map((tool) => new MuleTool(tool, toolContext)), new RejectedCallTool()],
    generateContentConfig: generationConfig(request),
    // No sub-agents: this also keeps ADK from adding its transfer tool and "You are an agent…" identity prompt.
    disallowTransferToParent: true,
    disallowTransferToPeers: true,
    // Runs on every model response, before ADK looks the called tools up (it throws on unknown names).
    afterModelCallback: ({ response }) => {
      rejectUnknownCalls(response.content?.parts, known);
      return undefined;
    },
  });
}

function createModel(request: AgentRunRequest, meter: RunMeter): BaseLlm {
  const { provider, agent } = request;
  switch (provider.type) {
    case 'openai':
      return new OpenAiLlm(provider, agent.model, meter);
    case 'gemini':
      return new GeminiLlm(provider, agent.model, meter);
    default:
      return assertNever(provider.type);
  }
}

/** The chat request's values win over the definition's. */
function generationConfig({ agent, overrides }: AgentRunRequest): GenerateContentConfig {
  const temperature = overrides?.temperature ?? agent.temperature;
  const topP = overrides?.top_p ?? agent.top_p;
  const maxOutputTokens = overrides?.max_tokens ?? agent.max_tokens;
  return {
    ...(temperature !== undefined ? { temperature } : {}),
    ...(topP !== undefined ? { topP } : {}),
    ...(maxOutputTokens !== undefined ? { maxOutputTokens } : {}),
  };
}

/** ADK reports every failure as an event with an `errorCode`; the typed error, when there is one, is elsewhere. */
function runError(event: Event, meter: RunMeter, fatal: MuleError | undefined): MuleError {
  if (fatal) return fatal;
  if (meter.failure) return meter.failure;
  const message = event.errorMessage ?? event.errorCode ?? 'unknown error';
  // ADK's own backstop (runConfig.maxLlmCalls) throws this text; nothing else identifies it.
  if (/max number of llm calls/i.test(message)) {
    return new MuleError('tool_call_limit', `the agent exceeded its model call limit (max_tool_calls + 1): ${message}`);
  }
  return new MuleError('internal_error', `the agent run failed: ${event.errorCode}: ${message}`);
}

/**
 * The answer as one text: every model turn's text, separated by a blank line, built so that the deltas reported
 * while streaming always add up to the final text.
 */
class AnswerText {
  text = '';
  private turn = '';

  constructor(private readonly onDelta: ((delta: string) => void) | undefined) {}

  /** A streamed piece of the current model turn. */
  delta(piece: string): void {
    if (!piece) return;
    const prefix = this.turn === '' && this.text !== '' ? TURN_SEPARATOR : '';
    this.turn += piece;
    this.emit(prefix + piece);
  }

  /** A model turn's complete text: anything not streamed yet is reported now. */
  complete(full: string): void {
    if (this.turn === '') {
      if (full) this.emit((this.text !== '' ? TURN_SEPARATOR : '') + full);
    } else if (full.startsWith(this.turn) && full.length > this.turn.length) {
      this.emit(full.slice(this.turn.length));
    }
    this.turn = '';
  }

  private emit(delta: string): void {
    this.text += delta;
    this.onDelta?.(delta);
  }
}

function textOf(parts: Part[]): string {
  return parts
    .filter((part) => typeof part.text === 'string' && !part.thought)
    .map((part) => part.text)
    .join('');
}


function cancelled(): MuleError {
  return new MuleError('cancelled', 'the agent run was cancelled');
}
