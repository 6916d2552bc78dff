/**
 * ADK's own Gemini model, per run, with three additions: a `baseUrl` (a proxy, or the test suite's fake server)
 * through the protected `getHttpOptions()`; one @google/genai client shared per (baseUrl, apiKey) instead of one
 * per instance; and the run meter (calls, usage, finish reason, typed provider errors) fed from the responses.
 */
import { MuleError } from '@mule/core';
import { Gemini, type LlmRequest, type LlmResponse, type UsageMetadata } from './adk.js';
import { startLlmSpan } from './llm-span.js';
import { fromGeminiError, providerError } from './provider-errors.js';
import type { RunMeter } from './run-meter.js';
import type { AgentFinishReason, ProviderConfig } from './run-request.js';

/** Shared @google/genai clients; bounded like the OpenAI ones (openai-llm.ts). */
const MAX_CLIENTS = 100;
const clients = new Map<string, Gemini['apiClient']>();

// Gemini reports blocked or cut-short answers as finish reasons (and ADK copies them into `errorCode`).
const CONTENT_FILTER_REASONS = new Set(['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'IMAGE_SAFETY', 'IMAGE_PROHIBITED_CONTENT', 'IMAGE_RECITATION']);

/**
 * @google/genai hands Node's fetch an undici dispatcher it reads from `globalThis` (to lift undici's 300 s
 * timeouts), and fails every request when that global is missing, as in a vm context such as jest's. There,
 * plain fetch is used instead (undici's timeouts apply); in a normal process the SDK's own path is kept.
 */
const UNDICI_DISPATCHER = Symbol.for('undici.globalDispatcher.1');
function globalDispatcherReachable(): boolean {
  if (!(UNDICI_DISPATCHER in globalThis)) new Headers(); // undici sets its dispatcher up lazily
  return UNDICI_DISPATCHER in globalThis;
}

export class GeminiLlm extends Gemini {
  constructor(
    private readonly provider: ProviderConfig,
    model: string,
    private readonly meter: RunMeter,
  ) {
    // Without a key ADK would fall back to GOOGLE_API_KEY / GEMINI_API_KEY from the environment; keys come
    // from the provider definition only.
    if (!provider.apiKey) {
      throw new MuleError('provider_error', `provider "${provider.name}" has no API key configured`, {
        retryable: false,
        details: { provider: provider.name, status: null },
      });
    }
    super({ model, apiKey: provider.apiKey });
  }

  protected override getHttpOptions() {
    const options = super.getHttpOptions();
    return {
      ...options,
      ...(this.provider.baseUrl ? { baseUrl: this.provider.baseUrl } : {}),
      ...(globalDispatcherReachable() ? {} : { fetch }),
    };
  }

  override get apiClient(): Gemini['apiClient'] {
    const key = JSON.stringify([this.provider.baseUrl ?? null, this.provider.apiKey]);
    let client = clients.get(key);
    if (!client) {
      // ADK's own getter builds the client from getHttpOptions() (and caches it on this instance only).
      client = Reflect.get(Gemini.prototype, 'apiClient', this) as Gemini['apiClient'];
      if (clients.size >= MAX_CLIENTS) clients.delete(clients.keys().next().value!);
      clients.set(key, client);
    }
    return client;
  }

  override async *generateContentAsync(llmRequest: LlmRequest, stream = false, abortSignal?: AbortSignal): AsyncGenerator<LlmResponse, void> {
    this.meter.startCall();
    const span = startLlmSpan(this.provider, 'gcp.gemini', this.model, this.provider.baseUrl ?? 'https://generativelanguage.googleapis.com', () => llmRequest.contents);
    let usage: UsageMetadata | undefined;
    let finishReason: string | undefined;
    let text = '';
    try {
      for await (const response of super.generateContentAsync(llmRequest, stream, abortSignal)) {
        // Streamed chunks repeat the running totals: the last one seen is the call's usage.
        if (response.usageMetadata) usage = response.usageMetadata;
        if (response.finishReason) finishReason = String(response.finishReason);
        if (!response.partial) text = (response.content?.parts ?? []).map((part) => part.text ?? '').join('');
        const failure = this.readOutcome(response);
        if (failure) {
          span.failed('provider_error', failure.errorMessage ?? 'provider error');
          yield failure;
          return;
        }
        yield response;
      }
    } catch (error) {
      if (abortSignal?.aborted) return;
      const failure = fromGeminiError(this.provider, error);
      span.failed(failure.code, failure.message);
      this.meter.fail(failure);
      yield { errorCode: String(failure.details?.['status'] ?? 'PROVIDER_ERROR'), errorMessage: failure.message };
    } finally {
      span.answered(usage ? { input: usage.promptTokenCount ?? 0, output: usage.candidatesTokenCount ?? 0 } : null, finishReason, text);
      span.end();
      if (usage) {
        this.meter.addUsage(
          (usage.promptTokenCount ?? 0) + (usage.toolUsePromptTokenCount ?? 0),
          (usage.candidatesTokenCount ?? 0) + (usage.thoughtsTokenCount ?? 0),
          usage.totalTokenCount,
        );
      }
    }
  }

  /**
   * Records the finish reason and clears `errorCode`s that only restate it (MAX_TOKENS, SAFETY, a blocked
   * prompt), so ADK and the run see an answer, not an error. Returns an error response for real failures.
   */
  private readOutcome(response: LlmResponse): LlmResponse | undefined {
    const reason = response.finishReason as string | undefined;
    if (reason) this.meter.finishReason = finishReasonOf(reason);
    const code = response.errorCode;
    if (!code) return undefined;
    const restatesFinish = code === reason && (reason === 'STOP' || reason === 'MAX_TOKENS' || CONTENT_FILTER_REASONS.has(reason));
    const blockedPrompt = reason === undefined && code !== 'UNKNOWN_ERROR' && !response.content;
    if (restatesFinish || blockedPrompt) {
      if (blockedPrompt) this.meter.finishReason = 'content_filter';
      delete response.errorCode;
      delete response.errorMessage;
      return undefined;
    }
    const message = `${code}${response.errorMessage ? `: ${response.errorMessage}` : ''}`;
    const failure = providerError(this.provider, undefined, `the model stopped without an answer (${message})`);
    this.meter.fail(failure);
    return { errorCode: code, errorMessage: failure.message };
  }
}

function finishReasonOf(reason: string): AgentFinishReason {
  if (reason === 'MAX_TOKENS') return 'length';
  return CONTENT_FILTER_REASONS.has(reason) ? 'content_filter' : 'stop';
}
