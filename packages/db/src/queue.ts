/**
 * The job queue: the only importer of pg-boss. A queue entry carries just `{jobId}`; the `jobs` row is the truth.
 *
 * Claiming is pg-boss's `FOR UPDATE SKIP LOCKED` fetch; the loop around it is the worker's (its claim-loop.ts),
 * on pg-boss's public fetch / complete / fail / touch (`claims()`):
 * - Waking is by LISTEN/NOTIFY, but not pg-boss's queue `notify`: that puts a NOTIFY inside every insert's
 *   transaction, and a NOTIFY holds a global lock through the commit, so such commits cannot share a WAL flush
 *   (with it, submits measured 186 jobs/s with 32 clients here). The api sends one coalesced NOTIFY
 *   (`mule_job_queued`) after its commits instead, and workers call `wake()`.
 * - pg-boss's own `work()` loop sleeps out its polling interval (2 s by default) after each fetch unless poked,
 *   even with a full queue and free slots,
 *   and completes jobs one statement each. Our loop fetches again as soon as a slot frees while the last fetch
 *   came back full, fetches as many jobs as there are free slots, and completes and heartbeats in batches.
 */
import { PgBoss } from 'pg-boss';
import { jobQueuePayloadSchema, MuleError } from '@mule/core';
import type { Pool, Queryable } from './pool.js';
import { completionCtesOf, splitFetch } from './pgboss-sql.js';
import { singleStatement, statement } from './prepared.js';

/** One fetched attempt of a queue entry: what pg-boss fences complete / fail / touch on. */
export interface QueueAttempt {
  id: string;
  retryCount: number;
  /** The queue the entry is in (TIMER_QUEUE for a parked job's wake-up); JOB_QUEUE when absent. */
  queue?: string;
}

/** A queue entry as a worker fetched it. */
export interface ClaimedEntry {
  /** The queue it came from: settle it there (QueueAttempt.queue). */
  queue: string;
  queueId: string;
  jobId: string;
  retryCount: number;
  /** The entry's heartbeat window (set by the api that sent it): silent this long, the claim can be taken. */
  heartbeatSeconds: number;
}

/**
 * What a fetch claims along with its queue entries, in the same statement: CTEs over pg-boss's fetched entries
 * (a CTE named `entry` with pg-boss's columns, `id` and `data` among them; no $ parameters), and one more answer
 * column per entry `e` (an SQL expression over those CTEs).
 */
export interface FetchCompanion<T> {
  ctes: string;
  column: string;
  /** Reads the column's value of one entry. */
  read(value: unknown): T;
}

export interface QueueClaims<T = never> {
  /** Entries, each with the companion's value (`claimed`) when the queue was asked for one. */
  fetch(count: number): Promise<Array<ClaimedEntry & { claimed?: T }>>;
  complete(attempts: QueueAttempt[]): Promise<void>;
  fail(attempts: QueueAttempt[], reason: string): Promise<void>;
  /** Refreshes the claims; returns the ids whose claim is gone. */
  touch(attempts: QueueAttempt[]): Promise<string[]>;
}

export const JOB_QUEUE = 'mule-jobs';
/**
 * Parked jobs' wake-ups (a wait's timeout, a retry more than 5 s away) are entries due later. In JOB_QUEUE every
 * fetch would walk past all of them: pg-boss's fetch scans its queue index in (priority, created_on) order and
 * skips entries not yet due, so 50,000 parked jobs made each fetch read ~550 buffers (3.9 ms against ~0.3). In a
 * queue of their own they cost one fetch per TIMER_FETCH_MS per worker instead, and a due wake-up is claimed
 * within that (or the idle loop's 2 s backstop) of its time.
 */
export const TIMER_QUEUE = 'mule-timers';
const QUEUES = [JOB_QUEUE, TIMER_QUEUE] as const;
/** How often a worker's fetch also looks for due wake-ups. */
const TIMER_FETCH_MS = 1000;

/** Attempts grouped by their queue, for pg-boss calls that take one queue name. */
function byQueue(attempts: QueueAttempt[]): Map<string, QueueAttempt[]> {
  const groups = new Map<string, QueueAttempt[]>();
  for (const attempt of attempts) {
    const queue = attempt.queue ?? JOB_QUEUE;
    let group = groups.get(queue);
    if (!group) groups.set(queue, (group = []));
    group.push({ id: attempt.id, retryCount: attempt.retryCount });
  }
  return groups;
}

