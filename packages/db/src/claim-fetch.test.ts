/**
 * The worker's fetch-and-claim statement is prepared on its connection although pg-boss writes it with every value
 * inline: unprepared, PostgreSQL planned it on every call (about as long as it ran), on the path of every job.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from '../../../test/support/database.js';
import { insertJob } from './job-submit.js';
import { CLAIM_ON_FETCH } from './jobs-repo.js';
import { createPool, type Pool } from './pool.js';
import { JobQueue } from './queue.js';

let db: TestDatabase;
let pool: Pool;
let queue: JobQueue;

beforeAll(async () => {
  db = await createTestDatabase();
  // One connection, so the prepared statements read below are the ones the fetches made.
  pool = createPool({ connectionString: db.url, max: 1 });
  queue = await JobQueue.start({ pool, role: 'worker', leaseSeconds: 30 });
});

afterAll(async () => {
  await queue?.stop();
  await pool?.end();
  await db?.drop();
});

const plan = { steps: [{ id: 'a', type: 'wasm' }] } as never;

test('fetch-and-claim runs as one prepared statement, reused from fetch to fetch', async () => {
  const claims = queue.claims(CLAIM_ON_FETCH);
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const id = randomUUID();
    await insertJob(queue, pool, { id, workflow: 'w', version: 1, model: 'workflow/w', input: { messages: [] }, plan, idempotencyKey: null, apiKeyId: null });
    const [entry] = await claims.fetch(1);
    expect(entry?.jobId).toBe(id);
    expect(entry?.claimed).toMatchObject({ id, attempts: 1 });
    ids.push(id);
  }
  const { rows } = await pool.query<{ name: string }>(
    `SELECT name FROM pg_prepared_statements WHERE statement LIKE '%"muleClaimed"%' AND statement LIKE '%''mule-jobs''%'`,
  );
  // Three fetches of one entry each from the jobs' queue: one statement, prepared once.
  expect(rows).toHaveLength(1);
});
