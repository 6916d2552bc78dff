/**
 * Submitting a job: what a submit needs to know about a workflow, and the job row written with its queue entry in
 * ONE statement (JobQueue.sendMany, shared by concurrent submits: submit-batcher.ts). The created path is that one
 * round trip and nothing else (the bench measures it); only a repeated Idempotency-Key costs a second read.
 */
import { MuleError, type JobPlan, type JobStatus } from '@mule/core';
import { pgErrorCode, type Queryable } from './pool.js';
import { statement } from './prepared.js';
import type { JobQueue } from './queue.js';
import type { NewJob } from './job-rows.js';
import { SubmitBatcher } from './submit-batcher.js';

export type { NewJob } from './job-rows.js';

export interface SubmitTarget {
  version: number;
  spec: unknown;
  /** module name -> sha256 of the bytes current now, for every module the version names. */
  modules: Record<string, string>;
}

/** The current version of a workflow and its modules' hashes, or null when no such workflow. */
export async function findSubmitTarget(db: Queryable, workflow: string): Promise<SubmitTarget | null> {
  const { rows } = await db.query<SubmitTarget>(statement(
    `SELECT w.version, v.spec,
            COALESCE((SELECT jsonb_object_agg(m.name, m.sha256) FROM wasm_modules m
                      WHERE m.name IN (SELECT s->>'wasm' FROM jsonb_array_elements(v.spec->'steps') s)), '{}') AS modules
       FROM workflows w
       JOIN workflow_versions v ON v.workflow_name = w.name AND v.version = w.version
      WHERE w.name = $1`,
    [workflow],
  ));
  return rows[0] ?? null;
}


/** A job as an earlier submit with the same Idempotency-Key left it. */
export interface SubmittedJob {
  id: string;
  model: string;
  status: JobStatus;
  createdAt: Date;
}

/** `announced`: the workers' wake-up NOTIFY went with the commit (the caller need not send one). */
export type InsertJobResult = { kind: 'created'; announced: boolean } | { kind: 'duplicate'; existing: SubmittedJob };

/** The unique index a repeated Idempotency-Key violates (per API key: COALESCE(api_key_id, zero), key). */
const IDEMPOTENCY_CONSTRAINT = 'jobs_idempotency_key_key';
const UNIQUE_VIOLATION = '23505';

const batchers = new WeakMap<Queryable, SubmitBatcher>();

/**
 * Writes a queued job and its queue entry in one statement, shared with the jobs other requests submit at the
 * same time (submit-batcher.ts; `db` should be the process's pool). A repeated Idempotency-Key (same API key)
 * writes nothing and returns the earlier job instead; any other failure is thrown (pg-boss inserting no queue
 * entry is `unavailable`, see JobQueue.sendMany).
 */
export async function insertJob(queue: JobQueue, db: Queryable, job: NewJob): Promise<InsertJobResult> {
  let batcher = batchers.get(db);
  if (!batcher) batchers.set(db, (batcher = new SubmitBatcher(queue, db)));
  try {
    const announced = await batcher.submit(job);
    return { kind: 'created', announced };
  } catch (error) {
    const repeated = pgErrorCode(error) === UNIQUE_VIOLATION && (error as { constraint?: string }).constraint === IDEMPOTENCY_CONSTRAINT;
    if (!repeated || job.idempotencyKey === null) throw error;
  }
  const existing = await findJobByIdempotencyKey(db, job.idempotencyKey, job.apiKeyId);
  if (!existing) throw new MuleError('conflict', 'the job of this Idempotency-Key was deleted meanwhile; send the request again');
  return { kind: 'duplicate', existing };
}

async function findJobByIdempotencyKey(db: Queryable, key: string, apiKeyId: string | null): Promise<SubmittedJob | null> {
  const { rows } = await db.query<SubmittedJob>(
    statement(
      `SELECT id, model, status, created_at AS "createdAt" FROM jobs
        WHERE COALESCE(api_key_id, '00000000-0000-0000-0000-000000000000'::uuid) = COALESCE($2::uuid, '00000000-0000-0000-0000-000000000000'::uuid)
          AND idempotency_key = $1`,
      [key, apiKeyId],
    ),
  );
  return rows[0] ?? null;
}
