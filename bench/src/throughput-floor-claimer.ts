/**
 * One claimer of the throughput floor (throughput-floor.ts), run as its own process like a worker: `slots` jobs
 * at once on a pool of slots + 3 connections (a worker's pool), the same loop shape as the worker's claim loop:
 * - fetch as many entries as there are free slots in ONE statement (FOR UPDATE SKIP LOCKED, which also marks
 *   their jobs running), again at once while a fetch comes back full, else sleep until a NOTIFY or 2 s;
 * - per job ONE statement: the step's row with its result, and the job completed;
 * - queue entries completed in batches (one statement in flight, what finishes meanwhile rides on the next);
 * - one coalesced NOTIFY of the finished job ids after those commits.
 * Argv: databaseUrl slots.
 */
import pg from 'pg';

const [databaseUrl, slotsArg] = process.argv.slice(2);
const slots = Number(slotsArg ?? '16');
const pool = new pg.Pool({ connectionString: databaseUrl, max: slots + 3 });
const listener = new pg.Client({ connectionString: databaseUrl });
await listener.connect();

const BACKSTOP_MS = 2000;
let running = 0;
let wakeRequested = true;
let wakeUp: (() => void) | null = null;
let stopping = false;

function wake(): void {
  wakeRequested = true;
  wakeUp?.();
}

function sleep(ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      wakeUp = null;
      resolve();
    }
    wakeUp = done;
  });
}

let toComplete: { entry: string; job: string }[] = [];
let completing: Promise<void> | null = null;

async function flushCompletions(): Promise<void> {
  try {
    while (toComplete.length > 0) {
      const batch = toComplete.splice(0, 500);
      await pool.query(`UPDATE floor_queue SET state = 'completed', completed_on = now() WHERE id = ANY($1::uuid[])`, [batch.map((b) => b.entry)]);
      // NOTIFY payloads stop at 8000 bytes: 200 ids of 37 characters each stay well under.
      for (let i = 0; i < batch.length; i += 200) {
        await pool.query(`SELECT pg_notify('floor_finished', $1)`, [
          batch
            .slice(i, i + 200)
            .map((b) => b.job)
            .join(','),
        ]);
      }
    }
  } finally {
    completing = null;
  }
}

async function runJob(entry: string, job: string, input: unknown): Promise<void> {
  // The step "runs" in no time: the floor is what the database round trips cost.
  await pool.query(
    `WITH step AS (
       INSERT INTO floor_steps (job_id, step_index, attempt, status, input, output, completed_at)
       VALUES ($1, 0, 1, 'completed', $2, $2, now())
     )
     UPDATE floor_jobs SET status = 'completed', output = $2, completed_at = now() WHERE id = $1`,
    [job, JSON.stringify(input)],
  );
  toComplete.push({ entry, job });
  completing ??= flushCompletions();
}

async function loop(): Promise<void> {
  while (!stopping) {
    const free = slots - running;
    if (free === 0) {
      await sleep(BACKSTOP_MS);
      continue;
    }
    wakeRequested = false;
    const { rows } = await pool.query<{ entry: string; job: string; input: unknown }>(
      `WITH entry AS (
         UPDATE floor_queue q SET state = 'active', started_on = now()
          WHERE q.id IN (SELECT id FROM floor_queue WHERE state = 'created' AND start_after <= now()
                          ORDER BY created_on, id LIMIT $1 FOR UPDATE SKIP LOCKED)
          RETURNING q.id, q.job_id
       ), claimed AS (
         UPDATE floor_jobs j SET status = 'running', attempts = attempts + 1, started_at = now()
           FROM entry e WHERE j.id = e.job_id
          RETURNING j.id, j.input, e.id AS entry
       )
       SELECT entry, id AS job, input FROM claimed`,
      [free],
    );
    for (const row of rows) {
      running++;
      void runJob(row.entry, row.job, row.input)
        .catch((error: unknown) => process.stderr.write(`floor claimer: ${String(error)}\n`))
        .finally(() => {
          running--;
          wake();
        });
    }
    if (rows.length < free && !wakeRequested && !stopping) await sleep(BACKSTOP_MS);
  }
}

listener.on('notification', () => wake());
await listener.query('LISTEN floor_queued');
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  stopping = true;
  wake();
  void Promise.allSettled([listener.end(), pool.end()]).then(() => process.exit(0));
});
await loop();
