/**
 * A response from `workflow/…` or `async/workflow/…`: the job is submitted as a chat completion's is (submit-job.ts)
 * and the response row is written after it (it names the job, and goes with it at retention).
 *
 * - `background: true` or an `async/workflow/…` model (without `stream`): answered at once, status `queued`.
 * - otherwise the api waits for the job (await-job.ts) holding a `sync_waiters` slot, or a `streams` slot for
 *   `stream: true`; a stream sends `response.created` / `response.in_progress` at once, `: keep-alive` comments
 *   while the job is queued or running, text deltas as the output step's worker relays its tokens
 *   (token-relay.ts), and when the job finishes the rest of the text as one more delta.
 */
import type { Response } from 'express';
import { formatJobId, timeOrderedId, ZERO_USAGE } from '@mule/core';
import { insertStoredResponse } from '@mule/db';
import type { ApiContext } from './api-context.js';
import { errorResponse } from './http-errors.js';
import { ResponseEvents, messageIdOf, responseObject, type ResponseState } from './response-format.js';
import type { ResponseRequest } from './response-request.js';
import { SseStream } from './sse.js';
import { workflowResponseId, type Conversation } from './response-store.js';
import { submitJob } from './submit-job.js';
import { outcomeOf } from './workflow-call.js';
import type { WaitResult } from './await-job.js';
import type { RelayedText } from './token-relay.js';

/** A response stream's relayed text deltas, held until the stream has sent `response.created`. */
class RelayedDeltas {
  private sse: SseStream | null = null;
  private events: ResponseEvents | null = null;
  private early = '';

  open(sse: SseStream, events: ResponseEvents): void {
    this.sse = sse;
    this.events = events;
    if (this.early !== '') sse.events(events.delta(this.early));
    this.early = '';
  }

  delta(text: string): void {
    if (this.sse && this.events) this.sse.events(this.events.delta(text));
    else this.early += text;
  }
}

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
    const { state } = await submit(ctx, res, call, timeOrderedId());
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
    stream: request.stream && !(request.background || call.async),
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
  const gone = new AbortController();
  res.on('close', () => gone.abort());
  const jobId = timeOrderedId();
  // Wait (and watch its tokens) before the job exists: it cannot start or finish before we listen for it.
  const waitNew = ctx.waiters.wait(jobId, ctx.config.MULE_SYNC_TIMEOUT_MS, gone.signal);
  const out = call.request.stream ? new RelayedDeltas() : null;
  let relay = out ? ctx.tokens.watch(jobId, (text) => out.delta(text)) : null;
  try {
    await waitAndAnswer(ctx, res, call, { started, gone, jobId, waitNew, out, relay: () => relay, rewatch: (id) => {
      relay?.stop();
      relay = out ? ctx.tokens.watch(id, (text) => out.delta(text)) : null;
    } });
  } finally {
    relay?.stop();
  }
}

interface Waiting {
  started: number;
  gone: AbortController;
  jobId: string;
  waitNew: ReturnType<ApiContext['waiters']['wait']>;
  out: RelayedDeltas | null;
  relay: () => { text: RelayedText } | null;
  /** Watches another job's tokens instead (a repeated Idempotency-Key). */
  rewatch: (jobId: string) => void;
}

async function waitAndAnswer(ctx: ApiContext, res: Response, call: WorkflowResponseCall, waiting: Waiting): Promise<void> {
  const { started, gone, jobId, waitNew, out } = waiting;
  const timeoutMs = ctx.config.MULE_SYNC_TIMEOUT_MS;
  let submitted: { state: ResponseState; jobId: string };
  try {
    submitted = await submit(ctx, res, call, jobId);
  } catch (error) {
    gone.abort();
    throw error;
  }
  const { state, jobId: submittedId } = submitted;
  let result = waitNew;
  if (submittedId !== jobId) {
    // A repeated Idempotency-Key: wait for the earlier job instead (its tokens relayed only if none went out yet).
    gone.abort();
    waiting.rewatch(submittedId);
    const again = new AbortController();
    res.on('close', () => again.abort());
    result = ctx.waiters.wait(submittedId, Math.max(1, timeoutMs - (Date.now() - started)), again.signal);
    ctx.waiters.check([submittedId]);
  }
  const sse = out ? new SseStream(res) : null;
  const events = new ResponseEvents(messageIdOf(state.id));
  // A stream starts at once: the client has the response id while the job is queued or running.
  sse?.events(events.created(responseObject(state)));
  if (sse) out?.open(sse, events);

  const outcome = await result;
  if (outcome.kind === 'aborted') return sse?.dispose();
  answer(res, state, submittedId, timeoutMs, outcome, sse, events, waiting.relay()?.text ?? null);
}

function answer(
  res: Response,
  state: ResponseState,
  submittedId: string,
  timeoutMs: number,
  result: Exclude<WaitResult, { kind: 'aborted' }>,
  sse: SseStream | null,
  events: ResponseEvents,
  relay: RelayedText | null,
): void {
  const usage = result.kind === 'finished' ? (result.outcome.usage ?? ZERO_USAGE) : ZERO_USAGE;
  const finish = (text: string): ResponseState => ({ ...state, status: 'completed', text, usage, completedAt: new Date() });
  if (!sse) {
    res.json(responseObject(finish(outcomeOf(result, formatJobId(submittedId), timeoutMs))));
    return;
  }
  try {
    const text = outcomeOf(result, formatJobId(submittedId), timeoutMs);
    const rest = relay ? relay.rest(text, formatJobId(submittedId)) : text;
    sse.events([...(rest !== '' || !relay?.started ? events.delta(rest) : []), ...events.completed(responseObject(finish(text)))]);
  } catch (error) {
    const { code, message } = errorResponse(error).body.error;
    sse.events(events.failed(responseObject({ ...state, status: code === 'cancelled' ? 'cancelled' : 'failed', error: { code, message } })));
  }
  sse.end();
}
