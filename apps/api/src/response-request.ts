/**
 * The Responses API request as Mule reads it (`POST /v1/responses`). Fields Mule does not use (client-side
 * `tools`, `include`, `reasoning`, `text`, `truncation`, …) are accepted and ignored, as chat completions do.
 * `input` becomes chat messages: a string is one user message; message items (`{role, content}`, with or without
 * `type: "message"`) keep their role, and their content is a string or text parts (`input_text`, and the
 * `output_text` of earlier assistant turns) joined by newlines, as chat content parts are.
 */
import { z } from 'zod';
import { MuleError, parseWith, type ChatMessage } from '@mule/core';
import { MAX_MESSAGES } from './chat-request.js';
import { jsonObjectBody } from './json-object-body.js';

/** OpenAI's own bounds on metadata: 16 pairs, keys up to 64 characters, values up to 512. */
const MAX_METADATA_PAIRS = 16;

const textPartSchema = z.looseObject({
  type: z.enum(['input_text', 'output_text', 'text'], {
    error: 'content parts must be text (input_text); Mule models read text only',
  }),
  text: z.string({ error: 'a text part needs text' }),
});

const messageItemSchema = z.looseObject({
  type: z.literal('message', { error: 'input items must be messages ({role, content}); Mule models take no tool items' }).optional(),
  role: z.enum(['user', 'assistant', 'system', 'developer'], { error: 'role must be user, assistant, system or developer' }),
  content: z.union([z.string(), z.array(textPartSchema).max(1000)], { error: 'content must be a string or a list of input_text parts' }),
});

const metadataSchema = z
  .record(z.string().max(64, 'metadata keys are at most 64 characters'), z.string().max(512, 'metadata values are strings of at most 512 characters'))
  .refine((value) => Object.keys(value).length <= MAX_METADATA_PAIRS, `metadata holds at most ${MAX_METADATA_PAIRS} pairs`);

const responseRequestSchema = z.looseObject({
  model: z.string({ error: 'model is required' }).min(1).max(256),
  input: z.union([z.string(), z.array(messageItemSchema).min(1, 'input must hold at least one item').max(MAX_MESSAGES)], {
    error: 'input must be a string or a list of message items',
  }),
  instructions: z.string().nullable().optional(),
  stream: z.boolean().nullable().optional(),
  background: z.boolean().nullable().optional(),
  store: z.boolean().nullable().optional(),
  previous_response_id: z.string().min(1).max(128).nullable().optional(),
  metadata: metadataSchema.nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  max_output_tokens: z.int().min(1).nullable().optional(),
  conversation: z.unknown().optional(),
});

export interface ResponseRequest {
  model: string;
  /** This request's input as chat messages (without instructions). */
  input: ChatMessage[];
  instructions: string | null;
  stream: boolean;
  background: boolean;
  store: boolean;
  previousResponseId: string | null;
  metadata: Record<string, string>;
  temperature: number | null;
  topP: number | null;
  maxOutputTokens: number | null;
}

type MessageItem = z.infer<typeof messageItemSchema>;

function textOf(content: MessageItem['content']): string {
  return typeof content === 'string' ? content : content.map((part) => part.text).join('\n');
}

export function parseResponseRequest(body: unknown): ResponseRequest {
  const raw = parseWith(responseRequestSchema, jsonObjectBody(body));
  if (raw.conversation !== undefined && raw.conversation !== null) {
    throw new MuleError('invalid_request', 'conversation is not supported; continue a response with previous_response_id', { param: 'conversation' });
  }
  const store = raw.store ?? true;
  const background = raw.background ?? false;
  if (background && !store) {
    throw new MuleError('invalid_request', 'background responses must be stored: background: true needs store: true', { param: 'store' });
  }
  const input: ChatMessage[] =
    typeof raw.input === 'string'
      ? [{ role: 'user', content: raw.input }]
      : raw.input.map((item) => ({ role: item.role, content: textOf(item.content) }));
  return {
    model: raw.model,
    input,
    instructions: raw.instructions ?? null,
    stream: raw.stream ?? false,
    background,
    store,
    previousResponseId: raw.previous_response_id ?? null,
    metadata: raw.metadata ?? {},
    temperature: raw.temperature ?? null,
    topP: raw.top_p ?? null,
    maxOutputTokens: raw.max_output_tokens ?? null,
  };
}
