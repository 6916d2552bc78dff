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
import { StatementBatcher } from './statement-batcher.js';

/** A job row as one element of the batch statement's recordset (column names as in the table). */
export interface JobRow {
  id: string;
  workflow_name: string;
  workflow_version: number;
  model: string;
  input: unknown;
  plan: unknown;
  idempotency_key: string | null;
  api_key_id: string | null;
  replay_of: string | null;
  trigger: string | null;
  stream: boolean;
  trace_context: string | null;
}

/** Jobs per statement at most: ~2 KB of JSON each keeps a batch well under a megabyte. */
const MAX_BATCH = 128;
/** Statements in flight at once: one being committed while the next is on its way keeps the connection busy. */
const MAX_IN_FLIGHT = 2;

const ROWS_CTE = `mule_rows AS (
   INSERT INTO jobs (id, workflow_name, workflow_version, model, status, input, plan, idempotency_key, api_key_id, replay_of, trigger, stream, trace_context)
   SELECT r.id, r.workflow_name, r.workflow_version, r.model, 'queued', r.input, r.plan, r.idempotency_key, r.api_key_id, r.replay_of, r.trigger,
          r.stream, r.trace_context
     FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, workflow_name text, workflow_version int, model text, input jsonb, plan jsonb,
          idempotency_key text, api_key_id uuid, replay_of uuid, trigger text, stream boolean, trace_context text)
 )`;

/** Stores jobs and their queue entries; each call answers true when the workers' wake-up NOTIFY went with it. */
export class SubmitBatcher {
  private readonly batcher: StatementBatcher<JobRow, boolean>;

  constructor(queue: JobQueue, db: Queryable) {
    this.batcher = new StatementBatcher(
      async (rows, idle) => {
        await queue.sendMany(db, rows.map((row) => row.id), { ctes: ROWS_CTE, values: [JSON.stringify(rows)] }, idle ? CHANNELS.jobQueued : null);
        return rows.map(() => idle);
      },
      { maxBatch: MAX_BATCH, maxInFlight: MAX_IN_FLIGHT },
    );
  }

  submit(row: JobRow): Promise<boolean> {
    return this.batcher.write(row);
  }
}
