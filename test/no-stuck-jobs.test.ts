/**
 * No job is left `queued` or `running` for ever: an output the database cannot store fails its step at once (it
 * used to make the write throw, so the queue retried the job until it gave up and the row stayed running), a job
 * whose queue entry failed, was deleted or vanished is failed by the workers' reaper, and a submit whose queue
 * entry pg-boss did not insert commits nothing.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, expect, test } from '@jest/globals';
import pg from 'pg';
import { createPool, JobQueue, jobRowsStatement, type NewJob } from '@mule/db';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { http, putModule, putWorkflow, testModule, waitFor } from './support/fixtures.js';
import { startApi, startWorker, stopAllProcesses, type MuleProcess } from './support/processes.js';

let db: TestDatabase;
let api: MuleProcess;
let pool: pg.Pool;
const workers: MuleProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startApi(db.url);
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  for (const name of ['echo', 'sleep', 'deep-output']) expect((await putModule(api.url, name, testModule(name))).status).toBe(201);
  // Retries allowed, so a test also proves the bad output is not retried.
  expect((await putWorkflow(api.url, 'deep', [{ id: 'deep', wasm: 'deep-output', retries: 2 }])).status).toBe(201);
  expect((await putWorkflow(api.url, 'nap', [{ id: 'nap', wasm: 'sleep', timeout_ms: 120_000 }])).status).toBe(201);
  expect((await putWorkflow(api.url, 'quick', [{ id: 'a', wasm: 'echo' }])).status).toBe(201);
});

afterEach(async () => {
  for (const worker of workers.splice(0)) await worker.stop('SIGKILL');
});

afterAll(async () => {
  await pool?.end();
  await stopAllProcesses();
  await db?.drop();
});

const CHAT = '/v1/chat/completions';
const ask = (model: string, content: string) => http(api.url, 'POST', CHAT, { model, messages: [{ role: 'user', content }] });

async function job(jobId: string): Promise<{ status: string; error: { code: string; message: string } | null }> {
  return (await pool.query(`SELECT status, error FROM jobs WHERE id = $1`, [jobId])).rows[0];
}

async function steps(jobId: string): Promise<{ attempt: number; status: string; error: { code: string; message: string } | null }[]> {
  return (await pool.query(`SELECT attempt, status, error FROM job_steps WHERE job_id = $1 ORDER BY step_index, attempt`, [jobId])).rows;
}

test('a module output nested 5,000 deep fails its step with wasm_bad_output, once, and the sync call answers', async () => {
  workers.push(await startWorker(db.url));
  const answer = await ask('workflow/deep', 'x');
  expect(answer.status).toBe(422);
  expect(answer.body.error.code).toBe('wasm_bad_output');
  expect(answer.body.error.message).toMatch(/nests deeper than 1000 levels/);
  const jobId = answer.headers.get('x-mule-job-id')!.slice(4);
  expect(await job(jobId)).toMatchObject({ status: 'failed', error: { code: 'wasm_bad_output' } });
  expect((await steps(jobId)).map((s) => s.status)).toEqual(['failed']);
});

test('a running job whose queue entry is deleted is failed by the reaper, its step closed, its sync caller answered', async () => {
  const worker = await startWorker(db.url, { MULE_REAPER_INTERVAL_SECONDS: '1' });
  workers.push(worker);
  // The sleep module sleeps for all the input's digits read as one number: "99" twice (prompt and messages), ~10 s.
  const call = ask('workflow/nap', '99');
  const jobId = await waitFor(async () => {
    const { rows } = await pool.query(`SELECT j.id FROM jobs j JOIN job_steps s ON s.job_id = j.id WHERE j.workflow_name = 'nap' AND s.status = 'running'`);
    return rows[0]?.id as string | undefined;
  }, 10_000, 'the step to run');
  expect((await pool.query(`DELETE FROM pgboss.job WHERE name = 'mule-jobs' AND id = $1`, [jobId])).rowCount).toBe(1);

  const answer = await call;
  expect(answer.status).toBe(500);
  expect(answer.body.error.code).toBe('internal_error');
  expect(await job(jobId)).toEqual({ status: 'failed', error: { code: 'internal_error', message: expect.stringMatching(/queue entry/) } });
  expect(await steps(jobId)).toEqual([{ attempt: 1, status: 'failed', error: expect.objectContaining({ message: expect.stringMatching(/queue entry/) }) }]);
  await worker.waitForLog((line) => line['msg'] === 'failed jobs whose queue entry was lost' && (line['jobs'] as string[]).includes(`job-${jobId}`));
  // The worker running it gives it up without writing over the reaper's result.
  await worker.waitForLog((line) => String(line['msg']).startsWith('job stopped here') && line['job_id'] === `job-${jobId}`, 30_000);
  expect(await job(jobId)).toMatchObject({ status: 'failed', error: { code: 'internal_error' } });
});

test('a queued job whose queue entry failed is failed by the reaper; a healthy job beside it completes', async () => {
  // No worker yet: the job stays queued while its entry is failed under it.
  const lost = await ask('async/workflow/quick', 'lost');
  const healthy = await ask('async/workflow/quick', 'healthy');
  const lostId = lost.body.id.slice(4);
  const healthyId = healthy.body.id.slice(4);
  expect((await pool.query(`UPDATE pgboss.job SET state = 'failed', completed_on = now() WHERE name = 'mule-jobs' AND id = $1`, [lostId])).rowCount).toBe(1);
  expect((await job(lostId)).status).toBe('queued');

  workers.push(await startWorker(db.url, { MULE_REAPER_INTERVAL_SECONDS: '1' }));
  await waitFor(async () => (await job(lostId)).status === 'failed', 30_000, 'the reaper to fail the lost job');
  expect((await job(lostId)).error).toMatchObject({ code: 'internal_error', message: expect.stringMatching(/queue entry/) });
  expect(await steps(lostId)).toEqual([]);
  await waitFor(async () => (await job(healthyId)).status === 'completed', 30_000, 'the healthy job to complete');
});

test('a submit whose queue entry pg-boss does not insert commits nothing and is an error', async () => {
  const apiPool = createPool({ connectionString: db.url, max: 2, applicationName: 'test-queue' });
  const queue = await JobQueue.start({ pool: apiPool, role: 'api', leaseSeconds: 30 });
  try {
    const row = (id: string): NewJob => ({
      id,
      workflow: 'quick',
      version: 1,
      model: 'workflow/quick',
      input: { prompt: 'x' },
      plan: { steps: [] } as unknown as NewJob['plan'],
      idempotencyKey: null,
      apiKeyId: null,
    });
    const taken = randomUUID();
    await queue.sendMany(apiPool, [taken], jobRowsStatement([row(taken)]), null);
    // A second entry with the same id is what pg-boss's ON CONFLICT DO NOTHING skips; the job row beside it is new.
    const orphan = randomUUID();
    await expect(queue.sendMany(apiPool, [taken], jobRowsStatement([row(orphan)]), null)).rejects.toMatchObject({ code: 'unavailable', message: expect.stringMatching(/could not be queued/) });
    expect((await pool.query(`SELECT count(*)::int AS n FROM jobs WHERE id = $1`, [orphan])).rows[0].n).toBe(0);
    expect((await pool.query(`SELECT count(*)::int AS n FROM jobs WHERE id = $1`, [taken])).rows[0].n).toBe(1);
  } finally {
    await queue.stop();
    await apiPool.end();
  }
});
