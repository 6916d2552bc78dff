/**
 * Job rows on the hot paths (claim, step results, finish, sync outcomes; submit is job-submit.ts). Plain SQL
 * through pg rather than Prisma: each call is one round trip with no client-side query building (Prisma's adapter
 * adds ~0.3-0.5 ms per query here, and a sync workflow call makes about ten of these). Rows come back camelCase
 * (aliased in the SQL) with typed statuses, which the tables' CHECK constraints guarantee.
 */
import type { JobStatus, PlanStep, StepStatus, StoredError, TokenUsage } from '@mule/core';
import type { Queryable } from './pool.js';
import type { FetchCompanion } from './queue.js';
import { statement } from './prepared.js';

export type { StoredError } from '@mule/core';

export interface JobOutcome {
  id: string;
  status: JobStatus;
  output: unknown;
  error: StoredError | null;
  usage: TokenUsage | null;
}

/** What a sync call answers with, for many jobs in one round trip (waiters re-read after a NOTIFY). */
export async function readOutcomes(db: Queryable, ids: string[]): Promise<JobOutcome[]> {
  const { rows } = await db.query<JobOutcome>(statement(
    `SELECT j.id, j.status, j.output, j.error,
            (SELECT CASE WHEN count(s.usage) = 0 THEN NULL ELSE jsonb_build_object(
                      'prompt_tokens', sum((s.usage->>'prompt_tokens')::int),
                      'completion_tokens', sum((s.usage->>'completion_tokens')::int),
                      'total_tokens', sum((s.usage->>'total_tokens')::int)) END
               FROM job_steps s WHERE s.job_id = j.id AND s.status = 'completed') AS usage
       FROM jobs j WHERE j.id = ANY($1::uuid[])`,
    [ids],
  ));
  return rows;
}

export interface ClaimedJob {
  id: string;
  workflowName: string;
  input: unknown;
  plan: unknown;
  attempts: number;
  createdAt: Date;
  /** The first attempt's start: the whole-job time limit counts from here. */
  startedAt: Date;
  /** This claim also wrote step 0's first attempt `running` (a first claim whose first step starts plainly). */
  firstStarted: boolean;
  /** A stream waits on the job: relay the output step's tokens. */
  stream: boolean;
  /** The submitting request's trace context (jobs.trace_context): every claim continues that trace. */
  traceContext: string | null;
}

/**
 * Marks a job running for this claim when `queueId` is the queue entry that carries it now (jobs.queue_id, NULL
 * meaning the job's own id: the entry it was submitted with); null when it is finished, gone, or carried by
 * another entry (a wait's timeout entry after the wait was resumed). Queued, running (orphaned, or parked for a
 * retry) and waiting (a wait's timeout entry) jobs can be claimed.
 *
 * On the first claim the first step's attempt row is started in the same statement (one round trip fewer per
 * job) when that step starts plainly: no needs, no `if`, `for_each` or `input` template, not a wait. That is the
 * lifecycle's first command for such a job, with the job input as the step's input.
 *
 * The returned `attempts` is the claim number: every later write for the job carries it and changes rows only
 * while the job is still `running` under that same number, so a worker whose claim lapsed (a pause longer than
 * the lease) cannot write over the worker that took the job over.
 */
export async function claimJob(db: Queryable, id: string, queueId: string = id): Promise<ClaimedJob | null> {
  const { rows } = await db.query<ClaimedJob>(statement(
    `WITH claimed AS (
       UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = COALESCE(started_at, now())
        WHERE id = $1 AND status IN ('queued', 'running', 'waiting') AND COALESCE(queue_id, id) = $2
        RETURNING ${CLAIMED_COLUMNS('jobs')}
     ), ${FIRST_STEP}
     SELECT *, EXISTS (SELECT 1 FROM first_step) AS "firstStarted" FROM claimed`,
    [id, queueId],
  ));
  return rows[0] ?? null;
}

const CLAIMED_COLUMNS = (table: string) =>
  `${table}.id, ${table}.workflow_name AS "workflowName", ${table}.input, ${table}.plan, ${table}.attempts, ${table}.created_at AS "createdAt",
   ${table}.started_at AS "startedAt", ${table}.stream, ${table}.trace_context AS "traceContext"`;

