/**
 * Transitions of many jobs written at once share statements, and each stays fenced on its own claim: a stale
 * claim in a batch changes nothing of its job while the others are stored, and a job-end NOTIFY goes inside the
 * commit only when the write is alone, and a job's end completes its queue entry in the same statement.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../../test/support/database.js';
import type { TransitionWrites } from './job-graph-writes.js';
import { writeTransition, writeTransitionNotifying } from './transition-batcher.js';
import { insertJob } from './job-submit.js';
import { createPool, type Pool, type Queryable } from './pool.js';
import { CLAIM_ON_FETCH, claimJob } from './jobs-repo.js';
import { JobQueue } from './queue.js';

let db: TestDatabase;
let pool: Pool;
let queue: JobQueue;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool({ connectionString: db.url, max: 4 });
  queue = await JobQueue.start({ pool, role: 'api', leaseSeconds: 30 });
});

afterAll(async () => {
  await queue?.stop();
  await pool?.end();
  await db?.drop();
});

const plan = { steps: [{ id: 'a', type: 'wasm' }] } as never;

/** A claimed job whose step 0 runs (claimJob starts it). */
async function claimedJob(): Promise<{ jobId: string; claim: number }> {
  const id = randomUUID();
  await insertJob(queue, pool, { id, workflow: 'w', version: 1, model: 'workflow/w', input: { messages: [] }, plan, idempotencyKey: null, apiKeyId: null });
  const job = await claimJob(pool, id);
  expect(job?.firstStarted).toBe(true);
  return { jobId: id, claim: job!.attempts };
}

const completes = (n: number): TransitionWrites => ({
  ends: [{ index: 0, item: null, attempt: 1, status: 'completed', output: { n }, durationMs: 1 }],
  starts: [],
  job: { status: 'completed', output: { n } },
});

async function rows(ids: string[]): Promise<Array<{ id: string; status: string; output: unknown; step: string }>> {
  const { rows } = await pool.query(
    `SELECT j.id, j.status, j.output, (SELECT s.status FROM job_steps s WHERE s.job_id = j.id AND s.step_index = 0) AS step
       FROM jobs j WHERE j.id = ANY($1::uuid[])`,
    [ids],
  );
  return rows;
}

test('transitions written at once share statements; a stale claim in the batch changes nothing of its job', async () => {
  let statements = 0;
  const counting = { query: (...args: Parameters<Pool['query']>) => (statements++, pool.query(...args)) } as unknown as Queryable;
  const jobs = await Promise.all(Array.from({ length: 20 }, () => claimedJob()));
  const stale = jobs[7]!;
  const results = await Promise.all(
    jobs.map((job, n) => writeTransition(counting, job === stale ? { ...job, claim: job.claim + 1 } : job, completes(n))),
  );
  expect(results.filter((owned) => owned)).toHaveLength(19);
  expect(results[7]).toBe(false);
  expect(statements).toBeLessThan(10);
  const stored = new Map((await rows(jobs.map((job) => job.jobId))).map((row) => [row.id, row]));
  jobs.forEach((job, n) => {
    const row = stored.get(job.jobId)!;
    if (job === stale) expect(row).toMatchObject({ status: 'running', output: null, step: 'running' });
    else expect(row).toMatchObject({ status: 'completed', output: { n }, step: 'completed' });
  });
});

test("a job's end written alone carries its NOTIFY inside the commit", async () => {
  const listener = new pg.Client({ connectionString: db.url });
  await listener.connect();
  const heard: string[] = [];
  listener.on('notification', (message) => heard.push(message.payload ?? ''));
  await listener.query('LISTEN mule_job_finished');
  try {
    const job = await claimedJob();
    expect(await writeTransitionNotifying(pool, job, completes(1), () => job.jobId)).toEqual({ owned: true, notified: true, settled: false });
    const stale = await claimedJob();
    expect(await writeTransitionNotifying(pool, { ...stale, claim: stale.claim + 1 }, completes(2), () => stale.jobId)).toEqual({ owned: false, notified: false, settled: false });
    await listener.query('SELECT 1');
    expect(heard).toEqual([job.jobId]);
  } finally {
    await listener.end();
  }
});

test("a job's final write completes its queue entry in the same statement, fenced on the fetched attempt", async () => {
  const ids: string[] = [randomUUID(), randomUUID()];
  for (const id of ids) {
    await insertJob(queue, pool, { id, workflow: 'w', version: 1, model: 'workflow/w', input: { messages: [] }, plan, idempotencyKey: null, apiKeyId: null });
  }
  const fetched = (await queue.claims(CLAIM_ON_FETCH).fetch(100)).filter((entry) => ids.includes(entry.jobId));
  expect(fetched).toHaveLength(2);
  const completions = (attempts: Parameters<JobQueue['completionCtes']>[0]) => queue.completionCtes(attempts);
  const [fresh, stale] = fetched;
  const results = await Promise.all([
    writeTransitionNotifying(pool, { jobId: fresh!.jobId, claim: fresh!.claimed!.attempts }, completes(1), null, { attempt: { id: fresh!.queueId, retryCount: fresh!.retryCount }, completions }),
    // An attempt the queue has moved past (another retry count): its entry is left as it is.
    writeTransitionNotifying(pool, { jobId: stale!.jobId, claim: stale!.claimed!.attempts }, completes(2), null, { attempt: { id: stale!.queueId, retryCount: stale!.retryCount + 1 }, completions }),
  ]);
  expect(results.map((r) => [r.owned, r.settled])).toEqual([
    [true, true],
    [true, true],
  ]);
  const { rows } = await pool.query<{ id: string; state: string }>(`SELECT id::text, state::text FROM pgboss.job WHERE id = ANY($1::uuid[])`, [fetched.map((e) => e.queueId)]);
  const state = new Map(rows.map((row) => [row.id, row.state]));
  expect(state.get(fresh!.queueId)).toBe('completed');
  expect(state.get(stale!.queueId)).toBe('active');
});
