/**
 * The reaper: a job row is only ever finished by a worker holding its queue entry, so a job whose entry is gone
 * would stay `queued`, `running` or `waiting` for ever (no worker claims it, no sync waiter answers, retention never deletes
 * it). That happens when pg-boss gives up on the entry (50 takeovers exhausted, e.g. a step whose result the
 * database keeps refusing), when the entry is deleted by hand or by pg-boss's retention of never-fetched entries
 * (14 days), or when it was completed while the row was still running (a worker that stopped a job it no longer
 * owned). Such jobs are failed here, their running step attempts closed, and their ids returned for a
 * `mule_job_finished` NOTIFY.
 */
import type { StoredError } from '@mule/core';
import type { Queryable } from './pool.js';
import { JOB_QUEUE, TIMER_QUEUE } from './queue.js';

/** Arbitrary, fixed: the transaction-level advisory lock that keeps two workers from reaping at once. */
const REAPER_LOCK = 7_102_312;
/** Jobs failed per statement, so one pass never holds many row locks. */
export const LOST_JOBS_BATCH = 500;

/** pg-boss states in which the entry will still be (or is being) worked on. */
const LIVE_STATES = `('created', 'retry', 'active')`;

export const LOST_QUEUE_ENTRY: StoredError = {
  code: 'internal_error',
  message: 'the job was lost: its queue entry failed, was deleted or went missing, so no worker will run it again',
};

/**
 * Fails up to LOST_JOBS_BATCH jobs that are `queued`, `running` or `waiting` without a live queue entry (the one
 * jobs.queue_id names, or the job's own id: a parked job is carried by the entry it parked with, due later); returns their ids (empty
 * when another worker is reaping right now). One statement: the lock, the search and both updates.
 *
 * The search is on the (status, created_at) index (only unfinished jobs) and pg-boss's (name, id) key. Rows a
 * worker is writing right now are skipped (SKIP LOCKED) and looked at again next pass; the status is checked
 * again under the row lock, so a job that finished meanwhile is left alone.
 */
export async function failLostJobs(db: Queryable, error: StoredError = LOST_QUEUE_ENTRY): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `WITH lock AS (SELECT pg_try_advisory_xact_lock($3) AS ok),
     lost AS (
       SELECT j.id FROM jobs j
        WHERE (SELECT ok FROM lock)
          AND j.status IN ('queued', 'running', 'waiting')
          AND NOT EXISTS (SELECT 1 FROM pgboss.job q
                           WHERE q.name = ANY($1::text[]) AND q.id = COALESCE(j.queue_id, j.id) AND q.state IN ${LIVE_STATES})
        LIMIT ${LOST_JOBS_BATCH}
        FOR UPDATE OF j SKIP LOCKED
     ), failed AS (
       UPDATE jobs SET status = 'failed', error = $2, completed_at = now()
        WHERE id IN (SELECT id FROM lost) AND status IN ('queued', 'running', 'waiting')
        RETURNING id
     ), steps AS (
       UPDATE job_steps SET status = 'failed', error = $2, completed_at = now(),
              duration_ms = EXTRACT(EPOCH FROM (now() - started_at)) * 1000
        WHERE job_id IN (SELECT id FROM failed) AND status IN ('running', 'waiting')
     )
     SELECT id FROM failed`,
    [[JOB_QUEUE, TIMER_QUEUE], JSON.stringify(error), REAPER_LOCK],
  );
  return rows.map((row) => row.id);
}
