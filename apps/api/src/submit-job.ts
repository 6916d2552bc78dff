/**
 * Submitting a workflow job: the job row and its queue entry are written in ONE statement (JobQueue.send), so a
 * job is either fully accepted (and will run) or not written at all.
 */
import { buildJobInput, MuleError, type ChatMessage, type JobStatus } from '@mule/core';
import {
  findJobByIdempotencyKey,
  IDEMPOTENCY_CONSTRAINT,
  jobInsertStatement,
  pgErrorCode,
  type JobQueue,
  type NotifyBatcher,
  type Pool,
} from '@mule/db';
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
  /** Wakes idle workers after the commit (never inside it: see prisma/src/queue.ts). */
  announceJobs: NotifyBatcher;
}

export async function submitJob(deps: SubmitDeps, request: SubmitRequest): Promise<Submitted> {
  const target = await deps.targets.get(request.workflow);
  if (!target) {
    throw new MuleError('model_not_found', `The model \`${request.model}\` does not exist`, { param: 'model' });
  }
  const row = jobInsertStatement({
    id: request.id,
    workflow: request.workflow,
    version: target.version,
    model: request.model,
    input: buildJobInput(request.messages),
    plan: target.plan,
    idempotencyKey: request.idempotencyKey,
    apiKeyId: request.apiKeyId,
  });
  try {
    await deps.queue.send(deps.pool, request.id, row);
  } catch (error) {
    const repeated = pgErrorCode(error) === '23505' && (error as { constraint?: string }).constraint === IDEMPOTENCY_CONSTRAINT;
    if (!repeated || request.idempotencyKey === null) throw error;
    return existingJob(deps.pool, request.idempotencyKey, request.apiKeyId, request.model);
  }
  deps.announceJobs.send();
  return { id: request.id, status: 'queued', createdAt: new Date(), existing: false };
}

async function existingJob(pool: Pool, key: string, apiKeyId: string | null, model: string): Promise<Submitted> {
  const existing = await findJobByIdempotencyKey(pool, key, apiKeyId);
  if (!existing) throw new MuleError('conflict', 'the job of this Idempotency-Key was deleted meanwhile; send the request again');
  if (existing.model !== model) {
    throw new MuleError(
      'idempotency_conflict',
      `Idempotency-Key was already used with model \`${existing.model}\`; use a new key for \`${model}\``,
      { param: 'Idempotency-Key' },
    );
  }
  return { id: existing.id, status: existing.status, createdAt: existing.created_at, existing: true };
}
