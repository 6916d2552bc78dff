/** The worker's periodic retention pass (packages/db/src/retention.ts): one worker at a time, every interval. */
import { runRetention, type Pool } from '@mule/db';
import type { Logger } from '@mule/observability';

export function scheduleRetention(pool: Pool, log: Logger, retentionDays: number, intervalSeconds: number): () => void {
  let running = false;
  const pass = async () => {
    if (running) return;
    running = true;
    try {
      const { deleted, ran } = await runRetention(pool, retentionDays);
      if (ran && deleted > 0) log.info({ deleted, retention_days: retentionDays }, 'deleted expired jobs');
    } catch (error) {
      log.warn({ err: (error as Error).message }, 'retention pass failed; the next one will try again');
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void pass(), intervalSeconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
