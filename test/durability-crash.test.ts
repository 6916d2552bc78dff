/**
 * Crashes, for real (ARCHITECTURE.md "Failure handling"): kill -9 of a worker mid-job and under load, kill -9 of the api, SIGTERM on a busy
 * worker. No accepted job is lost and no completed step runs twice.
 */
import { afterAll, afterEach, beforeAll, expect, test } from '@jest/globals';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { http, putModule, putWorkflow, testModule, waitFor } from './support/fixtures.js';
import { startApi, startWorker, stopAllProcesses, stopProcessesExcept, type MuleProcess } from './support/processes.js';

let db: TestDatabase;
let api: MuleProcess;
let pool: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase();
  // A 20 s lease: pg-boss heartbeat window 10 s (its minimum), so takeovers here take ~12-16 s.
  api = await startApi(db.url, { MULE_LEASE_SECONDS: '20' });
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  for (const name of ['echo', 'slow-echo']) expect((await putModule(api.url, name, testModule(name))).status).toBe(201);
  expect((await putWorkflow(api.url, 'three', [{ id: 'a', wasm: 'echo' }, { id: 'b', wasm: 'slow-echo' }, { id: 'c', wasm: 'echo' }])).status).toBe(201);
  expect((await putWorkflow(api.url, 'quick', [{ id: 'only', wasm: 'echo' }])).status).toBe(201);
  expect((await putWorkflow(api.url, 'nap', [{ id: 'sleep', wasm: 'slow-echo' }, { id: 'after', wasm: 'echo' }])).status).toBe(201);
});

afterEach(async () => {
  // Leave only the api running between tests, whether the test passed or not.
  try {
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM jobs WHERE status IN ('queued', 'running')`);
    expect(rows[0].n).toBe(0);
  } finally {
    await stopProcessesExcept([api]);
  }
});

afterAll(async () => {
  await pool?.end();
  await stopAllProcesses();
  await db?.drop();
});

const submit = (model: string, content = 'x') => http(api.url, 'POST', '/v1/chat/completions', { model, messages: [{ role: 'user', content }] });

async function stepRows(jobId: string): Promise<{ step_index: number; attempt: number; status: string }[]> {
  const { rows } = await pool.query(`SELECT step_index, attempt, status FROM job_steps WHERE job_id = $1 ORDER BY step_index, attempt`, [jobId]);
  return rows;
}

test('kill -9 of a worker in the middle of a three-step job: another worker finishes it, completed steps run once', async () => {
  const first = await startWorker(db.url);
  const queued = await submit('async/workflow/three', 'survive');
  const jobId = queued.body.id.slice(4);
  await waitFor(async () => (await stepRows(jobId)).some((s) => s.step_index === 1 && s.status === 'running'), 10_000, 'step b to run');
  await first.stop('SIGKILL');
  await startWorker(db.url);
  const done = await waitFor(async () => {
    const job = (await http(api.url, 'GET', `/v1/jobs/${queued.body.id}`)).body;
    return job.status === 'completed' ? job : null;
  }, 60_000, 'the job to complete elsewhere');
  expect(done.attempts).toBe(2);
  expect(done.output).toMatchObject({ prompt: 'survive' });
  expect(await stepRows(jobId)).toEqual([
    { step_index: 0, attempt: 1, status: 'completed' },
    { step_index: 1, attempt: 1, status: 'failed' },
    { step_index: 1, attempt: 2, status: 'completed' },
    { step_index: 2, attempt: 1, status: 'completed' },
  ]);
  const interrupted = done.steps.find((s: { id: string; attempt: number }) => s.id === 'b' && s.attempt === 1);
  expect(interrupted.error.message).toMatch(/took the job over/);
});

test('500 async jobs while a worker is killed and replaced half-way: every job completes', async () => {
  const first = await startWorker(db.url, { WORKER_CONCURRENCY: '8' });
  const answers = await Promise.all(Array.from({ length: 500 }, (_, i) => submit('async/workflow/quick', `n${i}`)));
  expect(answers.filter((a) => a.status !== 202)).toEqual([]);
  const ids = answers.map((a) => a.body.id.slice(4));
  const count = async (status: string) =>
    (await pool.query(`SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1::uuid[]) AND status = $2`, [ids, status])).rows[0].n as number;
  await waitFor(async () => (await count('completed')) >= 200, 30_000, 'some jobs to complete');
  await first.stop('SIGKILL');
  await startWorker(db.url, { WORKER_CONCURRENCY: '8' });
  await waitFor(async () => (await count('completed')) === 500, 60_000, 'every job to complete');
  const { rows } = await pool.query(
    `SELECT count(*)::int AS n FROM job_steps WHERE job_id = ANY($1::uuid[]) AND status = 'completed'`,
    [ids],
  );
  expect(rows[0].n).toBe(500);
});

test('kill -9 of the api after it accepted async jobs: they all complete, and a restarted api serves them', async () => {
  const accepted = await Promise.all(Array.from({ length: 30 }, (_, i) => submit('async/workflow/quick', `api ${i}`)));
  expect(accepted.filter((a) => a.status !== 202)).toEqual([]);
  await api.stop('SIGKILL');
  await startWorker(db.url);
  api = await startApi(db.url, { MULE_LEASE_SECONDS: '20' });
  for (const answer of accepted) {
    await waitFor(async () => (await http(api.url, 'GET', `/v1/jobs/${answer.body.id}`)).body.status === 'completed', 30_000);
  }
});

test('SIGTERM on a busy worker: it hands its job back and exits 0 before the SIGKILL fallback, and the job still completes', async () => {
  const busy = await startWorker(db.url, { MULE_SHUTDOWN_GRACE_SECONDS: '1' });
  const queued = await submit('async/workflow/nap', 'handed back');
  const jobId = queued.body.id.slice(4);
  await waitFor(async () => (await stepRows(jobId)).some((s) => s.status === 'running'), 10_000, 'the step to run');
  await startWorker(db.url);
  // Exit code 0 means it stopped by itself: the SIGKILL fallback (20 s) would give none.
  expect(await busy.stop('SIGTERM', 20_000)).toBe(0);
  const done = await waitFor(async () => {
    const job = (await http(api.url, 'GET', `/v1/jobs/${queued.body.id}`)).body;
    return job.status === 'completed' ? job : null;
  }, 30_000, 'the handed-back job to complete');
  expect(done.output).toMatchObject({ prompt: 'handed back' });
  // Handed back at once (failed into pg-boss's retry), not after a lease: the first step ran twice at most.
  expect((await stepRows(jobId)).filter((s) => s.step_index === 0 && s.status === 'completed')).toHaveLength(1);
});

test('SIGTERM with enough grace lets the running job finish on the same worker', async () => {
  const busy = await startWorker(db.url, { MULE_SHUTDOWN_GRACE_SECONDS: '10' });
  const queued = await submit('async/workflow/nap', 'finish here');
  const jobId = queued.body.id.slice(4);
  await waitFor(async () => (await stepRows(jobId)).some((s) => s.status === 'running'), 10_000, 'the step to run');
  expect(await busy.stop('SIGTERM', 20_000)).toBe(0);
  const { rows } = await pool.query(`SELECT status, attempts FROM jobs WHERE id = $1`, [jobId]);
  expect(rows[0]).toEqual({ status: 'completed', attempts: 1 });
});
