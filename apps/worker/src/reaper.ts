/**
 * The worker's reaper pass (packages/db/src/lost-jobs.ts): jobs left `queued` or `running` whose queue entry failed,
 * was deleted or vanished are failed, and their waiters told by a `mule_job_finished` NOTIFY. Every worker runs
 * it on its interval; a transaction-level advisory lock lets one of them do the work at a time.
 */
import { failLostJobs, LOST_JOBS_BATCH, type NotifyBatcher, type Pool } from '@mule/db';
import { formatJobId } from '@mule/core';
import type { Logger } from '@mule/observability';

export function scheduleReaper(pool: Pool, log: Logger, finished: NotifyBatcher, intervalSeconds: number): () => void {
  let running = false;
  const pass = async () => {
    if (running) return;
    running = true;
    try {
      // One batch per statement; a full batch means more may be waiting.
      for (;;) {
        const failed = await failLostJobs(pool);
        for (const id of failed) finished.send(id);
        if (failed.length > 0) log.warn({ jobs: failed.map(formatJobId) }, 'failed jobs whose queue entry was lost');
        if (failed.length < LOST_JOBS_BATCH) break;
      }
    } catch (error) {
      log.warn({ err: (error as Error).message }, 'reaper pass failed; the next one will try again');
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void pass(), intervalSeconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