/** The text of the error that rolls a submit back when pg-boss inserted no queue entry (see `send`). */
const NOT_QUEUED = 'mule: no queue entry was inserted for this job';
/** The text of the error that rolls a `sendWith` back when its guard is false. */
const REFUSED = 'mule: the guard of this queue write is false';

/** Queue-level settings, written by `installQueue` (migrate). */
const QUEUE_SETTINGS = {
  // Off on purpose: see the top of this file.
  notify: false,
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

export interface JobQueueOptions {
  /** The process's pool: pg-boss runs its statements on it, prepared (see prepared.ts). */
  pool: Pool;
  /** api: sends only. worker: claims, heartbeats and runs pg-boss maintenance. */
  role: 'api' | 'worker';
  /** How long a silent worker keeps a job before another takes it over (MULE_LEASE_SECONDS, >= 20). */
  leaseSeconds: number;
  onError?: (error: Error) => void;
}

/**
 * Takeover timing. A job's pg-boss heartbeat window is half the lease (pg-boss's minimum is 10 s); workers
 * refresh it three times per window; pg-boss's supervisor looks for stale heartbeats three times per window
 * (its monitor pass, default 60 s, gates that check, so it is lowered too); the retry is due ~1 s later and an
 * idle worker polls every 2 s. A dead worker's job is running again within about 0.5 + 0.17 lease + 3 s: ~23 s
 * for the default lease of 30 s.
 */
export function heartbeatSecondsFor(leaseSeconds: number): number {
  return Math.max(10, Math.ceil(leaseSeconds / 2));
}

export class JobQueue {
  private constructor(
    private readonly boss: PgBoss,
    private readonly options: JobQueueOptions,
  ) {}

  static async start(options: JobQueueOptions): Promise<JobQueue> {
    const worker = options.role === 'worker';
    const checkEvery = Math.max(1, Math.floor(heartbeatSecondsFor(options.leaseSeconds) / 3));
    const boss = new PgBoss({
      db: { executeSql: (text: string, values?: unknown[]) => options.pool.query(statement(text, values)) },
      migrate: false,
      schedule: false,
      supervise: worker,
      superviseIntervalSeconds: checkEvery,
      monitorIntervalSeconds: checkEvery,
      persistWarnings: false,
      // pg-boss's own spans are per batch: a fetch or a completion of up to a slot count of jobs, an insert of a
      // batch of submits. In the worker each was a root trace of its own (about two for every three jobs at load),
      // in the api a batch insert showed under whichever request started it. Under async load they were one span
      // in five exported. A job's trace is Mule's own: the context stored with the job.
      openTelemetry: { enabled: false },
    });
    boss.on('error', (error: Error) => options.onError?.(error));
    await boss.start();
    return new JobQueue(boss, options);
  }

  /**
   * Queue entries for jobs (each entry's id is its job's id) written in ONE statement with `ours` (the jobs' rows
   * as CTEs, $1… numbered from 1: job-rows.ts), so a job and its entry commit together or not at all, in one round
   * trip instead of BEGIN/INSERT/INSERT/COMMIT (each pg round trip costs ~90 µs of the api's CPU here). pg-boss's
   * insert is `ON CONFLICT DO NOTHING`, and a job row without its entry would be a job no worker ever claims: unless
   * every entry was inserted, the statement's result fails a uuid cast (a CASE branch, evaluated only then), which
   * rolls it all back, and the caller gets `unavailable` (the api answers 503; nothing was stored). `notify`: a channel NOTIFYed inside the same statement (only when the caller is otherwise
   * idle: a NOTIFY holds a global lock through its commit).
   */
  async sendMany(db: Queryable, jobIds: string[], ours: { ctes: string; values: unknown[] }, notify: string | null): Promise<void> {
    const heartbeatSeconds = heartbeatSecondsFor(this.options.leaseSeconds);
    const executeSql = (text: string, values: unknown[] = []) => {
      const insert = text.trim();
      if (!/^INSERT\s[\s\S]*\sRETURNING id$/i.test(insert)) throw new Error('pg-boss insert is no longer a plain INSERT … RETURNING id: revisit JobQueue.sendMany');
      const ctes = ours.ctes.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + values.length}`);
      const notified = notify === null ? '' : `, notified AS (SELECT pg_notify('${notify}', ''))`;
      return db.query(statement(
        `WITH ${ctes}, entry AS (${insert})${notified}
         SELECT CASE WHEN (SELECT count(*) FROM entry) = $${values.length + ours.values.length + 1}::int${notify === null ? '' : ' AND EXISTS (SELECT 1 FROM notified)'}
                     THEN (SELECT id FROM entry LIMIT 1) ELSE (SELECT '${NOT_QUEUED}'::text)::uuid END AS id`,
        [...values, ...ours.values, jobIds.length],
      ));
    };
    const entries = jobIds.map((id) => ({ id, data: { jobId: id }, heartbeatSeconds }));
    const inserted = await this.boss.insert(JOB_QUEUE, entries, { db: { executeSql }, returnId: true }).catch((error: unknown) => {
      if (error instanceof Error && error.message.includes(NOT_QUEUED)) return null;
      throw error;
    });
    if (inserted === null) throw new MuleError('unavailable', 'the job could not be queued, and nothing was stored; send the request again');
  }

  /**
   * Parks a job (a wait, or a retry more than 5 s away): `rows` (the driver's fenced CTEs, `owned` among them:
   * the job row under the writer's claim) and a NEW queue entry `entryId` due at `startAfter`, in ONE statement,
   * as `send` does. `rows` sets jobs.queue_id to `entryId`, so only that entry claims the job from now on. False,
   * with nothing stored, when the job is no longer running under the claim.
   */
  async park(db: Queryable, jobId: string, entryId: string, startAfter: Date, rows: { ctes: string; values: unknown[] }): Promise<boolean> {
    const queued = await this.sendWith(db, jobId, { id: entryId, startAfter, queue: TIMER_QUEUE }, { ...rows, guard: 'EXISTS (SELECT 1 FROM owned)' });
    return queued !== null;
  }

  /**
   * A queue entry (`options.id`, due now or at `startAfter`) written in ONE statement with the caller's CTEs (their
   * $1… placeholders numbered from 1), as `send` does. pg-boss's insert is `ON CONFLICT DO NOTHING`: when it
   * inserts nothing, or when `guard` (an SQL condition over the CTEs) is false, the statement's result fails a
   * uuid cast (a CASE branch, evaluated only then), which rolls the whole statement back; then null is returned
   * and nothing was stored. Otherwise the entry's id.
   */
  async sendWith(
    db: Queryable,
    jobId: string,
    options: { id: string; startAfter?: Date; queue?: string },
    ours: { ctes: string; values: unknown[]; guard: string | null },
  ): Promise<string | null> {
    const executeSql = (text: string, values: unknown[] = []) => {
      const insert = text.trim();
      // Guards the one assumption we make about pg-boss's SQL (a plain INSERT … RETURNING id when the queue has no notify).
      if (!/^INSERT\s[\s\S]*\sRETURNING id$/i.test(insert)) throw new Error('pg-boss send is no longer a plain INSERT … RETURNING id: revisit JobQueue.sendWith');
      const ctes = ours.ctes.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + values.length}`);
      const guard = ours.guard === null ? '' : `WHEN NOT (${ours.guard}) THEN (SELECT '${REFUSED}'::text)::uuid `;
      return db.query(statement(
        `WITH ${ctes}, entry AS (${insert})
         SELECT CASE ${guard}WHEN EXISTS (SELECT 1 FROM entry) THEN (SELECT id FROM entry)
                     ELSE (SELECT '${NOT_QUEUED}'::text)::uuid END AS id`,
        [...values, ...ours.values],
      ));
    };
    const heartbeatSeconds = heartbeatSecondsFor(this.options.leaseSeconds);
    const { queue = JOB_QUEUE, ...sendOptions } = options;
    return this.boss.send(queue, { jobId }, { ...sendOptions, heartbeatSeconds, db: { executeSql } }).catch((error: unknown) => {
      if (error instanceof Error && (error.message.includes(NOT_QUEUED) || error.message.includes(REFUSED))) return null;
      throw error;
    });
  }

  /**
   * The claim operations a worker's loop runs on (fetch / complete / fail / touch, all pg-boss's). Each call past
   * the fetch names the attempt as it was fetched (`{id, retryCount}`), which pg-boss fences on: a worker whose
   * claim lapsed settles or refreshes nothing, even when the same entry is active again under another worker.
   */
  claims<T = never>(companion?: FetchCompanion<T>): QueueClaims<T> {
    const boss = this.boss;
    const pool = this.options.pool;
    // pg-boss's fetch text -> the combined statement (the text repeats; only the values change).
    const fetchTexts = new Map<string, string>();
    // With a companion, pg-boss's fetch runs with it in one statement: its `WITH … UPDATE … RETURNING` becomes the
    // CTE `entry`, followed by the companion's CTEs (a worker claims the jobs' rows in the same round trip).
    const db = companion
      ? {
          executeSql: (text: string, values: unknown[] = []) => {
            let combined = fetchTexts.get(text);
            if (combined === undefined) {
              const { ctes, update } = splitFetch(text);
              combined = `WITH ${ctes}, entry AS (${update}), ${companion.ctes} SELECT e.*, ${companion.column} AS "muleClaimed" FROM entry e`;
              if (fetchTexts.size < 64) fetchTexts.set(text, combined);
            }
            return pool.query(singleStatement(combined, values));
          },
        }
      : undefined;
    const fetchFrom = async (queue: string, count: number) => {
      const jobs = await boss.fetch(queue, { batchSize: count, ...(db ? { db } : {}) });
      return jobs.map((job) => ({
        queue,
        queueId: job.id,
        jobId: jobQueuePayloadSchema.parse(job.data).jobId,
        retryCount: job.retryCount,
        // Every entry is sent with one (JobQueue.sendMany, sendWith); pg-boss's minimum is the fallback.
        heartbeatSeconds: job.heartbeatSeconds ?? 10,
        ...(companion ? { claimed: companion.read((job as { muleClaimed?: unknown }).muleClaimed ?? null) } : {}),
      }));
    };
    let timersFetchedAt = 0;
    return {
      fetch: async (count) => {
        const ready = await fetchFrom(JOB_QUEUE, count);
        if (ready.length >= count || Date.now() - timersFetchedAt < TIMER_FETCH_MS) return ready;
        timersFetchedAt = Date.now();
        return [...ready, ...(await fetchFrom(TIMER_QUEUE, count - ready.length))];
      },
      complete: async (attempts) => {
        for (const [queue, group] of byQueue(attempts)) await boss.complete(queue, group);
      },
      fail: async (attempts, reason) => {
        for (const [queue, group] of byQueue(attempts)) await boss.fail(queue, group, { reason });
      },
      touch: async (attempts) => {
        const lost: string[] = [];
        for (const [queue, group] of byQueue(attempts)) {
          // pg-boss types CommandResponse as {}; at run time it carries the count and the ids it touched.
          const result = (await boss.touch(queue, group)) as { affected?: number; settled?: string[] };
          if (result.affected === undefined || result.affected >= group.length || !result.settled) continue;
          const kept = new Set(result.settled);
          for (const attempt of group) if (!kept.has(attempt.id)) lost.push(attempt.id);
        }
        return lost;
      },
    };
  }

  /**
   * pg-boss's completion of `attempts` (fenced on each fetched attempt, as `complete` is) as CTEs to run inside
   * another statement, with their values; their $1… are numbered from 1. A worker's final write of a job carries
   * them, so the job's end and its queue entry's completion are one statement and one commit.
   */
  async completionCtes(attempts: QueueAttempt[]): Promise<{ ctes: string; values: unknown[] }> {
    const parts: string[] = [];
    const values: unknown[] = [];
    for (const [queue, group] of byQueue(attempts)) {
      let captured: { text: string; values: unknown[] } | null = null;
      const capture = {
        executeSql: async (text: string, given: unknown[] = []) => {
          captured = { text, values: given };
          return { rows: [{ count: 0, ids: [] }] };
        },
      };
      await this.boss.complete(queue, group, null, { db: capture });
      const { text, values: theirs } = captured ?? { text: '', values: [] };
      const ctes = completionCtesOf(text);
      // One CTE per queue: named apart, parameters numbered after the previous queue's.
      const offset = values.length;
      parts.push(ctes.replace(/^results AS/, `completed_${parts.length} AS`).replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`));
      values.push(...theirs);
    }
    return { ctes: parts.join(', '), values };
  }

  /** Stops pg-boss (a worker stops its claim loop first). */
  async stop(): Promise<void> {
    await this.boss.stop({ graceful: false, close: true });
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
    for (const queue of QUEUES) {
      const existing = await boss.getQueue(queue);
      if (existing) await boss.updateQueue(queue, QUEUE_SETTINGS);
      else await boss.createQueue(queue, QUEUE_SETTINGS);
    }
  } finally {
    await boss.stop({ graceful: false, close: true });
  }
}

/** Readiness: pg-boss's schema and our queue exist. */
export async function isQueueInstalled(db: Queryable): Promise<boolean> {
  const { rows } = await db
    .query<{ ok: boolean }>(`SELECT (SELECT count(*) FROM pgboss.queue WHERE name = ANY($1::text[])) = ${QUEUES.length} AS ok`, [[...QUEUES]])
    .catch(() => ({ rows: [{ ok: false }] }));
  return rows[0]?.ok === true;
}
