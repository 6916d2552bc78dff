/**
 * The job queue: the only importer of pg-boss. A queue entry carries just `{jobId}`; the `jobs` row is the truth.
 *
 * Claiming: pg-boss `FOR UPDATE SKIP LOCKED` with LISTEN/NOTIFY (`useListenNotify`, queue `notify`), so an insert
 * wakes idle workers at once. The trap (FACTS.md): after each fetch a pg-boss worker sleeps out its polling
 * interval (30 s with NOTIFY) unless it was notified meanwhile, so a backlog that stopped sending NOTIFYs would be
 * drained one job per slot per 30 s. pg-boss refuses to "burst" at batchSize 1. So each slot is its own `work()`
 * registration whose worker id we know, and the handler pokes its own worker (`notifyWorker`) after every job:
 * a slot that just ran a job fetches again at once; a slot whose fetch came back empty sleeps until a NOTIFY.
 */
import { PgBoss, type Job } from 'pg-boss';
import { jobQueuePayloadSchema } from '@mule/core';
import type { Queryable } from './pool.js';

export const JOB_QUEUE = 'mule-jobs';

/** Queue-level settings, written by `installQueue` (migrate) and re-applied by workers at start. */
const QUEUE_SETTINGS = {
  notify: true,
  // Takeover after a crash is pg-boss's retry of a job whose heartbeat stopped; a job's own failures are
  // retried per step by the worker, so this only bounds how often a job can be taken over.
  retryLimit: 50,
  retryDelay: 1,
  retryBackoff: true,
  retryDelayMax: 30,
  // The whole-job limit is the worker's; this is only pg-boss's outer bound (its maximum is 24 h).
  expireInSeconds: 24 * 3600,
  // Finished queue entries are not history (the jobs table is): drop them after 10 minutes so the queue stays small.
  deleteAfterSeconds: 600,
} as const;

export interface QueueJob {
  jobId: string;
  /** 0 on the first claim; +1 each time the job is claimed again (after a crash or a lost lease). */
  retryCount: number;
  /** Aborted by pg-boss when the claim is lost (heartbeat missed) or the worker stops. */
  signal: AbortSignal;
}

export interface JobQueueOptions {
  connectionString: string;
  /** api: sends only. worker: claims, heartbeats and runs pg-boss maintenance. */
  role: 'api' | 'worker';
  /** How long a silent worker keeps a job (MULE_LEASE_SECONDS); pg-boss needs >= 10. */
  leaseSeconds: number;
  /** How often a worker re-checks for jobs without a NOTIFY (takeovers, missed wake-ups). */
  backstopPollSeconds?: number;
  poolMax?: number;
  onError?: (error: Error) => void;
}

export class JobQueue {
  private readonly slotIds: string[] = [];

  private constructor(
    private readonly boss: PgBoss,
    private readonly options: JobQueueOptions,
  ) {}

  static async start(options: JobQueueOptions): Promise<JobQueue> {
    const worker = options.role === 'worker';
    const boss = new PgBoss({
      connectionString: options.connectionString,
      application_name: `mule-${options.role}-queue`,
      max: options.poolMax ?? (worker ? 4 : 2),
      migrate: false,
      schedule: false,
      supervise: worker,
      // Heartbeat failures are found by the supervisor; keep its cadence well inside the lease.
      superviseIntervalSeconds: Math.max(1, Math.floor(options.leaseSeconds / 3)),
      useListenNotify: worker,
      persistWarnings: false,
    });
    boss.on('error', (error: Error) => options.onError?.(error));
    await boss.start();
    return new JobQueue(boss, options);
  }

  /** Adds the queue entry for `jobId` inside the caller's transaction (`db` is its client). */
  async send(db: Queryable, jobId: string): Promise<void> {
    await this.boss.send(JOB_QUEUE, { jobId }, {
      id: jobId,
      heartbeatSeconds: Math.max(10, this.options.leaseSeconds),
      db: { executeSql: (text: string, values?: unknown[]) => db.query(text, values) },
    });
  }

  /** Runs `handler` for claimed jobs, at most `slots` at once. A throw hands the job back for a later retry. */
  async work(slots: number, handler: (job: QueueJob) => Promise<void>): Promise<void> {
    const backstop = this.options.backstopPollSeconds ?? 5;
    for (let slot = 0; slot < slots; slot++) {
      let slotId = '';
      slotId = await this.boss.work(
        JOB_QUEUE,
        {
          localConcurrency: 1,
          batchSize: 1,
          pollingIntervalSeconds: Math.min(2, backstop),
          notifyPollingIntervalSeconds: backstop,
          heartbeatRefreshSeconds: Math.max(1, this.options.leaseSeconds / 3),
        },
        async (jobs: Job<unknown>[]) => {
          try {
            for (const job of jobs) {
              const { jobId } = jobQueuePayloadSchema.parse(job.data);
              await handler({ jobId, retryCount: job.retryCount, signal: job.signal });
            }
          } finally {
            this.boss.notifyWorker(slotId);
          }
        },
      );
      this.slotIds.push(slotId);
    }
  }

  /** Stops claiming; waits up to `graceMs` for running handlers. */
  async stop(graceMs = 0): Promise<void> {
    await this.boss.stop({ graceful: graceMs > 0, timeout: graceMs, close: true });
  }

  /** Removes a queued job's entry so no worker claims it. */
  async cancel(jobId: string): Promise<void> {
    await this.boss.cancel(JOB_QUEUE, jobId).catch(() => {});
  }
}

/** Creates pg-boss's schema and Mule's queue (part of `npm run migrate`). Idempotent. */
export async function installQueue(connectionString: string): Promise<void> {
  const boss = new PgBoss({
    connectionString,
    application_name: 'mule-migrate',
    max: 2,
    migrate: true,
    schedule: false,
    supervise: false,
    persistWarnings: false,
  });
  boss.on('error', () => {});
  await boss.start();
  try {
    const existing = await boss.getQueue(JOB_QUEUE);
    if (existing) await boss.updateQueue(JOB_QUEUE, QUEUE_SETTINGS);
    else await boss.createQueue(JOB_QUEUE, QUEUE_SETTINGS);
  } finally {
    await boss.stop({ graceful: false, close: true });
  }
}

/** Readiness: pg-boss's schema and our queue exist. */
export async function isQueueInstalled(db: Queryable): Promise<boolean> {
  const { rows } = await db
    .query<{ ok: boolean }>(`SELECT EXISTS (SELECT 1 FROM pgboss.queue WHERE name = $1) AS ok`, [JOB_QUEUE])
    .catch(() => ({ rows: [{ ok: false }] }));
  return rows[0]?.ok === true;
}
