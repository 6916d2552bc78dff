/**
 * `workflow/<name>`: submit the job, wait for it by LISTEN/NOTIFY (await-job.ts), answer a chat
 * completion, or with `stream: true` an SSE stream that sends keep-alive comments while the job is queued or
 * running and then the content. A waiting call holds a `sync_waiters` slot, a stream a `streams` slot (capacity.ts).
 */
import { randomUUID } from 'node:crypto';
import type { Response } from 'express';
import { completionContentOf, formatJobId, MuleError, muleErrorFromJSON, ZERO_USAGE } from '@mule/core';
import type { JobOutcome } from '@mule/db';
import type { WaitResult } from './await-job.js';
import type { ApiContext } from './api-context.js';
import type { ChatRequest } from './chat-request.js';
import { chunker, completion } from './completion-format.js';
import { SseStream } from './sse.js';
import { submitJob } from './submit-job.js';

/** The job's answer as content, or the error the caller gets (failed, cancelled, timed out). */
export function outcomeOf(result: Exclude<WaitResult, { kind: 'aborted' }>, publicId: string, timeoutMs: number): string {
  if (result.kind === 'shutdown') {
    throw new MuleError('unavailable', `the api is stopping; job ${publicId} goes on: read it at GET /v1/jobs/${publicId}`, {
      details: { retryAfterSeconds: 1 },
    });
  }
  if (result.kind === 'timeout') {
    throw new MuleError(
      'workflow_timeout',
      `job ${publicId} did not finish within ${timeoutMs} ms; it goes on: read it at GET /v1/jobs/${publicId}`,
    );
  }
  const outcome: JobOutcome = result.outcome;
  if (outcome.status === 'cancelled') throw new MuleError('cancelled', `job ${publicId} was cancelled`);
  if (outcome.status !== 'completed') {
    const error = muleErrorFromJSON(outcome.error);
    throw new MuleError(error.code, `${error.message} (job ${publicId})`, { details: error.details });
  }
  return completionContentOf(outcome.output);
}

export async function runWorkflowCall(
  ctx: ApiContext,
  res: Response,
  request: ChatRequest,
  workflow: string,
  idempotencyKey: string | null,
  apiKeyId: string | null,
): Promise<void> {
  // Refused before the job is written: a 429 means nothing happened, so the caller may simply try again.
  const release = (request.stream ? ctx.capacity.streams : ctx.capacity.syncWaiters).take();
  try {
    await callWorkflow(ctx, res, request, workflow, idempotencyKey, apiKeyId);
  } finally {
    release();
  }
}

async function callWorkflow(
  ctx: ApiContext,
  res: Response,
  request: ChatRequest,
  workflow: string,
  idempotencyKey: string | null,
  apiKeyId: string | null,
): Promise<void> {
  const started = Date.now();
  const timeoutMs = ctx.config.MULE_SYNC_TIMEOUT_MS;
  const gone = new AbortController();
  res.on('close', () => gone.abort());
  const id = randomUUID();
  // Wait before the job exists: it cannot finish before we listen for it.
  const waitNew = ctx.waiters.wait(id, timeoutMs, gone.signal);
  let submitted;
  try {
    submitted = await submitJob(ctx, { id, workflow, model: request.model, messages: request.messages, idempotencyKey, apiKeyId });
  } catch (error) {
    gone.abort();
    throw error;
  }
  const publicId = formatJobId(submitted.id);
  res.setHeader('X-Mule-Job-Id', publicId);
  const sse = request.stream ? new SseStream(res) : null;
  // A stream starts at once: the client sees the job id and keep-alives while the job is queued or running.
  sse?.comment('keep-alive');

  let waiting = waitNew;
  if (submitted.existing) {
    waiting = ctx.waiters.wait(submitted.id, Math.max(1, timeoutMs - (Date.now() - started)), gone.signal);
    ctx.waiters.check([submitted.id]);
  }
  const result = await waiting;
  if (result.kind === 'aborted') return;

  if (!sse) {
    const content = outcomeOf(result, publicId, timeoutMs);
    const usage = result.kind === 'finished' ? (result.outcome.usage ?? ZERO_USAGE) : ZERO_USAGE;
    res.json(completion(publicId, request.model, submitted.createdAt, content, usage));
    return;
  }
  const chunks = chunker(publicId, request.model, submitted.createdAt);
  try {
    const content = outcomeOf(result, publicId, timeoutMs);
    sse.data(chunks.role());
    sse.data(chunks.content(content));
    sse.data(chunks.finish('stop'));
    sse.data(chunks.usage(result.kind === 'finished' ? (result.outcome.usage ?? ZERO_USAGE) : ZERO_USAGE));
    sse.done();
  } catch (error) {
    sse.error(error);
  }
}
