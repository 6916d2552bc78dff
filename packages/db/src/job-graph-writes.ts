/**
 * The writes of a workflow graph's driver (the worker): what one lifecycle transition changes, as ONE fenced
 * statement (attempt results, new rows, the job's status), and the rows a claim reads back. One statement per
 * transition keeps a takeover from finding half a transition, and keeps a one-step job at two statements (claim,
 * then result + finish).
 *
 * Rows: one per attempt (`item` set for a for_each item's attempts); a step's own row (item NULL, attempt 1)
 * when it is skipped, when a for_each step ends (the list of its items' outputs, or its error), when a step
 * fails without an attempt of its own (an expression error), or for a wait (`waiting` until resumed).
 */
import { storableText, type StoredError, type TokenUsage } from '@mule/core';
import type { Queryable } from './pool.js';
import { CHANNELS } from './listener.js';
import { statement } from './prepared.js';
import type { Claim } from './jobs-repo.js';
import type { QueueAttempt } from './queue.js';

/** A row as it ends: an attempt that ran (completed / failed), or one stopped (cancelled). */
export interface RowEnd {
  index: number;
  item: number | null;
  attempt: number;
  status: 'completed' | 'failed' | 'cancelled';
  output?: unknown;
  error?: StoredError | null;
  usage?: TokenUsage | null;
  /** Measured by the runner; absent: since the row started. */
  durationMs?: number;
  /** A WASM attempt's stderr (stored as its last STEP_LOG_BYTES); absent or null: none (agent steps). */
  logs?: string | null;
}

/** A new row: an attempt starting (`running`), a wait (`waiting`), or a step's own final row. */
export interface RowStart {
  index: number;
  item: number | null;
  attempt: number;
  stepId: string;
  type: string;
  status: 'running' | 'waiting' | 'completed' | 'failed' | 'skipped';
  input?: unknown;
  output?: unknown;
  error?: StoredError | null;
  /** A wait's deadline, epoch ms. */
  waitUntil?: number;
}

export interface TransitionWrites {
  ends: RowEnd[];
  starts: RowStart[];
  /** The job's new state; absent: the job row is not changed. */
  job?: { status: 'running' | 'waiting' | 'completed' | 'failed'; output?: unknown; error?: StoredError | null; queueId?: string };
}

/**
 * How much of a WASM attempt's stderr its step row keeps: the last 16 KiB (UTF-8 bytes). The sandbox keeps 64 KiB
 * per run; a row is read whole by every job view, and a module that logs a line per item would otherwise make a
 * for_each job's view megabytes long. The end of stderr is what says why a module failed.
 */
export const STEP_LOG_BYTES = 16 * 1024;

/** The last STEP_LOG_BYTES of `text`, cut at a character boundary, made storable (no NUL). */
export function stepLogTail(text: string): string {
  // A UTF-16 unit is at most 3 UTF-8 bytes: short text (nearly every run's) is kept without encoding it.
  if (text.length * 3 <= STEP_LOG_BYTES) return storableText(text);
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= STEP_LOG_BYTES) return storableText(text);
  let start = bytes.length - STEP_LOG_BYTES;
  // Skip continuation bytes (10xxxxxx) so the tail starts at a whole character.
  while (start < bytes.length && (bytes[start]! & 0xc0) === 0x80) start++;
  return storableText(bytes.subarray(start).toString('utf8'));
}

/** JSON text (jsonb's `null` kept as JSON null, which jsonb_to_recordset would turn into SQL NULL). */
const json = (value: unknown) => (value === undefined ? null : JSON.stringify(value));

/** One job's transition in a statement that may write several jobs' (transition-batcher.ts). */
export interface ClaimedWrites {
  claim: Claim;
  writes: TransitionWrites;
  /** The queue entry attempt this job's end also completes (its claim loop then has nothing to complete). */
  settle?: QueueAttempt;
}

/** pg-boss's completion of queue entries, as CTEs for the same statement (JobQueue.completionCtes). */
export type Completions = (attempts: QueueAttempt[]) => Promise<{ ctes: string; values: unknown[] }>;

/**
 * The statement's CTEs and values for one or more jobs' transitions, each fenced on its claim: `owned` holds the
 * job rows still running under their writers' claims (FOR SHARE); nothing of a job changes without its row in
 * it. `job` returns the ids of the job rows changed. queue.ts's `park` puts one job's in front of pg-boss's insert.
 */
export function transitionCtes(claim: Claim, writes: TransitionWrites): { ctes: string; values: unknown[] } {
  return transitionsCtes([{ claim, writes }]);
}

