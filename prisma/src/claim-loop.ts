/**
 * A worker's claim loop over a queue's fetch / complete / fail / touch (pg-boss's, wired in queue.ts):
 * - fetches as many jobs as there are free slots, and fetches again at once while the last fetch came back full
 *   or a wake-up arrived meanwhile; otherwise sleeps until `wake()` or the backstop timer;
 * - completes finished jobs in batches (one statement in flight; what finishes meanwhile rides on the next);
 * - heartbeats every running job in one statement per interval, and aborts jobs whose claim was lost;
 * - on stop, waits out a grace period, then aborts what still runs and fails it back for a retry elsewhere.
 */
export interface QueueJob {
  jobId: string;
  /** 0 on the first claim; +1 each time the job is claimed again (after a crash or a lost lease). */
  retryCount: number;
  /** Aborted when the claim is lost (heartbeat refused) or the worker stops past its grace period. */
  signal: AbortSignal;
}

interface Claimed {
  queueId: string;
  jobId: string;
  retryCount: number;
}

export interface ClaimLoopOptions {
  slots: number;
  backstopMs: number;
  heartbeatMs: number;
  fetch(count: number): Promise<Claimed[]>;
  complete(queueIds: string[]): Promise<void>;
  fail(queueIds: string[], reason: string): Promise<void>;
  /** Refreshes the claims; returns the ids whose claim is gone. */
  touch(queueIds: string[]): Promise<string[]>;
  handler(job: QueueJob): Promise<void>;
  onError(error: Error): void;
}

const FAILED_FETCH_PAUSE_MS = 1000;

export class ClaimLoop {
  private readonly running = new Map<string, { controller: AbortController; done: Promise<void> }>();
  private stopping = false;
  private wakeRequested = true;
  private wakeUp: (() => void) | null = null;
  private loopDone: Promise<void> = Promise.resolve();
  private heartbeat: NodeJS.Timeout | null = null;
  private toComplete: string[] = [];
  private completing: Promise<void> | null = null;

  constructor(private readonly options: ClaimLoopOptions) {}

  start(): void {
    this.loopDone = this.run();
    this.heartbeat = setInterval(() => void this.touchAll(), this.options.heartbeatMs);
    this.heartbeat.unref();
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
      let claimed: Claimed[];
      try {
        claimed = await this.options.fetch(free);
      } catch (error) {
        this.options.onError(error as Error);
        await this.sleep(FAILED_FETCH_PAUSE_MS);
        continue;
      }
      for (const job of claimed) this.launch(job);
      if (claimed.length < free && !this.wakeRequested && !this.stopping) await this.sleep(this.options.backstopMs);
    }
  }

  private launch(job: Claimed): void {
    const controller = new AbortController();
    const done = this.options
      .handler({ jobId: job.jobId, retryCount: job.retryCount, signal: controller.signal })
      .then(
        () => this.completeLater(job.queueId),
        (error: Error) => {
          this.options.onError(error);
          return this.options.fail([job.queueId], error.message).catch((e: Error) => this.options.onError(e));
        },
      )
      .finally(() => {
        this.running.delete(job.queueId);
        // The last fetch filled every slot, so more may be waiting: look again now.
        this.wake();
      });
    this.running.set(job.queueId, { controller, done });
  }

  private completeLater(queueId: string): void {
    this.toComplete.push(queueId);
    this.completing ??= this.flushCompletions();
  }

  private async flushCompletions(): Promise<void> {
    try {
      while (this.toComplete.length > 0) {
        const ids = this.toComplete.splice(0, 500);
        // A failed completion leaves the job active; its heartbeat stops and it is retried, and the retry finds
        // the job row finished and only re-announces it.
        await this.options.complete(ids).catch((error: Error) => this.options.onError(error));
      }
    } finally {
      this.completing = null;
    }
  }

  private async touchAll(): Promise<void> {
    const ids = [...this.running.keys()];
    if (ids.length === 0) return;
    try {
      for (const lost of await this.options.touch(ids)) this.running.get(lost)?.controller.abort(new Error('claim lost'));
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
    const left = [...this.running.keys()];
    if (left.length > 0) {
      for (const id of left) this.running.get(id)?.controller.abort(new Error('worker stopping'));
      await this.options.fail(left, 'the worker stopped before the job finished').catch((e: Error) => this.options.onError(e));
      await all();
    }
    if (this.heartbeat) clearInterval(this.heartbeat);
    while (this.completing) await this.completing;
  }
}