/** Step 0's first attempt, started with the claim when it starts plainly (see claimJob). */
const FIRST_STEP = `first_step AS (
       INSERT INTO job_steps (job_id, step_index, attempt, step_id, type, status, input)
       SELECT id, 0, 1, plan->'steps'->0->>'id', plan->'steps'->0->>'type', 'running', input FROM claimed
        WHERE attempts = 1 AND plan->'steps'->0->>'type' IN ('agent', 'wasm')
          AND jsonb_array_length(COALESCE(plan->'steps'->0->'needs', '[]')) = 0
          AND NOT (plan->'steps'->0 ?| ARRAY['if', 'for_each', 'input'])
        RETURNING job_id
     )`;

/**
 * claimJob for every queue entry a worker fetches, in the fetch's own statement (JobQueue.claims): one round trip
 * claims a batch of entries and their jobs. `entry` is pg-boss's fetched entries; an entry whose job cannot be
 * claimed (finished, cancelled, carried by another entry) gets null. A payload that is not a job id claims nothing.
 */
export const CLAIM_ON_FETCH: FetchCompanion<ClaimedJob | null> = {
  ctes: `claimed AS (
       UPDATE jobs SET status = 'running', attempts = jobs.attempts + 1, started_at = COALESCE(jobs.started_at, now())
         FROM entry e
        WHERE jobs.id = CASE WHEN e.data->>'jobId' ~ '^[0-9a-fA-F-]{36}$' THEN (e.data->>'jobId')::uuid END
          AND jobs.status IN ('queued', 'running', 'waiting') AND COALESCE(jobs.queue_id, jobs.id) = e.id
        RETURNING e.id AS "queueId", ${CLAIMED_COLUMNS('jobs')}
     ), ${FIRST_STEP}`,
  column: `(SELECT to_jsonb(c) || jsonb_build_object('firstStarted', EXISTS (SELECT 1 FROM first_step f WHERE f.job_id = c.id))
              FROM claimed c WHERE c."queueId" = e.id)`,
  read(value) {
    if (value === null || typeof value !== 'object') return null;
    const row = value as ClaimedJob & { createdAt: string; startedAt: string; queueId?: string };
    const { queueId: _queueId, ...job } = row;
    return { ...job, createdAt: new Date(row.createdAt), startedAt: new Date(row.startedAt) };
  },
};

/** The claim a write is made under: the `attempts` value claimJob returned. */
export interface Claim {
  jobId: string;
  claim: number;
}

export interface StepStart {
  jobId: string;
  claim: number;
  index: number;
  attempt: number;
  stepId: string;
  type: PlanStep['type'];
  input: unknown;
}

/**
 * The fence every job and step write carries: the job row, still running under the writer's claim, locked FOR
 * SHARE so a concurrent claimJob (which takes the row's update lock) waits for the write, or the write waits for
 * the claim and then sees the new claim number and changes nothing.
 */
const OWNED = (claimParam: number) =>
  `owned AS (SELECT id FROM jobs WHERE id = $1 AND status = 'running' AND attempts = $${claimParam} FOR SHARE)`;

/** Records a step attempt as running; false when the job is no longer running under this claim, so stop. */
export async function startStep(db: Queryable, step: StepStart): Promise<boolean> {
  const { rowCount } = await db.query(statement(
    `WITH ${OWNED(7)}
     INSERT INTO job_steps (job_id, step_index, attempt, step_id, type, status, input)
     SELECT id, $2, $3, $4, $5, 'running', $6 FROM owned`,
    [step.jobId, step.index, step.attempt, step.stepId, step.type, JSON.stringify(step.input), step.claim],
  ));
  return rowCount === 1;
}

export interface StepEnd {
  jobId: string;
  claim: number;
  index: number;
  attempt: number;
  status: Exclude<StepStatus, 'running'>;
  output?: unknown;
  error?: StoredError | null;
  usage?: TokenUsage | null;
  durationMs: number;
}

