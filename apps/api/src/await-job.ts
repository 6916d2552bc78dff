/**
 * Synchronous calls wait here: a map of waiters by job id, fed by the api's one LISTEN connection (main.ts). A
 * worker's NOTIFY (payload: job ids) wakes us, the row decides (one query per burst of notifications, for every
 * job they name). A read that fails (pool timeout under load, a connection cut) keeps its ids and is tried again
 * with backoff. After a reconnect every waiter's row is read again, since notifications sent meanwhile are lost;
 * and every MULE_SYNC_RECHECK_MS one query re-reads all waiters' rows, so a NOTIFY lost any other way costs
 * seconds, not MULE_SYNC_TIMEOUT_MS.
 */
import { parseFinished, readOutcomes, type JobOutcome, type Pool } from '@mule/db';
import { isFinished } from '@mule/core';
import type { Logger } from '@mule/observability';

/** A failed read is tried again after 100 ms, doubling up to 5 s (an unreachable database is not hammered). */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 5_000;

type Waiter = (outcome: JobOutcome) => void;

export type WaitResult =
  | { kind: 'finished'; outcome: JobOutcome }
  | { kind: 'timeout' }
  | { kind: 'aborted' }
  /** The api is stopping: the caller is answered, the job goes on. */
  | { kind: 'shutdown' };

export class JobWaiters {
  private readonly waiting = new Map<string, Set<Waiter>>();
  private readonly stoppers = new Set<() => void>();
  private readonly pending = new Set<string>();
  private flushScheduled = false;
  private retryMs = 0;
  private readonly recheck: NodeJS.Timeout;

  constructor(
    private readonly pool: Pool,
    private readonly log: Logger,
    recheckMs: number,
  ) {
    this.recheck = setInterval(() => {
      if (this.waiting.size > 0) this.check([...this.waiting.keys()]);
    }, recheckMs);
    this.recheck.unref();
  }

  /** Stops the periodic re-read (shutdown). */
  close(): void {
    clearInterval(this.recheck);
  }

  /**
   * A `mule_job_finished` payload (finished-payload.ts in the db package): a job that comes with its outcome is
   * answered at once; the others are read.
   */
  onFinished(payload: string): void {
    const read: string[] = [];
    for (const { id, outcome } of parseFinished(payload, (id) => this.waiting.has(id))) {
      if (outcome && isFinished(outcome.status)) this.settle(outcome);
      else read.push(id);
    }
    if (read.length > 0) this.check(read);
  }

  private settle(outcome: JobOutcome): void {
    for (const waiter of [...(this.waiting.get(outcome.id) ?? [])]) waiter(outcome);
  }

  /** After the listener reconnected: notifications may have been missed, so every waiter's row is read again. */
  recheckAll(): void {
    this.log.info({ waiting: this.waiting.size }, 'job listener reconnected; re-reading waiting jobs');
    this.check([...this.waiting.keys()]);
  }

  /**
   * Registers a waiter for `jobId`. Register before the job can finish (before the submit commits), or call
   * `check([jobId])` after registering for a job that already existed.
   */
  wait(jobId: string, timeoutMs: number, signal?: AbortSignal): Promise<WaitResult> {
    return new Promise((resolve) => {
      const done = (result: WaitResult) => {
        clearTimeout(timer);
        this.stoppers.delete(onStop);
        signal?.removeEventListener('abort', onAbort);
        const set = this.waiting.get(jobId);
        set?.delete(waiter);
        if (set?.size === 0) this.waiting.delete(jobId);
        resolve(result);
      };
      const waiter: Waiter = (outcome) => done({ kind: 'finished', outcome });
      const onAbort = () => done({ kind: 'aborted' });
      const onStop = () => done({ kind: 'shutdown' });
      this.stoppers.add(onStop);
      const timer = setTimeout(() => done({ kind: 'timeout' }), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      let set = this.waiting.get(jobId);
      if (!set) this.waiting.set(jobId, (set = new Set()));
      set.add(waiter);
    });
  }

  /** Answers every waiting caller now (shutdown); their jobs go on. */
  releaseAll(): void {
    for (const stop of [...this.stoppers]) stop();
  }

  get size(): number {
    return this.stoppers.size;
  }

  /** Reads the named jobs (coalesced per tick) and wakes the waiters of those that finished. */
  check(jobIds: string[]): void {
    for (const id of jobIds) this.pending.add(id);
    if (this.flushScheduled || this.pending.size === 0) return;
    this.flushScheduled = true;
    setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    this.flushScheduled = false;
    const ids = [...this.pending].filter((id) => this.waiting.has(id));
    this.pending.clear();
    if (ids.length === 0) return;
    let outcomes: JobOutcome[];
    try {
      outcomes = await readOutcomes(this.pool, ids);
    } catch (error) {
      // Keep the ids: their callers wait for this read. Ids added meanwhile go in the same retry.
      this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs === 0 ? RETRY_FIRST_MS : this.retryMs * 2);
      this.log.warn({ err: (error as Error).message, jobs: ids.length, retry_ms: this.retryMs }, 'could not read finished jobs; retrying');
      for (const id of ids) this.pending.add(id);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setTimeout(() => void this.flush(), this.retryMs).unref();
      }
      return;
    }
    this.retryMs = 0;
    for (const outcome of outcomes) if (isFinished(outcome.status)) this.settle(outcome);
  }
}
