/**
 * ADK's request shape (Gemini contents) to the OpenAI chat-completions shape, and OpenAI tool calls back to ADK
 * function-call parts. Differences handled here:
 * - roles `user`/`model`; function responses arrive as `user` contents, answered as `tool` messages;
 * - ADK strips its own call ids ("adk-…") before calling a model, so missing ids are synthesized and responses
 *   paired to calls by id when kept, else by tool name in order;
 * - consecutive user messages are merged (some OpenAI-compatible chat templates require alternating roles);
 * - OpenAI tool names allow only [a-zA-Z0-9_-]{1,64}; Mule names also allow ".", so names are mapped both ways;
 * - rejected calls (rejected-call.ts) are replayed as the model sent them.
 */
import type {
  ChatCompletionAssistantMessageParam,
  ChatCompletionCreateParamsBase,
  ChatCompletionMessageParam,
  ChatCompletionTool,
} from 'openai/resources/chat/completions';
import type { Content, FunctionCall, GenerateContentConfig, LlmRequest, Part } from './adk.js';
import type { AgentFinishReason } from './run-request.js';
import { originalCall, rejectCall } from './rejected-call.js';
import { declarationParameters } from './tool-schema.js';

export type ChatRequestBody = Omit<ChatCompletionCreateParamsBase, 'stream' | 'stream_options'>;

/** A tool call as OpenAI sends it, once streamed pieces are joined. */
export interface WireToolCall {
  id?: string | undefined;
  name: string;
  arguments: string;
}

export interface ToolNames {
  toWire(name: string): string;
  fromWire(name: string): string;
}

export function toChatRequest(llmRequest: LlmRequest, defaultModel: string): { body: ChatRequestBody; names: ToolNames } {
  const config: GenerateContentConfig = llmRequest.config ?? {};
  const declarations = (config.tools ?? []).flatMap((tool) => ('functionDeclarations' in tool ? (tool.functionDeclarations ?? []) : []));
  const names = toolNamesFor(declarations.map((declaration) => declaration.name ?? ''));
  const tools: ChatCompletionTool[] = declarations.map((declaration) => ({
    type: 'function',
    function: {
      name: names.toWire(declaration.name ?? ''),
      ...(declaration.description ? { description: declaration.description } : {}),
      parameters: declarationParameters(declaration),
    },
  }));
  const body: ChatRequestBody = {
    model: llmRequest.model ?? defaultModel,
    messages: toChatMessages(llmRequest.contents, instructionText(config.systemInstruction), names),
    ...(tools.length ? { tools } : {}),
    ...(config.temperature !== undefined ? { temperature: config.temperature } : {}),
    ...(config.topP !== undefined ? { top_p: config.topP } : {}),
    // max_tokens rather than max_completion_tokens: it is what OpenAI-compatible servers (Ollama, vLLM) read.
    ...(config.maxOutputTokens !== undefined ? { max_tokens: config.maxOutputTokens } : {}),
    ...(config.stopSequences?.length ? { stop: config.stopSequences } : {}),
  };
  return { body, names };
}

export function toChatMessages(contents: Content[], systemInstruction: string, names: ToolNames): ChatCompletionMessageParam[] {
  const messages: ChatCompletionMessageParam[] = [];
  if (systemInstruction) messages.push({ role: 'system', content: systemInstruction });
  const pending = new Map<string, string[]>(); // tool name -> ids of calls still waiting for their response
  const answered = new Set<string>();
  let synthesized = 0;

  for (const content of contents) {
    const parts = content.parts ?? [];
    const text = textOf(parts);
    if (content.role === 'model') {
      const calls = parts.flatMap((part) => (part.functionCall ? [part.functionCall] : []));
      const message: ChatCompletionAssistantMessageParam = { role: 'assistant', content: text || null };
      if (calls.length) {
        message.tool_calls = calls.map((call) => {
          const id = call.id || `call_${++synthesized}`;
          const name = call.name ?? '';
          pending.set(name, [...(pending.get(name) ?? []), id]);
          const sent = originalCall(call);
          return { id, type: 'function', function: { name: names.toWire(sent.name), arguments: sent.argumentsText } };
        });
      }
      if (message.content !== null || message.tool_calls) messages.push(message);
      continue;
    }
    for (const part of parts) {
      const response = part.functionResponse;
      if (!response) continue;
      const name = response.name ?? '';
      const waiting = pending.get(name) ?? [];
      const byId = response.id && waiting.includes(response.id) && !answered.has(response.id) ? response.id : undefined;
      const id = byId ?? waiting.find((candidate) => !answered.has(candidate));
      const result = toolResultText(response.response);
      if (id === undefined) {
        pushUserText(messages, `Result of tool "${name}": ${result}`);
        continue;
      }
      answered.add(id);
      pending.set(name, waiting.filter((candidate) => candidate !== id));
      messages.push({ role: 'tool', tool_call_id: id, content: result });
    }
    if (text) pushUserText(messages, text);
  }
  return messages;
}