const FINISH_STEP = `UPDATE job_steps SET status = $4, output = $5, error = $6, usage = $7, completed_at = now(), duration_ms = $8
                      WHERE job_id = $1 AND step_index = $2 AND attempt = $3`;

function stepValues(step: StepEnd): unknown[] {
  return [
    step.jobId,
    step.index,
    step.attempt,
    step.status,
    step.output === undefined ? null : JSON.stringify(step.output),
    step.error ? JSON.stringify(step.error) : null,
    step.usage ? JSON.stringify(step.usage) : null,
    step.durationMs,
  ];
}

/**
 * Stores a step attempt's result while the job goes on (another step or another attempt follows). False when
 * the job is no longer running under this claim (cancelled, or claimed again): nothing is changed then.
 */
export async function finishStep(db: Queryable, step: StepEnd): Promise<boolean> {
  const { rowCount } = await db.query(statement(
    `WITH ${OWNED(9)} ${FINISH_STEP} AND EXISTS (SELECT 1 FROM owned)`,
    [...stepValues(step), step.claim],
  ));
  return rowCount === 1;
}

/**
 * Stores the last step attempt's result and the job's final state in one statement (one round trip, atomic).
 * Returns false when the job was no longer running under `job.claim` (cancelled, or claimed again meanwhile):
 * nothing is changed then.
 */
export async function finishJob(
  db: Queryable,
  step: StepEnd | null,
  job: { id: string; claim: number; status: 'completed' | 'failed'; output?: unknown; error?: StoredError | null },
): Promise<boolean> {
  const values = step
    ? stepValues(step)
    : [job.id, null, null, null, null, null, null, null];
  const { rows } = await db.query<{ id: string }>(statement(
    `WITH job AS (
       UPDATE jobs SET status = $9, output = $10, error = $11, completed_at = now()
        WHERE id = $1 AND status = 'running' AND attempts = $12 RETURNING id
     ), step AS (
       ${FINISH_STEP} AND $2::int IS NOT NULL AND EXISTS (SELECT 1 FROM job) RETURNING 1
     )
     SELECT id FROM job`,
    [
      ...values,
      job.status,
      job.output === undefined ? null : JSON.stringify(job.output),
      job.error ? JSON.stringify(job.error) : null,
      job.claim,
    ],
  ));
  return rows.length === 1;
}

export async function readJobStatus(db: Queryable, id: string): Promise<JobStatus | null> {
  const { rows } = await db.query<{ status: JobStatus }>(statement(`SELECT status FROM jobs WHERE id = $1`, [id]));
  return rows[0]?.status ?? null;
}

/**
 * Cancels a queued, running or waiting job. Returns the status it had, or null when it does not exist; a finished job
 * is left as it is (the caller answers 409).
 */
export async function cancelJob(db: Queryable, id: string, error: StoredError): Promise<JobStatus | null> {
  const { rows } = await db.query<{ before: JobStatus; after: JobStatus | null }>(statement(
    `WITH before AS (SELECT id, status FROM jobs WHERE id = $1 FOR UPDATE),
          changed AS (
            UPDATE jobs j SET status = 'cancelled', error = $2, completed_at = now()
              FROM before b WHERE j.id = b.id AND b.status IN ('queued', 'running', 'waiting') RETURNING j.status
          ),
          steps AS (
            UPDATE job_steps SET status = 'cancelled', error = $2, completed_at = now(),
                   duration_ms = EXTRACT(EPOCH FROM (now() - started_at)) * 1000
             WHERE job_id = $1 AND status IN ('running', 'waiting') AND EXISTS (SELECT 1 FROM changed)
          )
     SELECT b.status AS before, (SELECT status FROM changed) AS after FROM before b`,
    [id, JSON.stringify(error)],
  ));
  return rows[0]?.before ?? null;
}

/**
 * Jobs queued and not yet claimed, for `mule_queue_depth`: counted on the (status, created_at) index, so the cost
 * grows with the backlog, not with the table.
 */
export async function countQueuedJobs(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE status = 'queued'`);
  return rows[0]?.n ?? 0;
}
