/** Job counts for the gauges `mule_queue_depth` and `mule_jobs_waiting`, read together at scrape time. */
import type { Queryable } from './pool.js';

export interface JobCounts {
  /** Queued and not yet claimed. */
  queued: number;
  /** Parked at a wait step (or a long retry backoff) and holding no worker slot. */
  waiting: number;
}

/**
 * One read for both gauges; the two counts come from the (status, created_at) index, so the cost grows with the
 * backlog and the waiting jobs, not with the table.
 */
export async function countJobs(db: Queryable): Promise<JobCounts> {
  const { rows } = await db.query<JobCounts>(
    `SELECT (SELECT count(*)::int FROM jobs WHERE status = 'queued') AS queued,
            (SELECT count(*)::int FROM jobs WHERE status = 'waiting') AS waiting`,
  );
  return rows[0] ?? { queued: 0, waiting: 0 };
}
