/**
 * The one error type of Mule. Domain code throws MuleError with a stable `code`; the api maps codes to HTTP
 * (apps/api/src/http-errors.ts) and the worker maps them to step/job outcomes. Unknown throwables are
 * converted once, at the boundary, with `toMuleError`.
 */
import { storableText } from './storable-json.js';

export const ERROR_CODES = [
  'invalid_request',
  'model_not_found',
  'not_found',
  'conflict',
  'idempotency_conflict',
  'payload_too_large',
  'unauthorized',
  'forbidden',
  'rate_limited',
  'overloaded',
  'wasm_rejected',
  'wasm_trap',
  'wasm_exit',
  'wasm_bad_output',
  'wasm_output_too_large',
  'wasm_timeout',
  'tool_call_limit',
  'step_timeout',
  'job_timeout',
  'workflow_timeout',
  'provider_error',
  'tool_error',
  'expression_error',
  'rejected',
  'wait_timeout',
  'cancelled',
  'unavailable',
  'internal_error',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface MuleErrorOptions {
  /** The request field the error is about (OpenAI's `param`). */
  param?: string | null;
  /** Whether running the same thing again could succeed. Defaults per code (see `defaultRetryable`). */
  retryable?: boolean;
  /** Extra machine-readable facts, e.g. a provider's HTTP status or a Retry-After. */
  details?: Record<string, unknown>;
  cause?: unknown;
}

export interface StoredError {
  code: ErrorCode;
  message: string;
  details?: { status?: number; retryAfterSeconds?: number };
}

export class MuleError extends Error {
  readonly code: ErrorCode;
  readonly param: string | null;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: MuleErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MuleError';
    this.code = code;
    this.param = options.param ?? null;
    this.retryable = options.retryable ?? defaultRetryable(code);
    this.details = options.details;
  }

  /**
   * The form stored on jobs and steps: `{code, message}`, plus a provider's HTTP status and Retry-After (the api
   * answers a provider's 429 as 429 with Retry-After, also for a workflow). Views show `{code, message}` only.
   */
  toJSON(): StoredError {
    const status = this.details?.['status'];
    const retryAfterSeconds = this.details?.['retryAfterSeconds'];
    // Messages can quote a module's stderr: what jsonb cannot hold (NUL, unpaired surrogates) is made storable.
    const message = storableText(this.message);
    if (this.code !== 'provider_error' || (typeof status !== 'number' && typeof retryAfterSeconds !== 'number')) {
      return { code: this.code, message };
    }
    return {
      code: this.code,
      message,
      details: {
        ...(typeof status === 'number' ? { status } : {}),
        ...(typeof retryAfterSeconds === 'number' ? { retryAfterSeconds } : {}),
      },
    };
  }
}

/** Errors that cannot succeed on a retry: bad input, policy refusals, bad output shapes, cancellation. */
export function defaultRetryable(code: ErrorCode): boolean {
  switch (code) {
    case 'invalid_request':
    case 'model_not_found':
    case 'not_found':
    case 'conflict':
    case 'idempotency_conflict':
    case 'payload_too_large':
    case 'unauthorized':
    case 'forbidden':
    case 'wasm_rejected':
    case 'wasm_bad_output':
    case 'wasm_output_too_large':
    case 'job_timeout':
    case 'workflow_timeout':
    case 'expression_error':
    case 'rejected':
    case 'wait_timeout':
    case 'cancelled':
      return false;
    case 'rate_limited':
    case 'overloaded':
    case 'wasm_trap':
    case 'wasm_exit':
    case 'wasm_timeout':
    case 'tool_call_limit':
    case 'step_timeout':
    case 'provider_error':
    case 'tool_error':
    case 'unavailable':
    case 'internal_error':
      return true;
    default:
      return assertNever(code);
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

export function isMuleError(value: unknown): value is MuleError {
  return value instanceof MuleError;
}

/** Converts anything thrown into a MuleError; unknown errors become `internal_error`. */
export function toMuleError(value: unknown): MuleError {
  if (value instanceof MuleError) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new MuleError('internal_error', message || 'internal error', { cause: value });
}

/** Rebuilds a MuleError from its stored `{code, message}` form. */
export function muleErrorFromJSON(value: unknown): MuleError {
  if (value && typeof value === 'object') {
    const { code, message, details } = value as { code?: unknown; message?: unknown; details?: unknown };
    if (isErrorCode(code)) {
      const options = details && typeof details === 'object' ? { details: details as Record<string, unknown> } : {};
      return new MuleError(code, typeof message === 'string' ? message : code, options);
    }
  }
  return new MuleError('internal_error', 'unreadable stored error');
}

export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${String(value)}`);
}
