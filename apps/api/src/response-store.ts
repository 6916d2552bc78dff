/**
 * Response ids, stored responses and the conversation a response continues.
 *
 * Ids: a workflow response is `resp_` + its job's uuid as 32 hex digits (so `resp_X` is job `job-X`); an agent
 * response, which has no job, is `resp_` + 48 random hex digits. Both are looked up in `responses`; what a
 * workflow response shows (status, output, error, usage) is read from its job in the same statement.
 *
 * A conversation (`previous_response_id`: the stored turns, that response's answer, then the new input) is bounded
 * by MAX_MESSAGES items and MULE_MAX_BODY_BYTES of text, the bounds one chat request has: a chain of requests
 * cannot build what one request may not send.
 */
import { randomBytes } from 'node:crypto';
import { Buffer } from 'node:buffer';
import { completionContentOf, formatJobId, MuleError, type ChatMessage } from '@mule/core';
import { readStoredResponse, type StoredResponseRow } from '@mule/db';
import { canSeeJob, type Caller } from './access.js';
import type { ApiContext } from './api-context.js';
import { MAX_MESSAGES } from './chat-request.js';
import type { ResponseRequest } from './response-request.js';
import type { ResponseState, ResponseStatus } from './response-format.js';

const RESPONSE_ID = /^resp_([0-9a-f]{32}|[0-9a-f]{48})$/;

export function workflowResponseId(jobUuid: string): string {
  return `resp_${jobUuid.replaceAll('-', '')}`;
}

export function agentResponseId(): string {
  return `resp_${randomBytes(24).toString('hex')}`;
}

/** A stored response the caller may see, or 404 (another key's response is answered exactly like a missing one). */
export async function findResponse(ctx: ApiContext, caller: Caller, id: string, param = 'id'): Promise<StoredResponseRow> {
  const row = RESPONSE_ID.test(id) ? await readStoredResponse(ctx.pool, id) : null;
  if (!row || !canSeeJob(caller, row.apiKeyId)) throw new MuleError('not_found', `no response ${id}`, { param });
  return row;
}

const JOB_TO_RESPONSE: Record<string, ResponseStatus> = {
  queued: 'queued',
  running: 'in_progress',
  completed: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
};

function errorView(error: unknown): { code: string; message: string } | null {
  if (!error || typeof error !== 'object') return null;
  const { code, message } = error as { code: string; message: string };
  return { code, message };
}

/** What a stored response shows now. */
export function stateOfRow(row: StoredResponseRow): ResponseState {
  const common = {
    id: row.id,
    model: row.model,
    createdAt: row.createdAt,
    instructions: row.instructions,
    previousResponseId: row.previousResponseId,
    background: row.background,
    store: true,
    temperature: null,
    topP: null,
    maxOutputTokens: null,
  };
  if (row.jobId === null) {
    return {
      ...common,
      status: row.status ?? 'failed',
      text: row.status === 'completed' ? (row.outputText ?? '') : null,
      error: errorView(row.error),
      usage: row.usage,
      completedAt: row.completedAt,
      metadata: row.metadata,
    };
  }
  const job = row.job;
  const status = job ? (JOB_TO_RESPONSE[job.status] ?? 'failed') : 'failed';
  return {
    ...common,
    status,
    text: job && status === 'completed' ? completionContentOf(job.output) : null,
    error: job ? errorView(job.error) : { code: 'internal_error', message: 'the job of this response is gone' },
    usage: job?.usage ?? null,
    completedAt: job?.completedAt ?? null,
    metadata: { ...row.metadata, job_id: formatJobId(row.jobId) },
  };
}

export interface Conversation {
  /** Stored turns and this input, without instructions (what a stored response keeps). */
  messages: ChatMessage[];
  /** What runs: the instructions as a system message, then `messages`. */
  run: ChatMessage[];
}

const textBytes = (messages: ChatMessage[]) =>
  messages.reduce((sum, message) => sum + (typeof message.content === 'string' ? Buffer.byteLength(message.content) : 0), 0);

/** The conversation a request runs: the previous response's turns and answer (if any), then its input. */
export async function conversationOf(ctx: ApiContext, caller: Caller, request: ResponseRequest): Promise<Conversation> {
  let messages = request.input;
  if (request.previousResponseId !== null) {
    const previous = await findResponse(ctx, caller, request.previousResponseId, 'previous_response_id');
    const state = stateOfRow(previous);
    if (state.status !== 'completed' || state.text === null) {
      throw new MuleError('invalid_request', `previous response ${previous.id} is ${state.status}; only a completed response can be continued`, {
        param: 'previous_response_id',
      });
    }
    messages = [...(previous.messages as ChatMessage[]), { role: 'assistant', content: state.text }, ...request.input];
  }
  const run: ChatMessage[] = request.instructions === null ? messages : [{ role: 'system', content: request.instructions }, ...messages];
  const param = request.previousResponseId === null ? 'input' : 'previous_response_id';
  if (run.length > MAX_MESSAGES) {
    throw new MuleError('invalid_request', `the conversation would hold ${run.length} items; at most ${MAX_MESSAGES} are allowed`, { param });
  }
  const bytes = textBytes(run);
  const limit = ctx.config.MULE_MAX_BODY_BYTES;
  if (bytes > limit) {
    throw new MuleError('invalid_request', `the conversation would hold ${bytes} bytes of text; at most MULE_MAX_BODY_BYTES (${limit}) are allowed`, {
      param,
    });
  }
  return { messages, run };
}
