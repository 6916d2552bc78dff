/**
 * ADK model adapter for any OpenAI-compatible chat-completions endpoint, over the `openai` package. One instance
 * per run (it reports to that run's meter); the HTTP client is shared per (baseUrl, apiKey). Provider failures
 * are recorded on the meter as typed errors and surface to ADK as an error response, which ends the run.
 */
import OpenAI from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { BaseLlm, type BaseLlmConnection, type LlmRequest, type LlmResponse } from './adk.js';
import { finishReasonOf, toChatRequest, toFunctionCallParts, type ToolNames, type WireToolCall } from './message-mapping.js';
import { startLlmSpan } from './llm-span.js';
import { fromOpenAiError } from './provider-errors.js';
import type { RunMeter } from './run-meter.js';
import type { ProviderConfig } from './run-request.js';

const DEFAULT_BASE_URL = 'https://api.openai.com/v1';
/** Distinct (baseUrl, apiKey) pairs only grow when keys rotate; the bound just keeps that from adding up. */
const MAX_CLIENTS = 100;
const clients = new Map<string, OpenAI>();

/** One client per endpoint and key: it owns the connection pool, so runs reuse warm connections. */
export function openAiClient(provider: ProviderConfig): OpenAI {
  const baseURL = provider.baseUrl ?? DEFAULT_BASE_URL;
  const key = JSON.stringify([baseURL, provider.apiKey ?? null]);
  let client = clients.get(key);
  if (!client) {
    client = new OpenAI({
      baseURL,
      // Local servers (Ollama) need no key; an explicit value keeps the SDK from reading OPENAI_API_KEY.
      apiKey: provider.apiKey ?? '',
      // Explicit nulls keep the SDK from reading OPENAI_ORG_ID / OPENAI_PROJECT_ID from the environment.
      organization: null,
      project: null,
      ...(provider.apiKey === undefined ? { defaultHeaders: { Authorization: null } } : {}),
      // No hidden retries: a 429 must reach the caller with its Retry-After, and the worker retries steps with
      // its own backoff. The SDK default (2 retries, up to 60 s of waiting) would stack under both.
      maxRetries: 0,
    });
    if (clients.size >= MAX_CLIENTS) clients.delete(clients.keys().next().value!);
    clients.set(key, client);
  }
  return client;
}

export class OpenAiLlm extends BaseLlm {
  private readonly client: OpenAI;

  constructor(
    private readonly provider: ProviderConfig,
    model: string,
    private readonly meter: RunMeter,
  ) {
    super({ model });
    this.client = openAiClient(provider);
  }

  override async *generateContentAsync(llmRequest: LlmRequest, stream = false, abortSignal?: AbortSignal): AsyncGenerator<LlmResponse, void> {
    const { body, names } = toChatRequest(llmRequest, this.model);
    const client = this.client;
    this.meter.startCall();
    const span = startLlmSpan(this.provider, 'openai', this.model, this.provider.baseUrl ?? DEFAULT_BASE_URL, () => body.messages);
    const ended = (usage: Usage | null | undefined, finish: string | null | undefined, text: string) =>
      span.answered(usage ? { input: usage.prompt_tokens, output: usage.completion_tokens } : null, finish, text);
    try {
      if (!stream) {
        const completion = await client.chat.completions.create({ ...body, stream: false }, { signal: abortSignal });
        const choice = completion.choices[0];
        if (completion.usage) this.meter.addUsage(completion.usage.prompt_tokens, completion.usage.completion_tokens, completion.usage.total_tokens);
        this.meter.finishReason = finishReasonOf(choice?.finish_reason);
        const calls: WireToolCall[] = (choice?.message.tool_calls ?? []).flatMap((call) =>
          call.type === 'function' ? [{ id: call.id, name: call.function.name, arguments: call.function.arguments }] : [],
        );
        ended(completion.usage, choice?.finish_reason, choice?.message.content ?? '');
        yield finalResponse(choice?.message.content ?? '', calls, names, completion.usage);
        return;
      }
      const chunks = await client.chat.completions.create(
        { ...body, stream: true, stream_options: { include_usage: true } },
        { signal: abortSignal },
      );
      const joined = new StreamJoiner();
      for await (const chunk of chunks) {
        const delta = joined.add(chunk);
        if (delta) yield { content: { role: 'model', parts: [{ text: delta }] }, partial: true };
      }
      if (joined.usage) this.meter.addUsage(joined.usage.prompt_tokens, joined.usage.completion_tokens, joined.usage.total_tokens);
      this.meter.finishReason = finishReasonOf(joined.finishReason);
      ended(joined.usage, joined.finishReason, joined.text);
      yield finalResponse(joined.text, joined.toolCalls(), names, joined.usage);
    } catch (error) {
      // An aborted run ends quietly here; the run itself reports `cancelled`.
      if (abortSignal?.aborted) return;
      const failure = fromOpenAiError(this.provider, error);
      span.failed(failure.code, failure.message);
      this.meter.fail(failure);
      yield { errorCode: String(failure.details?.['status'] ?? 'PROVIDER_ERROR'), errorMessage: failure.message };
    } finally {
      span.end();
    }
  }

  override async connect(_llmRequest: LlmRequest): Promise<BaseLlmConnection> {
    throw new Error('live (bidirectional) connections are not supported for OpenAI-compatible providers');
  }
}

type Usage = NonNullable<ChatCompletionChunk['usage']>;

function finalResponse(text: string, calls: WireToolCall[], names: ToolNames, usage: Usage | null | undefined): LlmResponse {
  const parts = [...(text ? [{ text }] : []), ...toFunctionCallParts(calls, names)];
  return {
    ...(parts.length ? { content: { role: 'model', parts } } : {}),
    ...(usage
      ? { usageMetadata: { promptTokenCount: usage.prompt_tokens, candidatesTokenCount: usage.completion_tokens, totalTokenCount: usage.total_tokens } }
      : {}),
    partial: false,
  };
}

/** Joins streamed chunks: text deltas, tool-call pieces keyed by index, the finish reason and the usage chunk. */
class StreamJoiner {
  text = '';
  finishReason: string | null = null;
  usage: Usage | undefined;
  private readonly calls = new Map<number, WireToolCall>();

  /** Returns the chunk's text delta, if any. */
  add(chunk: ChatCompletionChunk): string {
    if (chunk.usage) this.usage = chunk.usage;
    const choice = chunk.choices[0];
    if (!choice) return '';
    if (choice.finish_reason) this.finishReason = choice.finish_reason;
    for (const piece of choice.delta.tool_calls ?? []) {
      const call = this.calls.get(piece.index) ?? { name: '', arguments: '' };
      if (piece.id) call.id = piece.id;
      if (piece.function?.name) call.name += piece.function.name;
      if (piece.function?.arguments) call.arguments += piece.function.arguments;
      this.calls.set(piece.index, call);
    }
    const delta = choice.delta.content ?? '';
    this.text += delta;
    return delta;
  }

  toolCalls(): WireToolCall[] {
    return [...this.calls.entries()].sort(([a], [b]) => a - b).map(([, call]) => call);
  }
}
