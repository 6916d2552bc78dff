/**
 * The queue between api and workers: the api never runs steps, any number of workers share the work and each
 * job runs once, a job runs the workflow version it was created with, sync calls time out with the job id, and
 * queued jobs can be cancelled.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import OpenAI from 'openai';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { http, putModule, putWorkflow, testModule, waitFor } from './support/fixtures.js';
import { startApi, startWorker, stopAllProcesses, stopProcessesExcept, type MuleProcess } from './support/processes.js';

let db: TestDatabase;
let api: MuleProcess;
let pool: pg.Pool;
let client: OpenAI;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startApi(db.url, { MULE_SYNC_TIMEOUT_MS: '20000' });
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  client = new OpenAI({ baseURL: `${api.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 60_000 });
  expect((await putModule(api.url, 'echo', testModule('echo'))).status).toBe(201);
  expect((await putWorkflow(api.url, 'two-steps', [{ id: 'a', wasm: 'echo' }, { id: 'b', wasm: 'echo' }])).status).toBe(201);
});

// Workers and apis a test starts are stopped when it ends, pass or fail: the next test may need none running.
afterEach(() => stopProcessesExcept([api]));

afterAll(async () => {
  await pool?.end();
  await stopAllProcesses();
  await db?.drop();
});

const ask = (model: string, content: string, headers: Record<string, string> = {}) =>
  http(api.url, 'POST', '/v1/chat/completions', { model, messages: [{ role: 'user', content }] }, headers);

describe('with no worker running', () => {
  test('a sync call waits, and completes when a worker starts (the api never runs steps)', async () => {
    const call = ask('workflow/two-steps', 'patience');
    const jobId = await waitFor(async () => {
      const { rows } = await pool.query(`SELECT id, status FROM jobs WHERE input->>'prompt' = 'patience'`);
      return rows[0]?.status === 'queued' ? rows[0].id : null;
    }, 10_000, 'the job to be queued');
    // Nothing runs it while no worker exists.
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM job_steps WHERE job_id = $1`, [jobId]);
    expect(rows[0].n).toBe(0);
    await startWorker(db.url);
    const answer = await call;
    expect(answer.status).toBe(200);
    expect(answer.body.choices[0].message.content).toBe('patience');
  });

  test('a queued job can be cancelled; cancelling it again is a 409', async () => {
    const queued = await ask('async/workflow/two-steps', 'never');
    expect(queued.status).toBe(202);
    const cancelled = await http(api.url, 'POST', `/v1/jobs/${queued.body.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ id: queued.body.id, status: 'cancelled', error: { code: 'cancelled' } });
    const again = await http(api.url, 'POST', `/v1/jobs/${queued.body.id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('conflict');
    // A worker that starts later does not run it.
    await startWorker(db.url);
    const after = await ask('workflow/two-steps', 'after the cancel');
    expect(after.status).toBe(200);
    const job = await http(api.url, 'GET', `/v1/jobs/${queued.body.id}`);
    expect(job.body.status).toBe('cancelled');
    expect(job.body.steps).toEqual([]);
  });

  test('SIGTERM on the api: a waiting sync call is answered 503 with its job id after the grace period; the job goes on', async () => {
    const stopping = await startApi(db.url, { MULE_SHUTDOWN_GRACE_SECONDS: '1' });
    const call = http(stopping.url, 'POST', '/v1/chat/completions', { model: 'workflow/two-steps', messages: [{ role: 'user', content: 'bye' }] });
    await waitFor(async () => {
      const { rows } = await pool.query(`SELECT 1 FROM jobs WHERE input->>'prompt' = 'bye'`);
      return rows.length > 0;
    }, 10_000, 'the job to be written');
    const exited = stopping.stop('SIGTERM', 15_000);
    const answer = await call;
    expect(answer.status).toBe(503);
    expect(answer.body.error.code).toBe('unavailable');
    const jobId = answer.headers.get('x-mule-job-id')!;
    expect(answer.body.error.message).toContain(jobId);
    // 0: it stopped by itself after its 1 s grace, not by the SIGKILL fallback 15 s later (which gives no code).
    expect(await exited).toBe(0);
    // The job was accepted: it is still there, and a worker runs it.
    await startWorker(db.url);
    await waitFor(async () => (await http(api.url, 'GET', `/v1/jobs/${jobId}`)).body.status === 'completed');
  });

  test('a sync call answers 504 workflow_timeout with the job id when its wait runs out; the job goes on', async () => {
    const shortApi = await startApi(db.url, { MULE_SYNC_TIMEOUT_MS: '300' });
    const answer = await http(shortApi.url, 'POST', '/v1/chat/completions', {
      model: 'workflow/two-steps',
      messages: [{ role: 'user', content: 'slowly' }],
    });
    expect(answer.status).toBe(504);
    expect(answer.body.error.code).toBe('workflow_timeout');
    const jobId = answer.headers.get('x-mule-job-id');
    expect(jobId).toMatch(/^job-/);
    expect(answer.body.error.message).toContain(jobId);
    await startWorker(db.url);
    await waitFor(async () => (await http(api.url, 'GET', `/v1/jobs/${jobId}`)).body.status === 'completed');
  });
});

test('two workers drain hundreds of concurrent jobs; every job completes and every step runs once', async () => {
  const workers = await Promise.all([startWorker(db.url, { WORKER_CONCURRENCY: '4' }), startWorker(db.url, { WORKER_CONCURRENCY: '4' })]);
  const total = 300;
  const sync = Array.from({ length: 100 }, (_, i) =>
    client.chat.completions.create({ model: 'workflow/two-steps', messages: [{ role: 'user', content: `sync ${i}` }] }),
  );
  const async = await Promise.all(Array.from({ length: total - 100 }, (_, i) => ask('async/workflow/two-steps', `async ${i}`)));
  const answers = await Promise.all(sync);
  answers.forEach((answer, i) => expect(answer.choices[0]?.message.content).toBe(`sync ${i}`));
  const ids = async.map((a) => a.body.id.slice(4));
  await waitFor(async () => {
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1::uuid[]) AND status = 'completed'`, [ids]);
    return rows[0].n === ids.length;
  }, 60_000, 'every async job to complete');
  const { rows } = await pool.query(`
    SELECT count(*)::int AS steps, count(DISTINCT (job_id, step_index))::int AS distinct_steps, max(attempt) AS max_attempt
      FROM job_steps s JOIN jobs j ON j.id = s.job_id
     WHERE j.input->>'prompt' LIKE 'sync %' OR j.input->>'prompt' LIKE 'async %'`);
  expect(rows[0]).toEqual({ steps: total * 2, distinct_steps: total * 2, max_attempt: 1 });
  // Both workers took part.
  const ran = await Promise.all(workers.map((w) => http(w.url, 'GET', '/metrics')));
  for (const metrics of ran) expect(metrics.body).toMatch(/mule_jobs_total\{workflow="two-steps",status="completed"\} [1-9]/);
});

test('a job created before a workflow changes runs the version it was created with', async () => {
  expect((await putModule(api.url, 'loud', testModule('echo'))).status).toBe(201);
  expect((await putWorkflow(api.url, 'versioned', [{ id: 'only', wasm: 'echo' }])).status).toBe(201);
  const old = await ask('async/workflow/versioned', 'old version');
  const changed = await putWorkflow(api.url, 'versioned', [{ id: 'first', wasm: 'echo' }, { id: 'second', wasm: 'loud' }]);
  expect(changed.status).toBe(200);
  expect(changed.body.version).toBe(2);
  const fresh = await ask('async/workflow/versioned', 'new version');
  await startWorker(db.url);
  const read = (id: string) => waitFor(async () => {
    const job = await http(api.url, 'GET', `/v1/jobs/${id}`);
    return job.body.status === 'completed' ? job.body : null;
  });
  const [oldJob, freshJob] = await Promise.all([read(old.body.id), read(fresh.body.id)]);
  expect(oldJob.workflow_version).toBe(1);
  expect(oldJob.steps.map((s: { id: string }) => s.id)).toEqual(['only']);
  expect(freshJob.workflow_version).toBe(2);
  expect(freshJob.steps.map((s: { id: string }) => s.id)).toEqual(['first', 'second']);
});
