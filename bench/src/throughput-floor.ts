/**
 * The throughput floor: the lifecycle of a one-step Mule job in plain SQL, with nothing of Mule (no HTTP, no
 * pg-boss, no plan), under the same load as the async figure: `clients` concurrent submitters on a pool the size
 * of the api's (20), and `claimers` processes of `slots` slots each, batching as Mule's workers do
 * (throughput-floor-claimer.ts). Per job:
 * - submit: the job row and its queue entry in ONE statement; one coalesced NOTIFY after the commits;
 * - claim: a batch of entries per statement (FOR UPDATE SKIP LOCKED), their jobs marked running in it;
 * - result: the step row and the job completed in ONE statement;
 * - queue entries completed in batches, then one coalesced NOTIFY of the finished ids.
 * Tables have the indexes that job and queue lookups need, and uuid keys made by the submitter, as Mule's are.
 * Mule's async figure divided by this one says what Mule adds to the database's own cost of the same work.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export interface FloorThroughput {
  jobs: number;
  clients: number;
  claimers: number;
  slots: number;
  submit_per_s: number;
  completed_per_s: number;
  seconds: number;
}

export async function prepareThroughputFloor(databaseUrl: string): Promise<void> {
  const setup = new pg.Client({ connectionString: databaseUrl });
  await setup.connect();
  await setup.query(`
    CREATE TABLE IF NOT EXISTS floor_jobs (
      id uuid PRIMARY KEY, status text NOT NULL, input jsonb NOT NULL, output jsonb, attempts int NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now(), started_at timestamptz, completed_at timestamptz);
    CREATE INDEX IF NOT EXISTS floor_jobs_created_idx ON floor_jobs (created_at DESC, id DESC);
    CREATE TABLE IF NOT EXISTS floor_steps (
      id bigserial PRIMARY KEY, job_id uuid NOT NULL REFERENCES floor_jobs (id) ON DELETE CASCADE, step_index int NOT NULL,
      attempt int NOT NULL, status text NOT NULL, input jsonb, output jsonb,
      started_at timestamptz NOT NULL DEFAULT now(), completed_at timestamptz);
    CREATE UNIQUE INDEX IF NOT EXISTS floor_steps_job_idx ON floor_steps (job_id, step_index, attempt);
    CREATE TABLE IF NOT EXISTS floor_queue (
      id uuid PRIMARY KEY, job_id uuid NOT NULL, state text NOT NULL DEFAULT 'created',
      start_after timestamptz NOT NULL DEFAULT now(), created_on timestamptz NOT NULL DEFAULT now(),
      started_on timestamptz, completed_on timestamptz);
    CREATE INDEX IF NOT EXISTS floor_queue_fetch_idx ON floor_queue (created_on, id) WHERE state = 'created';`);
  await setup.end();
}

function startClaimer(databaseUrl: string, slots: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./throughput-floor-claimer.js', import.meta.url)), databaseUrl, String(slots)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`floor claimer exited (${code}) before it was ready`)));
    child.stdout!.once('data', () => resolve(child));
  });
}

export interface ThroughputFloor {
  /** The claimer processes, for CPU accounting. */
  pids: number[];
  /** Submits `jobs` jobs by the floor's clients and waits until all are finished. */
  run(jobs: number): Promise<FloorThroughput>;
  close(): Promise<void>;
}

/** Starts the claimers on a database prepared by prepareThroughputFloor. */
export async function startThroughputFloor(databaseUrl: string, clients: number, claimers: number, slots: number): Promise<ThroughputFloor> {
  const children = await Promise.all(Array.from({ length: claimers }, () => startClaimer(databaseUrl, slots)));
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 20 });
  const listener = new pg.Client({ connectionString: databaseUrl });
  await listener.connect();
  return {
    pids: children.map((child) => child.pid!),
    run: async (jobs) => ({ jobs, clients, claimers, slots, ...(await run(pool, listener, jobs, clients)) }),
    close: async () => {
      for (const child of children) child.kill('SIGTERM');
      await listener.end();
      await pool.end();
    },
  };
}

async function run(pool: pg.Pool, listener: pg.Client, jobs: number, clients: number) {
  const finished = new Set<string>();
  const accepted = new Set<string>();
  let lastFinishedAt = 0;
  let allFinished: () => void = () => {};
  const drained = new Promise<void>((resolve) => (allFinished = resolve));
  const onNotification = (message: pg.Notification) => {
    if (message.channel !== 'floor_finished') return;
    for (const id of (message.payload ?? '').split(',')) finished.add(id);
    lastFinishedAt = performance.now();
    if (accepted.size === jobs && [...accepted].every((id) => finished.has(id))) allFinished();
  };
  listener.on('notification', onNotification);
  await listener.query('LISTEN floor_finished');

  // One wake-up NOTIFY in flight at a time, after the commits, as the api sends mule_job_queued.
  let notifying = false;
  let notifyAgain = false;
  const notifyQueued = async (): Promise<void> => {
    if (notifying) {
      notifyAgain = true;
      return;
    }
    notifying = true;
    try {
      do {
        notifyAgain = false;
        await pool.query(`SELECT pg_notify('floor_queued', '')`);
      } while (notifyAgain);
    } finally {
      notifying = false;
    }
  };

  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < jobs) {
        next++;
        const id = randomUUID();
        await pool.query(
          `WITH job AS (INSERT INTO floor_jobs (id, status, input) VALUES ($1, 'queued', $2))
           INSERT INTO floor_queue (id, job_id) VALUES ($3, $1)`,
          [id, JSON.stringify({ messages: [{ role: 'user', content: 'throughput' }] }), randomUUID()],
        );
        accepted.add(id);
        void notifyQueued();
      }
    }),
  );
  const submitted = performance.now();
  if ([...accepted].every((id) => finished.has(id))) allFinished();
  await drained;
  listener.off('notification', onNotification);
  await listener.query('UNLISTEN floor_finished');
  const round = (x: number) => Math.round(x);
  return {
    submit_per_s: round(jobs / ((submitted - started) / 1000)),
    completed_per_s: round(jobs / ((lastFinishedAt - started) / 1000)),
    seconds: Math.round((lastFinishedAt - started) / 10) / 100,
  };
}
