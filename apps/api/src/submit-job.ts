/**
 * Submitting a workflow job: the job row and its queue entry are written in ONE transaction, so a job is
 * either fully accepted (and will run) or not written at all.
 */
import { buildJobInput, buildPlan, MuleError, workflowSchema, type ChatMessage, type JobStatus } from '@mule/core';
import { findJobByIdempotencyKey, findSubmitTarget, insertJob, withTransaction, type JobQueue, type Pool } from '@mule/db';

export interface SubmitRequest {
  /** Chosen by the caller so it can start waiting before the job can finish. */
  id: string;
  workflow: string;
  model: string;
  messages: ChatMessage[];
  idempotencyKey: string | null;
}

export interface Submitted {
  id: string;
  status: JobStatus;
  createdAt: Date;
  /** True when an earlier job with the same idempotency key was returned instead. */
  existing: boolean;
}

export async function submitJob(pool: Pool, queue: JobQueue, request: SubmitRequest): Promise<Submitted> {
  const target = await findSubmitTarget(pool, request.workflow);
  if (!target) {
    throw new MuleError('model_not_found', `The model \`${request.model}\` does not exist`, { param: 'model' });
  }
  const workflow = workflowSchema.parse(target.spec);
  const plan = buildPlan(workflow, new Map(Object.entries(target.modules)));
  const input = buildJobInput(request.messages);

  return withTransaction(pool, async (client) => {
    const inserted = await insertJob(client, {
      id: request.id,
      workflow: request.workflow,
      version: target.version,
      model: request.model,
      input,
      plan,
      idempotencyKey: request.idempotencyKey,
    });
    if (!inserted) {
      const existing = await findJobByIdempotencyKey(client, request.idempotencyKey!);
      if (!existing) throw new MuleError('conflict', 'the idempotency key was released meanwhile; send the request again');
      if (existing.model !== request.model) {
        throw new MuleError(
          'idempotency_conflict',
          `Idempotency-Key was already used with model \`${existing.model}\`; use a new key for \`${request.model}\``,
          { param: 'Idempotency-Key' },
        );
      }
      return { id: existing.id, status: existing.status, createdAt: existing.created_at, existing: true };
    }
    await queue.send(client, request.id);
    return { id: request.id, status: 'queued' as const, createdAt: new Date(), existing: false };
  });
}
