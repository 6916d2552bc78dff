/**
 * Transitions of different jobs written at the same time share one statement and one commit. A worker with 16
 * slots ends many one-step jobs within the same millisecond, and each commit costs PostgreSQL a transaction and
 * a WAL flush. A transition is sent at once when nothing else is being written; those that come while a
 * statement is in flight ride the next one together, so batching only delays a write behind a running one, and
 * only under load. Every job in a batch is fenced on its own claim (job-graph-writes.ts), and each caller still
 * gets its write stored before it goes on.
 *
 * A batch of several that fails (a deadlock with a cancel, a row the database refuses) is sent again one job per
 * statement, so a job's failure stays its own. Idle, a job's end carries its `mule_job_finished` NOTIFY inside
 * its commit; busy, it never does (see writeTransitionNotifying).
 */
import type { Queryable } from './pool.js';
import { writeTransitions, type ClaimedWrites, type Completions, type TransitionWrites } from './job-graph-writes.js';
import { StatementBatcher } from './statement-batcher.js';
import type { Claim } from './jobs-repo.js';
import type { QueueAttempt } from './queue.js';

/** Jobs per statement at most. */
const MAX_BATCH = 64;
/** Statements in flight at once: one being committed while the next is on its way. */
const MAX_IN_FLIGHT = 2;

/** `settled`: the item's queue entry was completed in the same commit. */
export interface WriteResult {
  owned: boolean;
  notified: boolean;
  settled: boolean;
}

interface Item {
  item: ClaimedWrites;
  /**
   * Its job-end NOTIFY payload, made only when it is sent: inside the commit when the statement is the process's
   * only write (busy, encoding each ended job's outcome would be wasted work).
   */
  notify: (() => string) | null;
}

export class TransitionBatcher {
  private readonly batcher: StatementBatcher<Item, WriteResult>;
  private completions: Completions | null = null;

  constructor(db: Queryable) {
    this.batcher = new StatementBatcher(
      async (items, idle) => {
        const writes = items.map((i) => i.item);
        const settle = writes.flatMap((item) => (item.settle ? [item.settle] : []));
        const completion = settle.length > 0 && this.completions ? await this.completions(settle) : null;
        // Idle means a lone item and nothing else being written: only then does its NOTIFY go inside the commit.
        const notify = idle ? (items[0]!.notify?.() ?? null) : null;
        const { owned, notified } = await writeTransitions(db, writes, notify, completion);
        return writes.map((item) => ({ owned: owned.has(item.claim.jobId), notified, settled: completion !== null && item.settle !== undefined }));
      },
      { maxBatch: MAX_BATCH, maxInFlight: MAX_IN_FLIGHT },
    );
  }

  /**
   * Writes `item`; `notify` is its job-end NOTIFY payload. `completions` renders the completion of items' queue
   * entries (`item.settle`) for the same statement.
   */
  write(item: ClaimedWrites, notify: (() => string) | null, completions?: Completions): Promise<WriteResult> {
    if (completions) this.completions = completions;
    return this.batcher.write({ item, notify });
  }
}

/**
 * Writes one transition; false when the job is no longer running under this claim (cancelled, claimed again,
 * or its status moved on by the api, e.g. a resume): nothing is changed then, and the driver stops. Shares its
 * statement and commit with other jobs' transitions written at the same time (transition-batcher.ts).
 */
export async function writeTransition(db: Queryable, claim: Claim, writes: TransitionWrites): Promise<boolean> {
  return (await batcherFor(db).write({ claim, writes }, null)).owned;
}

/**
 * writeTransition for a transition that ends the job, with the `mule_job_finished` NOTIFY (`payload`) inside the
 * same statement when nothing else of this process is being written: the waiting api hears of it at the commit,
 * a round trip sooner. Busy, it is left to the caller's coalesced NOTIFY after the commit (a NOTIFY holds a global
 * lock through its commit, so concurrent commits with one could not share a WAL flush). `notified`: it was sent.
 * With `settle`, the job's queue entry is completed by the same statement (`settled`), busy or idle.
 */
export function writeTransitionNotifying(
  db: Queryable,
  claim: Claim,
  writes: TransitionWrites,
  payload: (() => string) | null,
  settle?: { attempt: QueueAttempt; completions: Completions },
): Promise<WriteResult> {
  return batcherFor(db).write({ claim, writes, ...(settle ? { settle: settle.attempt } : {}) }, payload, settle?.completions);
}

const batchers = new WeakMap<Queryable, TransitionBatcher>();

function batcherFor(db: Queryable): TransitionBatcher {
  let batcher = batchers.get(db);
  if (!batcher) batchers.set(db, (batcher = new TransitionBatcher(db)));
  return batcher;
}
