/**
 * A worker's claim loop over the queue's fetch / complete / fail / touch (`JobQueue.claims()` in the db package):
 * - fetches as many jobs as there are free slots, and fetches again at once while the last fetch came back full
 *   or a wake-up arrived meanwhile; otherwise sleeps until `wake()` or the backstop timer;
 * - completes finished jobs in batches (one statement in flight; what finishes meanwhile rides on the next);
 * - heartbeats every running job in one statement per interval, and aborts jobs whose claim was lost, or whose
 *   heartbeat has not succeeded for long enough that another worker could soon take the job over;
 * - on stop, waits out a grace period, then aborts what still runs and fails it back for a retry elsewhere.
 *
 * Every complete / fail / touch names the attempt it was fetched as (`{id, retryCount}`), so a worker whose claim
 * lapsed cannot settle or keep alive the attempt another worker holds now.
 */
import type { ClaimedEntry, ClaimedJob, QueueAttempt, QueueClaims } from '@mule/db';

export interface QueueJob {
  jobId: string;
  /** The queue the entry came from (a parked job's wake-up comes from the timers queue). */
  queue: string;
  /** The queue entry fetched: the job is claimed only while it is the job's current one (jobs.queue_id). */
  queueId: string;
  /** 0 on the first claim; +1 each time the job is claimed again (after a crash or a lost lease). */
  retryCount: number;
  /** The job's row as the fetch claimed it (null: not claimable); absent when the fetch did not claim rows. */
  claimed?: ClaimedJob | null;
  /** Aborted when the claim is lost (heartbeat refused or overdue) or the worker stops past its grace period. */
  signal: AbortSignal;
}

export interface ClaimLoopOptions extends QueueClaims<ClaimedJob | null> {
  slots: number;
  backstopMs: number;
  heartbeatMs: number;
  /** Resolves 'settled' when the job's own final write completed its queue entry: nothing is left to complete. */
  handler(job: QueueJob): Promise<'settled' | undefined>;
  onError(error: Error): void;
  /** A running job was aborted because its claim is gone or its heartbeat is overdue. */
  onClaimLost?(jobId: string, reason: string): void;
}

const FAILED_FETCH_PAUSE_MS = 1000;

/**
 * A job is given up this long before its heartbeat window ends, counted from when its last successful heartbeat
 * (or its fetch) was sent. pg-boss's supervisor can fail the claim only once the window has passed since the
 * heartbeat the database recorded, which is no earlier than when we sent it, and another worker can fetch it only
 * after that (plus the retry delay). The check runs every WATCHDOG_MS, so a job is aborted at least 2000 - 500 =
 * 1.5 s before its claim can even be failed. With the smallest window (10 s) and a heartbeat every 3 s, two
 * heartbeats in a row may fail (or hang) before a job is given up at 8 s.
 */
const GIVE_UP_BEFORE_WINDOW_END_MS = 2000;
const WATCHDOG_MS = 500;

interface Running {
  attempt: QueueAttempt;
  jobId: string;
  controller: AbortController;
  done: Promise<void>;
  /** performance.now() when the last heartbeat that succeeded for this attempt (or its fetch) was sent. */
  aliveAt: number;
  giveUpAfterMs: number;
  /** Aborted by this loop (claim lost or overdue): the job is failed back, never completed. */
  lost: boolean;
  /** Already failed back by stop(). */
  handedBack: boolean;
}

export class ClaimLoop {
  private readonly running = new Map<string, Running>();
  private stopping = false;
  private wakeRequested = true;
  /** The last fetch came back with as many jobs as it asked for: more may be queued. */
  private lastFetchFull = false;
  private wakeUp: (() => void) | null = null;
  private loopDone: Promise<void> = Promise.resolve();
  private heartbeat: NodeJS.Timeout | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private toComplete: QueueAttempt[] = [];
  private completing: Promise<void> | null = null;

  constructor(private readonly options: ClaimLoopOptions) {}

  start(): void {
    this.loopDone = this.run();
    this.heartbeat = setInterval(() => void this.touchAll(), this.options.heartbeatMs);
    this.heartbeat.unref();
    this.watchdog = setInterval(() => this.abortOverdue(), WATCHDOG_MS);
    this.watchdog.unref();
  }

