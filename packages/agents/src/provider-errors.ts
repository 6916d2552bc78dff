/**
 * Provider failures as Mule errors: `provider_error` with the provider's status and message in the message and
 * `details: { status, retryAfterSeconds? }`, which the api maps to 502 (or 429 with Retry-After passed on).
 * Handles both SDKs: `openai`'s APIError (status + headers) and @google/genai's ApiError (status + a JSON body
 * whose RetryInfo carries the delay; its response headers are not kept).
 *
 * Providers may quote the key they were sent ("Incorrect API key provided: sk-…"; a local proxy may echo it
 * whole), and these messages reach HTTP answers, job rows and logs, so the key is masked out of them here.
 */
import { MuleError } from '@mule/core';
import { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import type { ProviderConfig } from './run-request.js';

/** What an error needs to know of its provider: the name to report, the key to mask. */
export type ProviderIdentity = Pick<ProviderConfig, 'name' | 'apiKey'>;

/** A provider message can be a whole HTML error page; keep what a person needs to read. */
const MAX_MESSAGE_CHARS = 1_000;

export function providerError(provider: ProviderIdentity, status: number | undefined, message: string, retryAfterSeconds?: number): MuleError {
  const providerName = provider.name;
  const text = truncate(maskKey(message, provider.apiKey).trim() || 'no message');
  const details: Record<string, unknown> = { provider: providerName, status: status ?? null };
  if (retryAfterSeconds !== undefined) details['retryAfterSeconds'] = retryAfterSeconds;
  const statusText = status === undefined ? 'failed' : `answered ${status}`;
  return new MuleError('provider_error', `provider "${providerName}" ${statusText}: ${text}`, {
    details,
    // A 4xx other than 408/409/429 is our request or our key: asking again will not help.
    retryable: status === undefined || status >= 500 || status === 408 || status === 409 || status === 429,
  });
}

/** Classifies anything the `openai` client threw. */
export function fromOpenAiError(provider: ProviderIdentity, error: unknown): MuleError {
  if (error instanceof MuleError) return error;
  if (error instanceof APIConnectionTimeoutError) return providerError(provider, undefined, 'request timed out');
  if (error instanceof APIConnectionError) {
    return providerError(provider, undefined, `could not connect: ${causeMessage(error)}`);
  }
  if (error instanceof APIError) {
    const message = typeof error.error === 'object' && error.error && 'message' in error.error ? String(error.error.message) : error.message;
    const retryAfter = error.status === 429 ? parseRetryAfter(error.headers?.get('retry-after') ?? null) : undefined;
    return providerError(provider, error.status, message, retryAfter);
  }
  return providerError(provider, undefined, error instanceof Error ? error.message : String(error));
}

/** Classifies anything @google/genai threw (its ApiError's message is the JSON error body). */
export function fromGeminiError(provider: ProviderIdentity, error: unknown): MuleError {
  if (error instanceof MuleError) return error;
  const status = typeof (error as { status?: unknown })?.status === 'number' ? (error as { status: number }).status : undefined;
  const raw = error instanceof Error ? error.message : String(error);
  if (status === undefined) return providerError(provider, undefined, `could not connect: ${causeMessage(error) || raw}`);
  const body = parseJson(raw) as { error?: { message?: unknown; details?: unknown } } | undefined;
  const message = typeof body?.error?.message === 'string' ? body.error.message : raw;
  const retryAfter = status === 429 ? retryDelayOf(body?.error?.details) : undefined;
  return providerError(provider, status, message, retryAfter);
}

/** The text with every occurrence of the key replaced; keys this short are not worth masking (nor safe to). */
export function maskKey(text: string, apiKey: string | undefined): string {
  if (!apiKey || apiKey.length < 8) return text;
  return text.split(apiKey).join('[redacted key]');
}

/** Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.ceil(Number(trimmed));
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now) / 1000));
}

/** google.rpc.RetryInfo: `{"@type": ".../google.rpc.RetryInfo", "retryDelay": "37s"}`. */
function retryDelayOf(details: unknown): number | undefined {
  if (!Array.isArray(details)) return undefined;
  for (const detail of details) {
    const delay = (detail as { retryDelay?: unknown })?.retryDelay;
    if (typeof delay === 'string' && /^\d+(\.\d+)?s$/.test(delay)) return Math.ceil(Number(delay.slice(0, -1)));
  }
  return undefined;
}

/** The innermost messages of a cause chain ("fetch failed (connect ECONNREFUSED …)"). Duck-typed: errors from
 * undici or another realm are not `instanceof Error` here. */
function causeMessage(error: unknown): string {
  const messages: string[] = [];
  for (let current = (error as { cause?: unknown })?.cause, depth = 0; current && depth < 4; depth += 1) {
    const message = (current as { message?: unknown }).message;
    if (typeof message === 'string' && message) messages.push(message);
    current = (current as { cause?: unknown }).cause;
  }
  if (messages.length === 0) return error instanceof Error ? error.message : String(error);
  return messages.length === 1 ? messages[0]! : `${messages[0]} (${messages.slice(1).join(': ')})`;
}

function truncate(text: string): string {
  return text.length > MAX_MESSAGE_CHARS ? `${text.slice(0, MAX_MESSAGE_CHARS)}…` : text;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
