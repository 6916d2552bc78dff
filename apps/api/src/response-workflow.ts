/**
 * A response from `workflow/…` or `async/workflow/…`: the job is submitted as a chat completion's is (submit-job.ts)
 * and the response row is written after it (it names the job, and goes with it at retention).
 *
 * - `background: true` or an `async/workflow/…` model (without `stream`): answered at once, status `queued`.
 * - otherwise the api waits for the job (await-job.ts) holding a `sync_waiters` slot, or a `streams` slot for
 *   `stream: true`; a stream sends `response.created` / `response.in_progress` at once, `: keep-alive` comments
 *   while the job is queued or running, then the answer as one text delta when the job finishes.
 */
import { randomUUID } from 'node:crypto';
import type { Response } from 'express';
import { formatJobId, ZERO_USAGE } from '@mule/core';
import { insertStoredResponse } from '@mule/db';
import type { ApiContext } from './api-context.js';
import { errorResponse } from './http-errors.js';
import { ResponseEvents, messageIdOf, responseObject, type ResponseState } from './response-format.js';
import type { ResponseRequest } from './response-request.js';
import { ResponseSse } from './response-sse.js';
import { workflowResponseId, type Conversation } from './response-store.js';
import { submitJob } from './submit-job.js';
import { outcomeOf } from './workflow-call.js';

export interface WorkflowResponseCall {
  request: ResponseRequest;
  conversation: Conversation;
  workflow: string;
  /** `async/workflow/…`: answered at once like `background: true`. */
  async: boolean;
  idempotencyKey: string | null;
  apiKeyId: string | null;
}

export async function createWorkflowResponse(ctx: ApiContext, res: Response, call: WorkflowResponseCall): Promise<void> {
  const { request } = call;
  if ((request.background || call.async) && !request.stream) {
    const { state } = await submit(ctx, res, call, randomUUID());
    res.json(responseObject(state));
    return;
  }
  // Refused before the job is written: a 429 means nothing happened, so the caller may simply try again.
  const release = (request.stream ? ctx.capacity.streams : ctx.capacity.syncWaiters).take();
  try {
    await waitForResponse(ctx, res, call);
  } finally {
    release();
  }
}

/** Submits the job and stores the response; the response as it stands then (queued). */
async function submit(ctx: ApiContext, res: Response, call: WorkflowResponseCall, jobId: string): Promise<{ state: ResponseState; jobId: string }> {
  const { request } = call;
  const submitted = await submitJob(ctx, {
    id: jobId,
    workflow: call.workflow,
    model: request.model,
    messages: call.conversation.run,
    idempotencyKey: call.idempotencyKey,
    apiKeyId: call.apiKeyId,
  });
  const id = workflowResponseId(submitted.id);
  const background = request.background || call.async;
  if (request.store) {
    await insertStoredResponse(ctx.pool, {
      id,
      apiKeyId: call.apiKeyId,
      model: request.model,
      jobId: submitted.id,
      previousResponseId: request.previousResponseId,
      instructions: request.instructions,
      messages: call.conversation.messages,
      metadata: request.metadata,
      background,
      status: null,
      outputText: null,
      error: null,
      usage: null,
    });
  }
  res.setHeader('X-Mule-Job-Id', formatJobId(submitted.id));
  const state: ResponseState = {
    id,
    model: request.model,
    createdAt: submitted.createdAt,
    status: submitted.status === 'running' ? 'in_progress' : 'queued',
    text: null,
    error: null,
    usage: null,
    completedAt: null,
    instructions: request.instructions,
    previousResponseId: request.previousResponseId,
    metadata: { ...request.metadata, job_id: formatJobId(submitted.id) },
    background,
    store: request.store,
    temperature: request.temperature,
    topP: request.topP,
    maxOutputTokens: request.maxOutputTokens,
  };
  return { state, jobId: submitted.id };
}

async function waitForResponse(ctx: ApiContext, res: Response, call: WorkflowResponseCall): Promise<void> {
  const started = Date.now();
  const timeoutMs = ctx.config.MULE_SYNC_TIMEOUT_MS;
  const gone = new AbortController();
  res.on('close', () => gone.abort());
  const jobId = randomUUID();
  // Wait before the job exists: it cannot finish before we listen for it.
  const waitNew = ctx.waiters.wait(jobId, timeoutMs, gone.signal);
  let submitted: { state: ResponseState; jobId: string };
  try {
    submitted = await submit(ctx, res, call, jobId);
  } catch (error) {
    gone.abort();
    throw error;
  }
  const { state, jobId: submittedId } = submitted;
  let waiting = waitNew;
  if (submittedId !== jobId) {
    // A repeated Idempotency-Key: wait for the earlier job instead.
    gone.abort();
    const again = new AbortController();
    res.on('close', () => again.abort());
    waiting = ctx.waiters.wait(submittedId, Math.max(1, timeoutMs - (Date.now() - started)), again.signal);
    ctx.waiters.check([submittedId]);
  }
  const sse = call.request.stream ? new ResponseSse(res) : null;
  const events = new ResponseEvents(messageIdOf(state.id));
  // A stream starts at once: the client has the response id while the job is queued or running.
  sse?.send(events.created(responseObject(state)));

  const result = await waiting;
  if (result.kind === 'aborted') return sse?.dispose();
  const usage = result.kind === 'finished' ? (result.outcome.usage ?? ZERO_USAGE) : ZERO_USAGE;
  const finish = (text: string): ResponseState => ({ ...state, status: 'completed', text, usage, completedAt: new Date() });
  if (!sse) {
    res.json(responseObject(finish(outcomeOf(result, formatJobId(submittedId), timeoutMs))));
    return;
  }
  try {
    const text = outcomeOf(result, formatJobId(submittedId), timeoutMs);
    sse.send([...events.delta(text), ...events.completed(responseObject(finish(text)))]);
  } catch (error) {
    const { code, message } = errorResponse(error).body.error;
    sse.send(events.failed(responseObject({ ...state, status: code === 'cancelled' ? 'cancelled' : 'failed', error: { code, message } })));
  }
  sse.end();
}
