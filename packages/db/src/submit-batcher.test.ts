/**
 * Batched submits against a migrated database with pg-boss installed: concurrent submits share statements, every
 * accepted job has its row and its queue entry, a repeated Idempotency-Key in a burst answers only that caller
 * with the earlier job, and a job the database refuses fails alone while the rest of its batch is stored.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from '../../../test/support/database.js';
import { insertJob, type NewJob } from './job-submit.js';
import { createPool, type Pool, type Queryable } from './pool.js';
import { JOB_QUEUE, JobQueue } from './queue.js';

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

/** The pool, counting the statements sent through it. */
function counted(): { db: Queryable; statements: () => number } {
  let n = 0;
  const wrapped = { query: (...args: Parameters<Pool['query']>) => (n++, pool.query(...args)) } as unknown as Queryable;
  return { db: wrapped, statements: () => n };
}

const job = (over: Partial<NewJob> = {}): NewJob => ({
  id: randomUUID(),
  workflow: 'w',
  version: 1,
  model: 'workflow/w',
  input: { messages: [{ role: 'user', content: 'hi' }] },
  plan: { steps: [] } as never,
  idempotencyKey: null,
  apiKeyId: null,
  ...over,
});

async function stored(ids: string[]): Promise<{ rows: number; entries: number }> {
  const { rows } = await pool.query<{ rows: number; entries: number }>(
    `SELECT (SELECT count(*)::int FROM jobs WHERE id = ANY($1::uuid[])) AS rows,
            (SELECT count(*)::int FROM pgboss.job WHERE name = $2 AND id = ANY($1::uuid[]) AND data->>'jobId' = id::text) AS entries`,
    [ids, JOB_QUEUE],
  );
  return rows[0]!;
}

test('concurrent submits share statements, and each job has its row and its queue entry', async () => {
  const { db: counting, statements } = counted();
  const jobs = Array.from({ length: 60 }, () => job());
  const results = await Promise.all(jobs.map((j) => insertJob(queue, counting, j)));
  expect(results.every((r) => r.kind === 'created')).toBe(true);
  expect(await stored(jobs.map((j) => j.id))).toEqual({ rows: 60, entries: 60 });
  // At most two statements in flight: the rest of the burst rides them in batches.
  expect(statements()).toBeLessThan(10);
});

test('a lone submit on an idle api carries the wake-up NOTIFY in its own commit', async () => {
  const result = await insertJob(queue, pool, job());
  expect(result).toEqual({ kind: 'created', announced: true });
});

test('a repeated Idempotency-Key in a burst answers that caller with the earlier job; the others are stored', async () => {
  const first = job({ idempotencyKey: `key-${randomUUID()}` });
  expect((await insertJob(queue, pool, first)).kind).toBe('created');
  const others = Array.from({ length: 20 }, () => job());
  const again = job({ idempotencyKey: first.idempotencyKey });
  const results = await Promise.all([...others.slice(0, 10), again, ...others.slice(10)].map((j) => insertJob(queue, pool, j)));
  const repeated = results[10]!;
  expect(repeated.kind).toBe('duplicate');
  expect(repeated.kind === 'duplicate' && repeated.existing.id).toBe(first.id);
  expect(results.filter((r) => r.kind === 'created')).toHaveLength(20);
  expect(await stored(others.map((j) => j.id))).toEqual({ rows: 20, entries: 20 });
  expect(await stored([again.id])).toEqual({ rows: 0, entries: 0 });
});

test('a job the database refuses fails alone; the rest of its batch is stored', async () => {
  const taken = job();
  await insertJob(queue, pool, taken);
  const others = Array.from({ length: 20 }, () => job());
  const clash = { ...job(), id: taken.id };
  const settled = await Promise.allSettled([...others.slice(0, 5), clash, ...others.slice(5)].map((j) => insertJob(queue, pool, j)));
  expect(settled[5]!.status).toBe('rejected');
  expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(20);
  expect(await stored(others.map((j) => j.id))).toEqual({ rows: 20, entries: 20 });
});