/** Function-call parts for OpenAI tool calls; arguments that are not a JSON object become rejected calls. */
export function toFunctionCallParts(calls: WireToolCall[], names: ToolNames): Part[] {
  return calls.map((wire) => {
    const call: FunctionCall = { ...(wire.id ? { id: wire.id } : {}), name: names.fromWire(wire.name), args: {} };
    const raw = wire.arguments.trim();
    if (raw === '') return { functionCall: call }; // some servers send "" for a call without arguments
    let args: unknown;
    try {
      args = JSON.parse(raw);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      return { functionCall: rejectCall(call, `the arguments are not valid JSON (${reason}); send a JSON object`, wire.arguments) };
    }
    if (typeof args !== 'object' || args === null || Array.isArray(args)) {
      return { functionCall: rejectCall(call, 'the arguments must be a JSON object', wire.arguments) };
    }
    return { functionCall: { ...call, args: args as Record<string, unknown> } };
  });
}

export function finishReasonOf(reason: string | null | undefined): AgentFinishReason {
  if (reason === 'length') return 'length';
  if (reason === 'content_filter') return 'content_filter';
  return 'stop';
}

/** A tool result as the text of a `tool` message: a bare string result as is, anything else as JSON. */
export function toolResultText(response: Record<string, unknown> | undefined): string {
  const keys = response ? Object.keys(response) : [];
  if (keys.length === 1 && keys[0] === 'result' && typeof response?.['result'] === 'string') return response['result'];
  return JSON.stringify(response ?? {});
}

export function toolNamesFor(declared: string[]): ToolNames {
  const toWire = new Map<string, string>();
  const fromWire = new Map<string, string>();
  for (const name of declared) {
    let wire = name.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 64) || 'tool';
    for (let suffix = 2; fromWire.has(wire); suffix += 1) wire = `${wire.slice(0, 60)}_${suffix}`;
    toWire.set(name, wire);
    fromWire.set(wire, name);
  }
  return {
    toWire: (name) => toWire.get(name) ?? name,
    fromWire: (name) => fromWire.get(name) ?? name,
  };
}

/** ADK joins instructions into one string; the type also allows a Content or parts. */
function instructionText(instruction: GenerateContentConfig['systemInstruction']): string {
  if (instruction === undefined || instruction === null) return '';
  if (typeof instruction === 'string') return instruction;
  if (Array.isArray(instruction)) return instruction.map((part) => (typeof part === 'string' ? part : (part.text ?? ''))).join('\n\n');
  if ('parts' in instruction) return textOf(instruction.parts ?? []);
  return 'text' in instruction ? (instruction.text ?? '') : '';
}

function textOf(parts: Part[]): string {
  return parts
    .filter((part) => typeof part.text === 'string' && !part.thought)
    .map((part) => part.text)
    .join('');
}

function pushUserText(messages: ChatCompletionMessageParam[], text: string): void {
  const last = messages[messages.length - 1];
  if (last?.role === 'user' && typeof last.content === 'string') last.content = `${last.content}\n\n${text}`;
  else messages.push({ role: 'user', content: text });
}
