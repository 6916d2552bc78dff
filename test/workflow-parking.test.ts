/**
 * Parking: a job with nothing to run but a wait, or a retry more than 5 s away, gives its worker slot back and is
 * carried by a later queue entry (jobs.queue_id, in the timers queue); it wakes on its timer or on a resume, on any
 * worker.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { startFakeProvider, type FakeProvider } from './support/fake-provider.js';
import { http, putModule, putWorkflow, testModule, waitFor } from './support/fixtures.js';
import { startApi, startWorker, stopAllProcesses, type MuleProcess } from './support/processes.js';

let db: TestDatabase;
let api: MuleProcess;
let fake: FakeProvider;
let pool: pg.Pool;

const env = (): Record<string, string> => ({ MULE_ENV_ALLOW: 'FAKE_*', FAKE_BASE_URL: fake.url, FAKE_API_KEY: 'sk-fake' });

beforeAll(async () => {
  db = await createTestDatabase();
  fake = await startFakeProvider();
  api = await startApi(db.url, env());
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  for (const name of ['echo', 'sleep']) expect((await putModule(api.url, name, testModule(name))).status).toBe(201);
  const put = async (path: string, body: unknown) => expect((await http(api.url, 'PUT', path, body)).status).toBe(201);
  await put('/v1/providers/fake', { type: 'openai', base_url_env: 'FAKE_BASE_URL', api_key_env: 'FAKE_API_KEY' });
  await put('/v1/agents/helper', { provider: 'fake', model: 'fake-model' });
  const workflows: Record<string, unknown[]> = {
    stubborn: [{ id: 'ask', agent: 'helper', retries: 8 }],
    approval: [{ id: 'approve', wait: { timeout: '1h' } }, { id: 'after', wasm: 'echo' }],
    hurry: [{ id: 'approve', wait: { timeout: '2s' } }, { id: 'after', wasm: 'echo' }],
    // A wait next to a branch that keeps the job running in its worker (the sleep module sleeps 3 s here).
    beside: [
      { id: 'approve', wait: { timeout: '1h' } },
      { id: 'nap', wasm: 'sleep', needs: [], input: '3000' },
      { id: 'after', wasm: 'echo', needs: ['approve', 'nap'] },
    ],
  };
  for (const [name, steps] of Object.entries(workflows)) expect((await putWorkflow(api.url, name, steps)).body).toMatchObject({ name });
});

afterAll(async () => {
  await pool?.end();
  await stopAllProcesses();
  await fake?.close();
  await db?.drop();
});

const submit = async (model: string, content = 'x'): Promise<string> => {
  const answer = await http(api.url, 'POST', '/v1/chat/completions', { model: `async/workflow/${model}`, messages: [{ role: 'user', content }] });
  expect(answer.status).toBe(202);
  return answer.body.id as string;
};

const jobRow = async (jobId: string) =>
  (await pool.query(`SELECT status, queue_id, attempts FROM jobs WHERE id = $1`, [jobId.slice(4)])).rows[0] as { status: string; queue_id: string | null; attempts: number };

const stepRows = async (jobId: string) =>
  (await pool.query(`SELECT step_id, attempt, status FROM job_steps WHERE job_id = $1 ORDER BY step_index, attempt`, [jobId.slice(4)])).rows as {
    step_id: string;
    attempt: number;
    status: string;
  }[];

async function busySlots(worker: MuleProcess): Promise<number> {
  const text = String((await http(worker.url, 'GET', '/metrics')).body);
  return Number(/^mule_worker_busy_slots (\S+)$/m.exec(text)?.[1]);
}

const finished = (jobId: string, timeoutMs = 60_000) =>
  waitFor(async () => {
    const job = (await http(api.url, 'GET', `/v1/jobs/${jobId}`)).body;
    return ['completed', 'failed', 'cancelled'].includes(job.status) ? job : null;
  }, timeoutMs, `job ${jobId} to finish`);

test('a retry due more than 5 s later parks the job (no slot held, no attempt running) and it resumes on its timer', async () => {
  const worker = await startWorker(db.url, env());
  try {
    // Seven failures: the backoff after the 7th is 8-16 s (after the 6th, 4-8 s), so the job parks at least once.
    let failures = 0;
    fake.onRequest = () => (failures++ < 7 ? { error: { status: 500, message: 'down for a while' } } : undefined);
    const jobId = await submit('stubborn');
    const parked = await waitFor(async () => {
      const job = await jobRow(jobId);
      return job.queue_id !== null && job.status === 'running' && !(await stepRows(jobId)).some((s) => s.status === 'running') ? job : null;
    }, 60_000, 'the job to park for its retry');
    expect(parked.queue_id).not.toBe(jobId.slice(4));
    // A wake-up waits in the timers queue, where fetches for ready jobs never walk past it.
    const entry = await pool.query(`SELECT name, state::text FROM pgboss.job WHERE id = $1`, [parked.queue_id]);
    expect(entry.rows).toEqual([{ name: 'mule-timers', state: 'created' }]);
    expect(await busySlots(worker)).toBe(0);
    const done = await finished(jobId, 60_000);
    expect(done.status).toBe('completed');
    const steps = await stepRows(jobId);
    expect(steps.map((s) => s.status)).toEqual([...Array(7).fill('failed'), 'completed']);
    expect(steps.map((s) => s.attempt)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    // The wake-up was a new claim through the parked entry.
    expect((await jobRow(jobId)).attempts).toBeGreaterThan(1);
  } finally {
    fake.reset();
    await worker.stop('SIGTERM');
  }
}, 90_000);

test('a wait step parks the job as waiting; after a worker restart it is resumed and another worker finishes it', async () => {
  const first = await startWorker(db.url, env());
  const jobId = await submit('approval', 'please');
  await waitFor(async () => (await jobRow(jobId)).status === 'waiting', 10_000, 'the job to wait');
  expect(await stepRows(jobId)).toEqual([{ step_id: 'approve', attempt: 1, status: 'waiting' }]);
  expect(await busySlots(first)).toBe(0);
  expect(await first.stop('SIGTERM')).toBe(0);
  const second = await startWorker(db.url, env());
  try {
    const resumed = await http(api.url, 'POST', `/v1/jobs/${jobId}/steps/approve/resume`, { output: { approved: true } });
    expect(resumed.status).toBeLessThan(300);
    const done = await finished(jobId);
    expect(done.status).toBe('completed');
    expect(done.output).toEqual({ approved: true });
    expect((await stepRows(jobId)).map((s) => [s.step_id, s.status])).toEqual([['approve', 'completed'], ['after', 'completed']]);
    await second.waitForLog((line) => line['msg'] === 'job finished' && line['job_id'] === jobId);
  } finally {
    await second.stop('SIGTERM');
  }
});

test('a wait that nobody resumes fails the job with wait_timeout when its timeout entry comes due', async () => {
  const worker = await startWorker(db.url, env());
  try {
    const jobId = await submit('hurry');
    await waitFor(async () => (await jobRow(jobId)).status === 'waiting', 10_000, 'the job to wait');
    const done = await finished(jobId, 30_000);
    expect(done.status).toBe('failed');
    expect(done.error.code).toBe('wait_timeout');
    expect(await stepRows(jobId)).toEqual([{ step_id: 'approve', attempt: 1, status: 'failed' }]);
  } finally {
    await worker.stop('SIGTERM');
  }
});

test('a wait resumed while another branch keeps the job running in its worker is taken up there, without a park', async () => {
  const worker = await startWorker(db.url, env());
  try {
    const jobId = await submit('beside');
    await waitFor(async () => {
      const steps = await stepRows(jobId);
      return steps.some((s) => s.step_id === 'approve' && s.status === 'waiting') && steps.some((s) => s.step_id === 'nap' && s.status === 'running');
    }, 10_000, 'the wait to open while the nap runs');
    const resumed = await http(api.url, 'POST', `/v1/jobs/${jobId}/steps/approve/resume`, { output: { approved: 'yes' } });
    expect(resumed.status).toBeLessThan(300);
    const done = await finished(jobId);
    expect(done.status).toBe('completed');
    expect(done.output).toMatchObject({ approve: { approved: 'yes' }, nap: { slept_ms: expect.any(Number) } });
    // The nap reports the time it measured around its sleep: at least the 3 s it asked for.
    expect((done.output as { nap: { slept_ms: number } }).nap.slept_ms).toBeGreaterThanOrEqual(3000);
    // One claim: the job was never handed to another queue entry.
    expect(await jobRow(jobId)).toMatchObject({ attempts: 1, queue_id: null });
  } finally {
    await worker.stop('SIGTERM');
  }
});

test("time spent waiting does not count against the job's time limit: a wait longer than it ends as resumed, not job_timeout", async () => {
  // A 2 s job limit, and a wait resumed only after 4 s: the job must still complete.
  const worker = await startWorker(db.url, { ...env(), MULE_JOB_TIMEOUT_SECONDS: '2' });
  try {
    const jobId = await submit('approval', 'slow approver');
    await waitFor(async () => (await jobRow(jobId)).status === 'waiting', 10_000, 'the job to wait');
    const waitingSince = Date.now();
    await waitFor(async () => Date.now() - waitingSince > 4_000, 10_000, 'more than the job limit to pass');
    expect((await jobRow(jobId)).status).toBe('waiting');
    const resumed = await http(api.url, 'POST', `/v1/jobs/${jobId}/steps/approve/resume`, { output: { approved: 'late' } });
    expect(resumed.status).toBeLessThan(300);
    const done = await finished(jobId);
    expect([done.status, done.error]).toEqual(['completed', null]);
    expect(done.output).toEqual({ approved: 'late' });
  } finally {
    await worker.stop('SIGTERM');
  }
}, 60_000);
