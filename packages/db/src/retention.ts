/**
 * Retention: finished jobs older than the retention period are deleted (their steps go with them), a batch at a
 * time so no statement holds locks for long, and the planner statistics are refreshed so the tables stay fast
 * after bursts (stale planner statistics after a burst were measured turning 12k jobs/s into 200 jobs/s). One worker at a time does it
 * (a try-lock); the others skip the pass.
 */
import { pruneApiKeyUsage } from './api-keys-repo.js';
import { deleteExpiredResponses } from './responses-repo.js';
import type { Pool } from './pool.js';

/** Arbitrary, fixed: the advisory lock that elects the worker doing a retention pass. */
const RETENTION_LOCK = 7_102_311;
const BATCH = 1000;

export async function runRetention(pool: Pool, retentionDays: number): Promise<{ deleted: number; ran: boolean }> {
  const client = await pool.connect();
  try {
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [RETENTION_LOCK]);
    if (!rows[0]?.locked) return { deleted: 0, ran: false };
    try {
      let deleted = 0;
      if (retentionDays > 0) {
        for (;;) {
          const { rowCount } = await client.query(
            `DELETE FROM jobs WHERE id IN (
               SELECT id FROM jobs WHERE completed_at < now() - $1 * interval '1 day'
                AND status IN ('completed', 'failed', 'cancelled') LIMIT ${BATCH})`,
            [retentionDays],
          );
          deleted += rowCount ?? 0;
          if ((rowCount ?? 0) < BATCH) break;
        }
        // Stored responses follow the jobs' retention days.
        deleted += await deleteExpiredResponses(client, retentionDays, BATCH);
      }
      await pruneApiKeyUsage(client);
      await client.query('ANALYZE jobs, job_steps');
      await client.query('ANALYZE pgboss.job').catch(() => {});
      return { deleted, ran: true };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [RETENTION_LOCK]);
    }
  } finally {
    client.release();
  }
}
