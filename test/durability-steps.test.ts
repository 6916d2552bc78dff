/**
 * Step-level guarantees: retries with backoff, errors that are not retried, step and job time limits,
 * cancelling running steps (WASM thread and provider call), and retention of finished jobs.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { startFakeProvider, type FakeProvider } from './support/fake-provider.js';
import { http, putModule, putWorkflow, testModule, waitFor } from './support/fixtures.js';
import { startApi, startWorker, stopAllProcesses, stopProcessesExcept, type MuleProcess } from './support/processes.js';

let db: TestDatabase;
let api: MuleProcess;
let worker: MuleProcess;
let pool: pg.Pool;
let fake: FakeProvider;

beforeAll(async () => {
  db = await createTestDatabase();
  fake = await startFakeProvider();
  [api, worker] = await Promise.all([startApi(db.url), startWorker(db.url, { WORKER_CONCURRENCY: '4' })]);
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  for (const name of ['echo', 'slow-echo', 'unreachable', 'not-json']) {
    expect((await putModule(api.url, name, testModule(name))).status).toBe(201);
  }
  expect((await http(api.url, 'PUT', '/v1/providers/fake', { type: 'openai', base_url: fake.url })).status).toBe(201);
  expect((await http(api.url, 'PUT', '/v1/agents/talker', { provider: 'fake', model: 'fake-model' })).status).toBe(201);
});

// Processes a test starts itself are stopped when it ends, pass or fail.
afterEach(() => stopProcessesExcept([api, worker]));

afterAll(async () => {
  await pool?.end();
  await stopAllProcesses();
  await fake?.close();
  await db?.drop();
});

const run = (model: string, content = 'hi') =>
  http(api.url, 'POST', '/v1/chat/completions', { model, messages: [{ role: 'user', content }] });

const job = async (id: string) => (await http(api.url, 'GET', `/v1/jobs/${id}`)).body;

/** Jobs the shared worker is running now, from its /metrics. */
async function busySlots(): Promise<number> {
  const text = await (await fetch(`${worker.url}/metrics`)).text();
  return Number(/^mule_worker_busy_slots (\S+)$/m.exec(text)?.[1]);
}

describe('retries', () => {
  test('a step that fails twice and then succeeds, with retries: 2, completes; each attempt is visible', async () => {
    expect((await putWorkflow(api.url, 'flaky', [{ id: 'talk', agent: 'talker', retries: 2 }])).status).toBe(201);
    fake.reset();
    fake.script(
      { error: { status: 500, message: 'upstream hiccup' } },
      { error: { status: 503, message: 'still warming up' } },
      { text: 'third time lucky', usage: { prompt_tokens: 3, completion_tokens: 4 } },
    );
    const answer = await run('workflow/flaky');
    expect(answer.status).toBe(200);
    expect(answer.body.choices[0].message.content).toBe('third time lucky');
    const steps = (await job(answer.body.id)).steps;
    expect(steps.map((s: { attempt: number; status: string }) => [s.attempt, s.status])).toEqual([
      [1, 'failed'],
      [2, 'failed'],
      [3, 'completed'],
    ]);
    expect(steps[0].error).toMatchObject({ code: 'provider_error', message: expect.stringContaining('500') });
    expect(steps[2].usage).toEqual({ prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 });
  });

  test('a step that always fails ends failed after three attempts with its error code', async () => {
    expect((await putWorkflow(api.url, 'doomed', [{ id: 'trap', wasm: 'unreachable', retries: 2 }])).status).toBe(201);
    const answer = await run('workflow/doomed');
    expect(answer.status).toBe(422);
    expect(answer.body.error.code).toBe('wasm_trap');
    const id = answer.headers.get('x-mule-job-id')!;
    expect(answer.body.error.message).toContain(id);
    const failed = await job(id);
    expect(failed.status).toBe('failed');
    expect(failed.error.code).toBe('wasm_trap');
    expect(failed.steps.map((s: { attempt: number; status: string }) => [s.attempt, s.status])).toEqual([
      [1, 'failed'],
      [2, 'failed'],
      [3, 'failed'],
    ]);
  });

  test('an error that cannot succeed on retry (bad output shape) is not retried', async () => {
    expect((await putWorkflow(api.url, 'garbled', [{ id: 'bad', wasm: 'not-json', retries: 3 }])).status).toBe(201);
    const answer = await run('workflow/garbled');
    expect(answer.status).toBe(422);
    expect(answer.body.error.code).toBe('wasm_bad_output');
    expect((await job(answer.headers.get('x-mule-job-id')!)).steps).toHaveLength(1);
  });
});

