/**
 * Submitting a workflow job: the job row and its queue entry are written in ONE statement (insertJob), so a
 * job is either fully accepted (and will run) or not written at all.
 */
import { buildJobInput, MuleError, type ChatMessage, type JobStatus } from '@mule/core';
import { insertJob, type JobQueue, type NotifyBatcher, type Pool } from '@mule/db';
import { currentTraceContext } from '@mule/observability';
import type { SubmitTargets } from './submit-targets.js';

export interface SubmitRequest {
  /** Chosen by the caller so it can start waiting before the job can finish. */
  id: string;
  workflow: string;
  model: string;
  messages: ChatMessage[];
  idempotencyKey: string | null;
  /** The API key submitting it (null without keys): recorded on the job, and Idempotency-Keys are scoped by it. */
  apiKeyId: string | null;
  /** A stream waits on the job: its worker relays the output step's tokens (token-relay.ts). */
  stream?: boolean;
}

export interface Submitted {
  id: string;
  status: JobStatus;
  createdAt: Date;
  /** True when an earlier job with the same idempotency key was returned instead. */
  existing: boolean;
}

export interface SubmitDeps {
  pool: Pool;
  queue: JobQueue;
  targets: SubmitTargets;
  /** Wakes idle workers after the commit (never inside it: see packages/db/src/queue.ts). */
  announceJobs: NotifyBatcher;
}

export async function submitJob(deps: SubmitDeps, request: SubmitRequest): Promise<Submitted> {
  const target = await deps.targets.get(request.workflow);
  if (!target) {
    throw new MuleError('model_not_found', `The model \`${request.model}\` does not exist`, { param: 'model' });
  }
  const result = await insertJob(deps.queue, deps.pool, {
    id: request.id,
    workflow: request.workflow,
    version: target.version,
    model: request.model,
    input: buildJobInput(request.messages),
    plan: target.plan,
    idempotencyKey: request.idempotencyKey,
    apiKeyId: request.apiKeyId,
    stream: request.stream ?? false,
    // The request's trace (its server span): the worker's spans for this job continue it.
    traceContext: currentTraceContext(),
  });
  if (result.kind === 'created') {
    if (!result.announced) deps.announceJobs.send();
    return { id: request.id, status: 'queued', createdAt: new Date(), existing: false };
  }
  const { existing } = result;
  if (existing.model !== request.model) {
    throw new MuleError(
      'idempotency_conflict',
      `Idempotency-Key was already used with model \`${existing.model}\`; use a new key for \`${request.model}\``,
      { param: 'Idempotency-Key' },
    );
  }
  return { id: existing.id, status: existing.status, createdAt: existing.createdAt, existing: true };
}
