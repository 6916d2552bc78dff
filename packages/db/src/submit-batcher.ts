/**
 * Concurrent submits grouped into one statement and one commit. Each commit costs PostgreSQL a WAL flush and a
 * transaction, and each statement a round trip: with 32 clients submitting, one statement per job was most of
 * the api's database time. A submit is sent at once when nothing else is being written; submits that arrive
 * while a statement is in flight ride the next one together. Waiting for a running statement is the only delay
 * batching adds, and only under load.
 *
 * A batch is atomic: every job in it and its queue entry are stored, or none. A batch of several that fails (a
 * repeated Idempotency-Key, for one) is sent again one job per statement, so each caller gets its own answer.
 *
 * Idle, the one statement also carries the workers' wake-up NOTIFY (`notified: true`), which saves a round trip
 * on the sync path; busy, the caller announces after the commit, coalesced (a NOTIFY inside a commit holds a
 * global lock through it, so concurrent commits could not share a WAL flush).
 */
import type { Queryable } from './pool.js';
import type { JobQueue } from './queue.js';
import { CHANNELS } from './listener.js';
import { jobRowsStatement, type NewJob } from './job-rows.js';
import { StatementBatcher } from './statement-batcher.js';

/** Jobs per statement at most: ~2 KB of JSON each keeps a batch well under a megabyte. */
const MAX_BATCH = 128;
/** Statements in flight at once: one being committed while the next is on its way keeps the connection busy. */
const MAX_IN_FLIGHT = 2;


/** Stores jobs and their queue entries; each call answers true when the workers' wake-up NOTIFY went with it. */
export class SubmitBatcher {
  private readonly batcher: StatementBatcher<NewJob, boolean>;

  constructor(queue: JobQueue, db: Queryable) {
    this.batcher = new StatementBatcher(
      async (jobs, idle) => {
        await queue.sendMany(db, jobs.map((job) => job.id), jobRowsStatement(jobs), idle ? CHANNELS.jobQueued : null);
        return jobs.map(() => idle);
      },
      { maxBatch: MAX_BATCH, maxInFlight: MAX_IN_FLIGHT },
    );
  }

  submit(job: NewJob): Promise<boolean> {
    return this.batcher.write(job);
  }
}
