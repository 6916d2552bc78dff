/**
 * Calls that each need a write, grouped so that the ones made while a statement is in flight share the next
 * statement and commit (each commit costs PostgreSQL a transaction and a WAL flush). A call is sent at once when
 * nothing else is being written, so batching only delays a write behind a running one, and only under load. At
 * most `maxInFlight` statements run at once: one being committed while the next is on its way.
 *
 * A batch of several that fails is sent again one item per statement, so one item's failure (a repeated key, a
 * row the database refuses, a deadlock) stays its own. `run` is told whether the statement is the only write of
 * the process (`idle`): then a NOTIFY may go inside its commit without holding up anyone else's.
 */
interface Pending<Item, Result> {
  item: Item;
  resolve(result: Result): void;
  reject(error: unknown): void;
}

export class StatementBatcher<Item, Result> {
  private queued: Array<Pending<Item, Result>> = [];
  private inFlight = 0;

  constructor(
    /** One statement for `items`; its results in the same order. */
    private readonly run: (items: Item[], idle: boolean) => Promise<Result[]>,
    private readonly limits: { maxBatch: number; maxInFlight: number },
  ) {}

  write(item: Item): Promise<Result> {
    return new Promise((resolve, reject) => {
      this.queued.push({ item, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.limits.maxInFlight && this.queued.length > 0) {
      const batch = this.queued.splice(0, this.limits.maxBatch);
      const idle = this.inFlight === 0 && this.queued.length === 0 && batch.length === 1;
      this.inFlight++;
      void this.send(batch, idle).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async send(batch: Array<Pending<Item, Result>>, idle: boolean): Promise<void> {
    try {
      const results = await this.run(batch.map((p) => p.item), idle);
      batch.forEach((p, i) => p.resolve(results[i]!));
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(error);
        return;
      }
      await Promise.all(
        batch.map((p) =>
          this.run([p.item], false).then(
            (results) => p.resolve(results[0]!),
            (e: unknown) => p.reject(e),
          ),
        ),
      );
    }
  }
}
