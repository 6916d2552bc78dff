/**
 * `workflow/<name>`: submit the job, wait for it by LISTEN/NOTIFY (await-job.ts), answer a chat
 * completion, or with `stream: true` an SSE stream that sends keep-alive comments while the job is queued or
 * running, each earlier step as it ends (a comment: `: step <id> completed|failed|skipped|waiting`), the output
 * step's tokens as its worker relays them (token-relay.ts), and when the job ends the rest of the content. A waiting call holds a `sync_waiters` slot, a stream a `streams` slot (capacity.ts).
 */
import type { Response } from 'express';
import { completionContentOf, formatJobId, MuleError, muleErrorFromJSON, timeOrderedId, ZERO_USAGE } from '@mule/core';
import type { JobOutcome } from '@mule/db';
import type { WaitResult } from './await-job.js';
import type { ApiContext } from './api-context.js';
import type { ChatRequest } from './chat-request.js';
import { chunker, completion } from './completion-format.js';
import { SseStream } from './sse.js';
import { submitJob } from './submit-job.js';
import type { RelayedText } from './token-relay.js';

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
  const id = timeOrderedId();
  // Wait (and watch its tokens) before the job exists: it cannot start or finish before we listen for it.
  const waitNew = ctx.waiters.wait(id, timeoutMs, gone.signal);
  const out = request.stream ? new RelayedChunks() : null;
  let relay = out ? ctx.tokens.watch(id, (text) => out.content(text), (step, status) => out.step(step, status)) : null;
  try {
    let submitted;
    try {
      submitted = await submitJob(ctx, { id, workflow, model: request.model, messages: request.messages, idempotencyKey, apiKeyId, stream: request.stream === true });
    } catch (error) {
      gone.abort();
      throw error;
    }
    const publicId = formatJobId(submitted.id);
    res.setHeader('X-Mule-Job-Id', publicId);
    // A stream starts at once: the client sees the job id and keep-alives while the job is queued or running.
    out?.open(new SseStream(res), chunker(publicId, request.model, submitted.createdAt));
    let waiting = waitNew;
    if (submitted.existing) {
      if (out && relay) {
        relay.stop();
        // Joining a job that may be streaming already: relayed only if its first payload is still to come.
        relay = ctx.tokens.watch(submitted.id, (text) => out.content(text), (step, status) => out.step(step, status));
      }
      waiting = ctx.waiters.wait(submitted.id, Math.max(1, timeoutMs - (Date.now() - started)), gone.signal);
      ctx.waiters.check([submitted.id]);
    }
    const result = await waiting;
    if (result.kind === 'aborted') return;
    if (out && relay) out.finish(result, publicId, timeoutMs, relay.text);
    else {
      const content = outcomeOf(result, publicId, timeoutMs);
      const usage = result.kind === 'finished' ? (result.outcome.usage ?? ZERO_USAGE) : ZERO_USAGE;
      res.json(completion(publicId, request.model, submitted.createdAt, content, usage));
    }
  } finally {
    relay?.stop();
  }
}

/** A chat stream's chunks: relayed text as it comes (held until the stream opens), then the end. */
class RelayedChunks {
  private sse: SseStream | null = null;
  private chunks: ReturnType<typeof chunker> | null = null;
  private early = '';
  private earlySteps: string[] = [];
  private roleSent = false;

  open(sse: SseStream, chunks: ReturnType<typeof chunker>): void {
    this.sse = sse;
    this.chunks = chunks;
    sse.comment('keep-alive');
    for (const comment of this.earlySteps) sse.comment(comment);
    this.earlySteps = [];
    if (this.early !== '') this.content(this.early);
    this.early = '';
  }

  /** A step ended or began waiting: a comment, which OpenAI clients skip and a person watching the raw stream reads. */
  step(stepId: string, status: string): void {
    const comment = `step ${stepId} ${status}`;
    if (this.sse) this.sse.comment(comment);
    else this.earlySteps.push(comment);
  }

  content(text: string): void {
    if (!this.sse || !this.chunks) {
      // Only a worker faster than the submit's reply gets here (it relays once the job row is committed).
      this.early += text;
      return;
    }
    if (!this.roleSent) this.sse.data(this.chunks.role());
    this.roleSent = true;
    this.sse.data(this.chunks.content(text));
  }

  finish(result: Exclude<WaitResult, { kind: 'aborted' }>, publicId: string, timeoutMs: number, relay: RelayedText): void {
    const sse = this.sse!;
    const chunks = this.chunks!;
    try {
      const rest = relay.rest(outcomeOf(result, publicId, timeoutMs), publicId);
      if (rest !== '' || !this.roleSent) this.content(rest);
      sse.data(chunks.finish('stop'));
      sse.data(chunks.usage(result.kind === 'finished' ? (result.outcome.usage ?? ZERO_USAGE) : ZERO_USAGE));
      sse.done();
    } catch (error) {
      sse.error(error);
    }
  }
}
