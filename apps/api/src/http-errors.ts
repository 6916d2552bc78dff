/**
 * The one table from error codes to HTTP: status and OpenAI error `type`. Every route answers errors through
 * `sendError`, in the OpenAI shape `{"error": {message, type, param, code}}`.
 */
import type { Response } from 'express';
import { assertNever, MuleError, toMuleError, type ErrorCode } from '@mule/core';

export function httpStatusOf(code: ErrorCode): number {
  switch (code) {
    case 'invalid_request':
      return 400;
    case 'unauthorized':
      return 401;
    case 'forbidden':
      return 403;
    case 'model_not_found':
    case 'not_found':
      return 404;
    case 'conflict':
    case 'idempotency_conflict':
    case 'cancelled':
      return 409;
    case 'payload_too_large':
      return 413;
    case 'wasm_rejected':
    case 'wasm_trap':
    case 'wasm_exit':
    case 'wasm_bad_output':
    case 'wasm_output_too_large':
    case 'tool_call_limit':
    case 'expression_error':
    case 'rejected':
      return 422;
    case 'rate_limited':
    case 'overloaded':
      return 429;
    case 'internal_error':
      return 500;
    case 'provider_error':
    case 'tool_error':
      return 502;
    case 'unavailable':
      return 503;
    case 'wasm_timeout':
    case 'step_timeout':
    case 'job_timeout':
    case 'workflow_timeout':
    case 'wait_timeout':
      return 504;
    default:
      return assertNever(code);
  }
}

function errorTypeOf(status: number): string {
  switch (status) {
    case 400:
    case 413:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 409:
      return 'conflict_error';
    case 422:
      return 'execution_error';
    case 429:
      return 'rate_limit_error';
    case 502:
      return 'provider_error';
    case 503:
      return 'service_unavailable_error';
    case 504:
      return 'timeout_error';
    default:
      return 'server_error';
  }
}

export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: ErrorCode };
}

/** Status and body for an error; `statusOverride` serves codes whose status depends on the route (wasm_rejected). */
export function errorResponse(error: unknown, statusOverride?: number): { status: number; body: ErrorBody } {
  const mule = toMuleError(error);
  let status = statusOverride ?? httpStatusOf(mule.code);
  // A provider's 429 is passed on as 429 (the caller may retry after its Retry-After), everything else from a provider is a 502.
  if (mule.code === 'provider_error' && mule.details?.['status'] === 429) status = 429;
  const message = mule.code === 'internal_error' ? 'internal error' : mule.message;
  return {
    status,
    body: { error: { message, type: errorTypeOf(status), param: mule.param, code: mule.code } },
  };
}

export function sendError(res: Response, error: unknown, statusOverride?: number): void {
  const { status, body } = errorResponse(error, statusOverride);
  const mule = toMuleError(error);
  const retryAfter = mule.details?.['retryAfterSeconds'];
  if (typeof retryAfter === 'number') res.setHeader('Retry-After', String(Math.ceil(retryAfter)));
  res.status(status).json(body);
}

export const invalid = (message: string, param: string | null = null): MuleError =>
  new MuleError('invalid_request', message, { param });