describe('time limits', () => {
  test('timeout_ms stops a WASM step with wasm_timeout (504)', async () => {
    expect((await putWorkflow(api.url, 'too-slow', [{ id: 'nap', wasm: 'slow-echo', timeout_ms: 300 }])).status).toBe(201);
    const answer = await run('workflow/too-slow');
    expect(answer.status).toBe(504);
    expect(answer.body.error.code).toBe('wasm_timeout');
  });

  test('timeout_ms stops an agent step with step_timeout (504), and the provider call is aborted', async () => {
    expect((await putWorkflow(api.url, 'slow-talk', [{ id: 'talk', agent: 'talker', timeout_ms: 500 }])).status).toBe(201);
    fake.reset();
    fake.script({ hang: true });
    const answer = await run('workflow/slow-talk');
    expect(answer.status).toBe(504);
    expect(answer.body.error.code).toBe('step_timeout');
    await fake.waitFor((requests) => requests.some((r) => r.aborted));
  });

  test('the whole-job limit fails a job with job_timeout', async () => {
    // A database of its own, so that only the worker with the 1 s limit can claim the job.
    const own = await createTestDatabase();
    const processes = await Promise.all([startApi(own.url), startWorker(own.url, { MULE_JOB_TIMEOUT_SECONDS: '1' })]);
    const [limitedApi] = processes;
    try {
      expect((await putModule(limitedApi.url, 'slow-echo', testModule('slow-echo'))).status).toBe(201);
      expect((await putWorkflow(limitedApi.url, 'long', [{ id: 'a', wasm: 'slow-echo' }, { id: 'b', wasm: 'slow-echo' }])).status).toBe(201);
      const answer = await http(limitedApi.url, 'POST', '/v1/chat/completions', { model: 'workflow/long', messages: [{ role: 'user', content: 'x' }] });
      expect(answer.status).toBe(504);
      expect(answer.body.error.code).toBe('job_timeout');
      const failed = (await http(limitedApi.url, 'GET', `/v1/jobs/${answer.headers.get('x-mule-job-id')}`)).body;
      expect(failed.status).toBe('failed');
      expect(failed.steps).toHaveLength(1);
      expect(failed.steps[0].error.code).toBe('job_timeout');
    } finally {
      await Promise.all(processes.map((p) => p.stop()));
      await own.drop();
    }
  });
});

describe('cancelling a running job', () => {
  test('a running WASM step is stopped: the job is cancelled and stays cancelled once the worker let go of it', async () => {
    expect((await putWorkflow(api.url, 'cancel-me', [{ id: 'nap', wasm: 'slow-echo' }, { id: 'after', wasm: 'echo' }])).status).toBe(201);
    const queued = await run('async/workflow/cancel-me');
    await waitFor(async () => (await job(queued.body.id)).steps[0]?.status === 'running', 10_000, 'the step to run');
    const cancelled = await http(api.url, 'POST', `/v1/jobs/${queued.body.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    expect(cancelled.body.steps[0].status).toBe('cancelled');
    // Whatever the step did (its thread stopped, or the module finishing its 2 s), the worker has written all it
    // will for this job once it frees the slot: nothing it wrote may resurrect the job.
    await waitFor(async () => (await busySlots()) === 0, 10_000, 'the worker to let go of the cancelled job');
    const later = await job(queued.body.id);
    expect(later.status).toBe('cancelled');
    expect(later.steps).toHaveLength(1);
    expect((await http(api.url, 'POST', `/v1/jobs/${queued.body.id}/cancel`)).status).toBe(409);
  });

  test('a running agent step is stopped: cancelled, and the provider saw the request aborted', async () => {
    expect((await putWorkflow(api.url, 'cancel-talk', [{ id: 'talk', agent: 'talker' }])).status).toBe(201);
    fake.reset();
    fake.script({ hang: true });
    const queued = await run('async/workflow/cancel-talk');
    await fake.waitFor((requests) => requests.length === 1);
    const cancelled = await http(api.url, 'POST', `/v1/jobs/${queued.body.id}/cancel`);
    expect(cancelled.body.status).toBe('cancelled');
    // The fake hangs for ever: only the worker aborting the call ends the request.
    await fake.waitFor((requests) => requests[0]!.aborted);
  });

  test('a sync caller waiting for a job that gets cancelled is answered 409 cancelled', async () => {
    const call = run('workflow/cancel-me');
    const id = await waitFor(async () => {
      const { rows } = await pool.query(`SELECT id FROM jobs j WHERE workflow_name = 'cancel-me' AND status = 'running'
        AND EXISTS (SELECT 1 FROM job_steps s WHERE s.job_id = j.id AND s.status = 'running')`);
      return rows[0]?.id as string | undefined;
    });
    await http(api.url, 'POST', `/v1/jobs/job-${id}/cancel`);
    const answer = await call;
    expect(answer.status).toBe(409);
    expect(answer.body.error.code).toBe('cancelled');
  });
});

test('retention deletes finished jobs older than MULE_JOB_RETENTION_DAYS and keeps the rest', async () => {
  const old = await run('async/workflow/garbled');
  const recent = await run('async/workflow/garbled');
  for (const id of [old.body.id, recent.body.id]) await waitFor(async () => (await job(id)).status === 'failed');
  await pool.query(`UPDATE jobs SET completed_at = now() - interval '31 days' WHERE id = $1`, [old.body.id.slice(4)]);
  await startWorker(db.url, { MULE_JOB_RETENTION_DAYS: '30', MULE_RETENTION_INTERVAL_SECONDS: '1' });
  await waitFor(async () => (await http(api.url, 'GET', `/v1/jobs/${old.body.id}`)).status === 404, 10_000, 'the old job to go');
  expect((await job(recent.body.id)).status).toBe('failed');
  const { rows } = await pool.query(`SELECT count(*)::int AS n FROM job_steps WHERE job_id = $1`, [old.body.id.slice(4)]);
  expect(rows[0].n).toBe(0);
});
