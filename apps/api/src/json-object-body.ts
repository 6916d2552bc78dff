/** The one check every JSON route makes first: the body is a JSON object (not an array, a scalar or nothing). */
import { MuleError } from '@mule/core';

export function jsonObjectBody(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new MuleError('invalid_request', 'the request body must be a JSON object (Content-Type: application/json)');
  }
  return body as Record<string, unknown>;
}