  wake(): void {
    this.wakeRequested = true;
    this.wakeUp?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    }).then(() => {
      this.wakeUp = null;
    });
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      const free = this.options.slots - this.running.size;
      if (free === 0) {
        // A finishing job wakes us; the backstop only covers a bug.
        await this.sleep(this.options.backstopMs);
        continue;
      }
      this.wakeRequested = false;
      let claimed: Array<ClaimedEntry & { claimed?: ClaimedJob | null }>;
      // The fetch stamps each claim's heartbeat; it cannot be earlier than this.
      const fetchedAt = performance.now();
      try {
        claimed = await this.options.fetch(free);
      } catch (error) {
        this.options.onError(error as Error);
        await this.sleep(FAILED_FETCH_PAUSE_MS);
        continue;
      }
      this.lastFetchFull = claimed.length === free;
      for (const job of claimed) this.launch(job, fetchedAt);
      if (claimed.length < free && !this.wakeRequested && !this.stopping) await this.sleep(this.options.backstopMs);
    }
  }

  private launch(job: ClaimedEntry & { claimed?: ClaimedJob | null }, fetchedAt: number): void {
    const controller = new AbortController();
    const attempt = { id: job.queueId, retryCount: job.retryCount, queue: job.queue };
    const entry: Running = {
      attempt,
      jobId: job.jobId,
      controller,
      done: Promise.resolve(),
      aliveAt: fetchedAt,
      giveUpAfterMs: Math.max(1, job.heartbeatSeconds * 1000 - GIVE_UP_BEFORE_WINDOW_END_MS),
      lost: false,
      handedBack: false,
    };
    entry.done = this.options
      .handler({ jobId: job.jobId, queue: job.queue, queueId: job.queueId, retryCount: job.retryCount, claimed: job.claimed, signal: controller.signal })
      .then(
        (result) => {
          if (entry.handedBack) return;
          // Given up without knowing the claim is gone (a heartbeat that failed or hung): hand the job back so a
          // retry resumes it. If the claim is gone, the fenced fail changes nothing.
          if (entry.lost) return this.failBack([attempt], 'the worker lost its claim on the job');
          if (result !== 'settled') this.completeLater(attempt);
        },
        (error: Error) => {
          this.options.onError(error);
          if (!entry.handedBack) return this.failBack([attempt], error.message);
        },
      )
      .finally(() => {
        this.running.delete(job.queueId);
        // More may be waiting when the last fetch filled every slot, or when a NOTIFY came while none was free:
        // look again now. Otherwise the queue was drained, and a fetch now would find nothing (a sync job's worker
        // did one empty fetch per job this way: ~0.4 ms of PostgreSQL each).
        if (this.lastFetchFull || this.wakeRequested) this.wake();
      });
    this.running.set(job.queueId, entry);
  }

  private failBack(attempts: QueueAttempt[], reason: string): Promise<void> {
    return this.options.fail(attempts, reason).catch((e: Error) => this.options.onError(e));
  }

  private loseClaim(entry: Running, reason: string): void {
    if (entry.lost || entry.handedBack) return;
    entry.lost = true;
    this.options.onClaimLost?.(entry.jobId, reason);
    entry.controller.abort(new Error(reason));
  }

  /** Gives up jobs whose heartbeat has not succeeded for too long (the database unreachable, a touch that hangs). */
  private abortOverdue(): void {
    const now = performance.now();
    for (const entry of this.running.values()) {
      if (now - entry.aliveAt > entry.giveUpAfterMs) {
        this.loseClaim(entry, `no heartbeat succeeded for ${Math.round(now - entry.aliveAt)} ms; another worker may take the job over`);
      }
    }
  }

  private completeLater(attempt: QueueAttempt): void {
    this.toComplete.push(attempt);
    this.completing ??= this.flushCompletions();
  }

  private async flushCompletions(): Promise<void> {
    try {
      while (this.toComplete.length > 0) {
        const attempts = this.toComplete.splice(0, 500);
        // A failed completion leaves the job active; its heartbeat stops and it is retried, and the retry finds
        // the job row finished and only re-announces it.
        await this.options.complete(attempts).catch((error: Error) => this.options.onError(error));
      }
    } finally {
      this.completing = null;
    }
  }

  private async touchAll(): Promise<void> {
    const entries = [...this.running.values()].filter((entry) => !entry.lost && !entry.handedBack);
    if (entries.length === 0) return;
    // The database stamps the heartbeat after this: a success keeps the claim at least until sentAt + window.
    const sentAt = performance.now();
    try {
      const lost = new Set(await this.options.touch(entries.map((entry) => entry.attempt)));
      for (const entry of entries) {
        if (lost.has(entry.attempt.id)) this.loseClaim(entry, 'the queue refused its heartbeat: the claim is gone');
        else entry.aliveAt = Math.max(entry.aliveAt, sentAt);
      }
    } catch (error) {
      this.options.onError(error as Error);
    }
  }

  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.wakeUp?.();
    await this.loopDone;
    const all = () => Promise.allSettled([...this.running.values()].map((entry) => entry.done));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all(), new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    const left = [...this.running.values()];
    if (left.length > 0) {
      for (const entry of left) {
        entry.handedBack = true;
        entry.controller.abort(new Error('worker stopping'));
      }
      await this.failBack(left.map((entry) => entry.attempt), 'the worker stopped before the job finished');
      await all();
    }
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.watchdog) clearInterval(this.watchdog);
    while (this.completing) await this.completing;
  }
}
