/**
 * Stored responses against a migrated database: the Prisma model agrees with the migration, a workflow response
 * reads its job's state, and retention deletes responses with the jobs' retention days (a workflow response also
 * goes with its job).
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from '../../../test/support/database.js';
import { createPool, type Pool } from './pool.js';
import { createPrisma, type PrismaClient } from './prisma-client.js';
import { insertStoredResponse, readStoredResponse, type NewStoredResponse } from './responses-repo.js';
import { runRetention } from './retention.js';

let db: TestDatabase;
let pool: Pool;
let prisma: PrismaClient;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool({ connectionString: db.url, max: 2 });
  prisma = createPrisma(pool);
});

afterAll(async () => {
  await prisma?.$disconnect();
  await pool?.end();
  await db?.drop();
});

const base: NewStoredResponse = {
  id: '',
  apiKeyId: null,
  model: 'agent/a',
  jobId: null,
  previousResponseId: null,
  instructions: null,
  messages: [{ role: 'user', content: 'hi' }],
  metadata: {},
  background: false,
  status: 'completed',
  outputText: 'hello',
  error: null,
  usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
};

async function job(id: string, status: string, completedDaysAgo: number | null): Promise<void> {
  await pool.query(
    `INSERT INTO jobs (id, workflow_name, workflow_version, model, status, input, plan, output, completed_at)
     VALUES ($1, 'w', 1, 'workflow/w', $2, '{}', '{}', '{"prompt":"DONE"}',
             CASE WHEN $3::int IS NULL THEN NULL ELSE now() - $3::int * interval '1 day' END)`,
    [id, status, completedDaysAgo],
  );
}

test('the Prisma model reads what the SQL writes, and a workflow response shows its job', async () => {
  await insertStoredResponse(pool, { ...base, id: `resp_${'a'.repeat(48)}`, metadata: { k: 'v' } });
  const viaPrisma = await prisma.storedResponse.findUnique({ where: { id: `resp_${'a'.repeat(48)}` } });
  expect(viaPrisma).toMatchObject({ model: 'agent/a', status: 'completed', outputText: 'hello', metadata: { k: 'v' }, background: false });
  expect(viaPrisma?.completedAt).toBeInstanceOf(Date);

  const jobId = '6f1c2d3e-4a5b-4c6d-8e7f-001122334455';
  await job(jobId, 'completed', 0);
  const id = `resp_${jobId.replaceAll('-', '')}`;
  await insertStoredResponse(pool, { ...base, id, model: 'workflow/w', jobId, status: null, outputText: null, usage: null, background: true });
  // A repeated write of the same response (a repeated Idempotency-Key) changes nothing.
  await insertStoredResponse(pool, { ...base, id, model: 'workflow/other', jobId, status: null });
  const row = await readStoredResponse(pool, id);
  expect(row).toMatchObject({ model: 'workflow/w', jobId, status: null, background: true, job: { status: 'completed', output: { prompt: 'DONE' }, usage: null } });
  expect(row?.job?.completedAt).toBeInstanceOf(Date);
  expect(await readStoredResponse(pool, 'resp_missing')).toBeNull();
});

test('retention deletes responses older than the retention days, and a workflow response with its job', async () => {
  const old = `resp_${'b'.repeat(48)}`;
  const fresh = `resp_${'c'.repeat(48)}`;
  await insertStoredResponse(pool, { ...base, id: old });
  await insertStoredResponse(pool, { ...base, id: fresh });
  await pool.query(`UPDATE responses SET created_at = now() - interval '31 days' WHERE id = $1`, [old]);
  const jobId = '7f1c2d3e-4a5b-4c6d-8e7f-001122334455';
  await job(jobId, 'completed', 40);
  const withJob = `resp_${jobId.replaceAll('-', '')}`;
  await insertStoredResponse(pool, { ...base, id: withJob, jobId, status: null });

  const { ran } = await runRetention(pool, 30);
  expect(ran).toBe(true);
  expect(await readStoredResponse(pool, old)).toBeNull();
  expect(await readStoredResponse(pool, withJob)).toBeNull();
  expect(await readStoredResponse(pool, fresh)).not.toBeNull();
});