export function transitionsCtes(batch: readonly ClaimedWrites[]): { ctes: string; values: unknown[] } {
  const claims = batch.map(({ claim }) => ({ job_id: claim.jobId, claim: claim.claim }));
  const ends = batch.flatMap(({ claim, writes }) =>
    writes.ends.map((end) => ({
      job_id: claim.jobId,
      step_index: end.index,
      item: end.item,
      attempt: end.attempt,
      status: end.status,
      output: json(end.output),
      error: json(end.error ?? undefined),
      usage: json(end.usage ?? undefined),
      duration_ms: end.durationMs ?? null,
      logs: typeof end.logs === 'string' ? stepLogTail(end.logs) : null,
    })),
  );
  const starts = batch.flatMap(({ claim, writes }) =>
    writes.starts.map((start) => ({
      job_id: claim.jobId,
      step_index: start.index,
      item: start.item,
      attempt: start.attempt,
      step_id: start.stepId,
      type: start.type,
      status: start.status,
      input: json(start.input),
      output: json(start.output),
      error: json(start.error ?? undefined),
      wait_until: start.waitUntil ?? null,
    })),
  );
  const jobs = batch.flatMap(({ claim, writes }) =>
    writes.job
      ? [{ job_id: claim.jobId, status: writes.job.status, output: json(writes.job.output), error: json(writes.job.error ?? undefined), queue_id: writes.job.queueId ?? null }]
      : [],
  );
  return {
    ctes: `owned AS (
       SELECT j.id FROM jobs j JOIN jsonb_to_recordset($1::jsonb) AS c(job_id uuid, claim int) ON j.id = c.job_id
        WHERE j.status = 'running' AND j.attempts = c.claim
        FOR SHARE OF j
     ),
     ends AS (
       UPDATE job_steps s SET status = e.status, output = e.output::jsonb, error = e.error::jsonb, usage = e.usage::jsonb,
              completed_at = now(), duration_ms = COALESCE(e.duration_ms, EXTRACT(EPOCH FROM (now() - s.started_at)) * 1000), logs = e.logs
         FROM jsonb_to_recordset($2::jsonb) AS e(job_id uuid, step_index int, item int, attempt int, status text, output text, error text, usage text, duration_ms float8, logs text)
        WHERE s.job_id = e.job_id AND s.step_index = e.step_index AND COALESCE(s.item, -1) = COALESCE(e.item, -1)
          AND s.attempt = e.attempt AND s.status IN ('running', 'waiting') AND e.job_id IN (SELECT id FROM owned)
        RETURNING 1
     ),
     starts AS (
       INSERT INTO job_steps (job_id, step_index, item, attempt, step_id, type, status, input, output, error, wait_until, completed_at)
       SELECT r.job_id, r.step_index, r.item, r.attempt, r.step_id, r.type, r.status, r.input::jsonb, r.output::jsonb, r.error::jsonb,
              to_timestamp(r.wait_until / 1000.0), CASE WHEN r.status IN ('running', 'waiting') THEN NULL ELSE now() END
         FROM jsonb_to_recordset($3::jsonb) AS r(job_id uuid, step_index int, item int, attempt int, step_id text, type text, status text, input text, output text, error text, wait_until float8)
        WHERE r.job_id IN (SELECT id FROM owned)
       ON CONFLICT DO NOTHING
       RETURNING 1
     ),
     job AS (
       UPDATE jobs SET status = u.status, output = COALESCE(u.output::jsonb, jobs.output), error = COALESCE(u.error::jsonb, jobs.error),
              queue_id = COALESCE(u.queue_id, jobs.queue_id),
              completed_at = CASE WHEN u.status IN ('completed', 'failed') THEN now() ELSE jobs.completed_at END
         FROM jsonb_to_recordset($4::jsonb) AS u(job_id uuid, status text, output text, error text, queue_id uuid)
        WHERE jobs.id = u.job_id AND u.status IS NOT NULL AND jobs.id IN (SELECT id FROM owned)
        RETURNING jobs.id
     )`,
    values: [JSON.stringify(claims), JSON.stringify(ends), JSON.stringify(starts), JSON.stringify(jobs)],
  };
}

/**
 * One statement for `batch`, with the NOTIFY of `notify` (one job's end) inside it when given. Returns the ids
 * of the jobs whose rows were still theirs, and whether the NOTIFY went.
 */
