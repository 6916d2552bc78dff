/** The chat-completions request as Mule reads it; OpenAI fields Mule does not use are accepted and ignored. */
import { z } from 'zod';
import { chatMessageSchema, isValidName, MuleError, parseWith } from '@mule/core';
import { jsonObjectBody } from './json-object-body.js';

/** Far above any real conversation; keeps one request from holding the api's memory. */
export const MAX_MESSAGES = 2048;

const chatRequestSchema = z.looseObject({
  model: z.string({ error: 'model is required' }).min(1).max(256),
  messages: z.array(chatMessageSchema).min(1, 'messages must hold at least one message').max(MAX_MESSAGES),
  stream: z.boolean().nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  max_tokens: z.int().min(1).nullable().optional(),
  max_completion_tokens: z.int().min(1).nullable().optional(),
  user: z.string().max(256).optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullable().optional(),
});
export type ChatRequest = z.infer<typeof chatRequestSchema>;

export function parseChatRequest(body: unknown): ChatRequest {
  return parseWith(chatRequestSchema, jsonObjectBody(body));
}

export type ModelTarget =
  | { kind: 'workflow'; name: string; async: boolean }
  | { kind: 'agent'; name: string };

/** `workflow/<name>`, `async/workflow/<name>` or `agent/<name>`; anything else is an unknown model. */
export function parseModel(model: string): ModelTarget {
  const match = /^(async\/workflow|workflow|agent)\/(.+)$/.exec(model);
  if (!match) {
    throw new MuleError(
      'model_not_found',
      `The model \`${model}\` does not exist; Mule serves workflow/<name>, async/workflow/<name> and agent/<name>`,
      { param: 'model' },
    );
  }
  const [, prefix, name] = match;
  if (!isValidName(name!)) {
    throw new MuleError('model_not_found', `The model \`${model}\` does not exist`, { param: 'model' });
  }
  if (prefix === 'agent') return { kind: 'agent', name: name! };
  return { kind: 'workflow', name: name!, async: prefix === 'async/workflow' };
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

export function parseIdempotencyKey(value: string | undefined): string | null {
  if (value === undefined) return null;
  if (!IDEMPOTENCY_KEY.test(value)) {
    throw new MuleError('invalid_request', 'Idempotency-Key must be 1 to 255 visible ASCII characters', {
      param: 'Idempotency-Key',
    });
  }
  return value;
}
