/**
 * Resuming or rejecting a wait step (the api's POST …/steps/{step}/resume and …/reject). The step row is the
 * record a worker reads when it next claims the job: `completed` with the resume output means resumed, `failed`
 * with code `rejected` means rejected.
 */
import type { StoredError } from '@mule/core';
import { notifyStepProgress } from './job-progress.js';
import type { Queryable } from './pool.js';
import type { JobQueue } from './queue.js';
import { statement } from './prepared.js';

export type WaitSettlement =
  | { status: 'completed'; output: unknown }
  | { status: 'failed'; error: StoredError };

/**
 * `queued`: the job was parked `waiting`; it is `queued` again on a new queue entry (a NOTIFY after the commit
 * wakes a worker). `recorded`: the job is queued or running (another branch holds it); only the step row changed,
 * and the worker that holds the job (woken by a NOTIFY naming it) or next claims it reads it. `not_waiting`: the step is not waiting (resumed or
 * rejected already, timed out, never reached) or the job is finished; nothing changed.
 */
export type WaitOutcome = 'queued' | 'recorded' | 'not_waiting';

/** The step row's new state; $1 job, $2 step id, $3 status, $4 output, $5 error. */
const SETTLE_STEP = `UPDATE job_steps SET status = $3, output = $4, error = $5, completed_at = now(),
                            duration_ms = EXTRACT(EPOCH FROM (now() - started_at)) * 1000
                      WHERE job_id = $1 AND step_id = $2 AND item IS NULL AND status = 'waiting' AND type = 'wait'`;

/** The job row, locked, only while it is held by a queue entry or a worker (the step-only write). */
const RECORD_ONLY = `WITH job AS (SELECT id FROM jobs WHERE id = $1 AND status IN ('queued', 'running') FOR UPDATE)
  ${SETTLE_STEP} AND EXISTS (SELECT 1 FROM job) RETURNING id`;

/**
 * Settles a waiting step. Each try is ONE statement under the job row's lock, and the job's status decides which:
 * a parked job (`waiting`) gets the step row, status `queued` and a fresh queue entry (jobs.queue_id) together;
 * a job that is queued or running gets the step row alone. A job that moves between the two meanwhile (a worker
 * parks it, or another resume wakes it) fails the first statement's condition and the other is tried; three
 * tries cover a park and a wake in between, and more changes than that in a few milliseconds are refused as
 * `not_waiting` rather than looping.
 */
export async function settleWait(
  queue: JobQueue,
  db: Queryable,
  request: { jobId: string; stepId: string; entryId: string; settlement: WaitSettlement },
): Promise<WaitOutcome> {
  const { jobId, stepId, entryId, settlement } = request;
  const output = settlement.status === 'completed' ? JSON.stringify(settlement.output ?? null) : null;
  const error = settlement.status === 'failed' ? JSON.stringify(settlement.error) : null;
  for (let attempt = 0; attempt < 3; attempt++) {
    // The job row first: its UPDATE takes the lock, so two resumes of one job queue it once (the second finds it
    // `queued` and then writes the step row only if that is still waiting, which it is not when it was this step).
    const queued = await queue.sendWith(db, jobId, { id: entryId }, {
      ctes: `requeued AS (
               UPDATE jobs SET status = 'queued', queue_id = $6
                WHERE id = $1 AND status = 'waiting'
                  AND EXISTS (SELECT 1 FROM job_steps WHERE job_id = $1 AND step_id = $2 AND item IS NULL AND status = 'waiting' AND type = 'wait')
                RETURNING id),
             settled AS (${SETTLE_STEP} AND EXISTS (SELECT 1 FROM requeued) RETURNING id)`,
      values: [jobId, stepId, settlement.status, output, error, entryId],
      guard: 'EXISTS (SELECT 1 FROM settled)',
    });
    if (queued !== null) return announced(db, request, 'queued');
    const { rows: recorded } = await db.query(statement(RECORD_ONLY, [jobId, stepId, settlement.status, output, error]));
    if (recorded.length > 0) return announced(db, request, 'recorded');
    const { rows } = await db.query<{ parked: boolean }>(statement(
      `SELECT j.status = 'waiting' AS parked FROM jobs j
        WHERE j.id = $1 AND EXISTS (SELECT 1 FROM job_steps WHERE job_id = $1 AND step_id = $2 AND item IS NULL AND status = 'waiting' AND type = 'wait')`,
      [jobId, stepId],
    ));
    if (!rows[0]?.parked) return 'not_waiting';
  }
  return 'not_waiting';
}

/**
 * After the commit, the settled step on `mule_job_progress`: a stream waiting on the job shows it, and the
 * dashboard's events re-read the job. Every settle sends it, streamed job or not: settles are made by people, a
 * few a minute, not a hot path. A NOTIFY that fails costs a stream one progress comment, never the resume.
 */
async function announced(db: Queryable, request: { jobId: string; stepId: string; settlement: WaitSettlement }, outcome: WaitOutcome): Promise<WaitOutcome> {
  await notifyStepProgress(db, { jobId: request.jobId, stepId: request.stepId, status: request.settlement.status }).catch(() => {});
  return outcome;
}