export async function writeTransitions(
  db: Queryable,
  batch: readonly ClaimedWrites[],
  notify: string | null,
  completion: { ctes: string; values: unknown[] } | null = null,
): Promise<{ owned: Set<string>; notified: boolean }> {
  const own = transitionsCtes(batch);
  let { ctes, values } = own;
  if (completion) {
    // The queue's CTEs, their parameters numbered after ours (the NOTIFY's payload, if any, comes last).
    const offset = values.length;
    ctes += `, ${completion.ctes.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`)}`;
    values = [...values, ...completion.values];
  }
  const payloadParam = `$${values.length + 1}`;
  // Referencing every data-modifying CTE is not needed (PostgreSQL runs them all); `owned` is the answer. A
  // SELECT CTE runs only when referenced, so `notified` is, and it notifies only when a job row changed.
  const text =
    notify !== null
      ? `WITH ${ctes}, notified AS (SELECT pg_notify('${CHANNELS.jobFinished}', ${payloadParam}) WHERE EXISTS (SELECT 1 FROM job))
         SELECT ARRAY(SELECT id::text FROM owned) AS owned, EXISTS (SELECT 1 FROM notified) AS notified`
      : `WITH ${ctes} SELECT ARRAY(SELECT id::text FROM owned) AS owned, false AS notified`;
  const { rows } = await db.query<{ owned: string[]; notified: boolean }>(statement(text, notify !== null ? [...values, notify] : values));
  return { owned: new Set(rows[0]?.owned ?? []), notified: rows[0]?.notified === true };
}

/** A job's step row as a claim reads it back (every row: the driver picks each unit's last attempt). */
export interface StepRowRead {
  index: number;
  stepId: string;
  item: number | null;
  attempt: number;
  status: 'running' | 'waiting' | 'completed' | 'failed' | 'skipped' | 'cancelled';
  output: unknown;
  error: StoredError | null;
  /** Epoch ms. */
  startedAt: number;
  completedAt: number | null;
  waitUntil: number | null;
}

/**
 * Closes attempts left `running` by a worker that died (failed, `error`) and reads every step row of the job,
 * in one statement; null when the job is no longer running under `claim` (nothing is changed then).
 */
export async function takeOverRows(db: Queryable, claim: Claim, error: StoredError): Promise<StepRowRead[] | null> {
  const { rows } = await db.query<{ owned: boolean; rows: StepRowRead[] | null }>(statement(
    `WITH owned AS (SELECT id FROM jobs WHERE id = $1 AND status = 'running' AND attempts = $3 FOR SHARE),
     abandoned AS (
       UPDATE job_steps SET status = 'failed', error = $2, completed_at = now(),
              duration_ms = EXTRACT(EPOCH FROM (now() - started_at)) * 1000
        WHERE job_id = $1 AND status = 'running' AND EXISTS (SELECT 1 FROM owned)
        RETURNING id, completed_at
     )
     SELECT EXISTS (SELECT 1 FROM owned) AS owned,
            (SELECT jsonb_agg(jsonb_build_object(
                      'index', s.step_index, 'stepId', s.step_id, 'item', s.item, 'attempt', s.attempt,
                      'status', CASE WHEN a.id IS NULL THEN s.status ELSE 'failed' END,
                      'output', s.output, 'error', CASE WHEN a.id IS NULL THEN s.error ELSE $2::jsonb END,
                      'startedAt', (EXTRACT(EPOCH FROM s.started_at) * 1000)::float8,
                      'completedAt', (EXTRACT(EPOCH FROM COALESCE(a.completed_at, s.completed_at)) * 1000)::float8,
                      'waitUntil', (EXTRACT(EPOCH FROM s.wait_until) * 1000)::float8)
                    ORDER BY s.step_index, s.item NULLS FIRST, s.attempt)
               FROM job_steps s LEFT JOIN abandoned a ON a.id = s.id
              WHERE s.job_id = $1 AND EXISTS (SELECT 1 FROM owned)) AS rows`,
    [claim.jobId, JSON.stringify(error), claim.claim],
  ));
  const row = rows[0];
  if (!row?.owned) return null;
  return row.rows ?? [];
}

/** A wait step's row once the api settled it (resumed: completed with output; rejected: failed with `rejected`). */
export interface SettledWait {
  stepId: string;
  status: 'completed' | 'failed';
  output: unknown;
  error: StoredError | null;
}

/** The settled rows among these wait steps (a job that runs on in a worker while one of its waits is open). */
export async function readSettledWaits(db: Queryable, jobId: string, stepIds: string[]): Promise<SettledWait[]> {
  const { rows } = await db.query<SettledWait>(statement(
    `SELECT step_id AS "stepId", status, output, error FROM job_steps
      WHERE job_id = $1 AND step_id = ANY($2::text[]) AND item IS NULL AND type = 'wait' AND status IN ('completed', 'failed')`,
    [jobId, stepIds],
  ));
  return rows;
}
