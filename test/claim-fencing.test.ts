/**
 * Claims are fenced: a worker whose claim lapsed (here: SIGSTOP for longer than the lease, as a long GC pause or a
 * failover would) neither keeps the new attempt's claim alive nor writes over the worker that took the job over.
 * pg-boss fences complete / fail / touch to the fetched attempt; every job and step write carries the claim number
 * (`jobs.attempts`) it was made under.
 */
import { afterAll, afterEach, beforeAll, expect, test } from '@jest/globals';
import pg from 'pg';
import { claimJob, finishJob, finishStep, startStep } from '@mule/db';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { http, putModule, putWorkflow, testModule, waitFor } from './support/fixtures.js';
import { startApi, startWorker, stopAllProcesses, type MuleProcess } from './support/processes.js';

let db: TestDatabase;
let api: MuleProcess;
let pool: pg.Pool;
const workers: MuleProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  // A 20 s lease: pg-boss heartbeat window 10 s (its minimum).
  api = await startApi(db.url, { MULE_LEASE_SECONDS: '20' });
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  for (const name of ['echo', 'sleep']) expect((await putModule(api.url, name, testModule(name))).status).toBe(201);
  // One step that sleeps for the milliseconds in its input, long enough that the second worker is still in it
  // when the first one wakes up; its timeout stays far above the pause so no step timer fires on waking.
  expect((await putWorkflow(api.url, 'nap', [{ id: 'nap', wasm: 'sleep', timeout_ms: 120_000 }])).status).toBe(201);
  expect((await putWorkflow(api.url, 'quick', [{ id: 'a', wasm: 'echo' }, { id: 'b', wasm: 'echo' }])).status).toBe(201);
});

afterEach(async () => {
  // A stopped process cannot take a signal's default action until it runs again.
  for (const worker of workers.splice(0)) {
    worker.child.kill('SIGCONT');
    await worker.stop('SIGKILL');
  }
});

afterAll(async () => {
  await pool?.end();
  await stopAllProcesses();
  await db?.drop();
});

const submit = (model: string, content: string) => http(api.url, 'POST', '/v1/chat/completions', { model, messages: [{ role: 'user', content }] });

interface StepRow {
  step_index: number;
  attempt: number;
  status: string;
  output: unknown;
  completed_at: Date | null;
}

async function rows(jobId: string): Promise<{ job: Record<string, unknown>; steps: StepRow[] }> {
  const job = (await pool.query(`SELECT status, attempts, output, error, completed_at FROM jobs WHERE id = $1`, [jobId])).rows[0];
  const steps = (await pool.query<StepRow>(
    `SELECT step_index, attempt, status, output, completed_at FROM job_steps WHERE job_id = $1 ORDER BY step_index, attempt`,
    [jobId],
  )).rows;
  return { job, steps };
}

async function queueEntry(jobId: string): Promise<{ state: string } | undefined> {
  const { rows: found } = await pool.query(`SELECT state FROM pgboss.job WHERE name = 'mule-jobs' AND id = $1`, [jobId]);
  return found[0];
}

test('a worker paused past its lease and resumed while another worker runs the step writes nothing: the step completes once, under the second claim', async () => {
  const first = await startWorker(db.url, { MULE_LEASE_SECONDS: '20' });
  workers.push(first);
  // The sleep module sleeps for all the input's digits read as one number: "80" is in the input twice (prompt and
  // messages), so 8,080 ms.
  const queued = await submit('async/workflow/nap', '80');
  const jobId = queued.body.id.slice(4);
  await waitFor(async () => (await rows(jobId)).steps.some((s) => s.attempt === 1 && s.status === 'running'), 10_000, 'the first attempt to run');
  first.child.kill('SIGSTOP');

  // Only now a second worker: it can get the job only by taking it over once the first claim's heartbeat lapsed.
  const second = await startWorker(db.url, { MULE_LEASE_SECONDS: '20' });
  workers.push(second);
  await waitFor(async () => (await rows(jobId)).steps.some((s) => s.attempt === 2 && s.status === 'running'), 60_000, 'the takeover');
  // Wake the first worker while the second is still in its 8 s step. Its step's sleep is long over, so it has a
  // result at once; without fences it would keep the claim alive and finish the job with it.
  first.child.kill('SIGCONT');

  const lost = await first.waitForLog((line) => line['msg'] === 'lost the claim on a job; aborting it' && line['job_id'] === queued.body.id, 30_000);
  expect(String(lost['reason'])).toMatch(/heartbeat/);
  // It gave the job up without writing (the log line comes after its last attempt to write).
  await first.waitForLog((line) => String(line['msg']).startsWith('job stopped here') && line['job_id'] === queued.body.id, 30_000);

  const done = await waitFor(async () => {
    const now = await rows(jobId);
    return now.job['status'] === 'completed' ? now : null;
  }, 60_000, 'the second worker to finish the job');
  await second.waitForLog((line) => line['msg'] === 'job finished' && line['job_id'] === queued.body.id);
  expect(done.job['attempts']).toBe(2);
  expect(done.steps.map(({ step_index, attempt, status }) => ({ step_index, attempt, status }))).toEqual([
    { step_index: 0, attempt: 1, status: 'failed' },
    { step_index: 0, attempt: 2, status: 'completed' },
  ]);
  // The job's result is the second worker's attempt's.
  expect(done.job['output']).toEqual(done.steps[1]!.output);
  // The queue entry was completed under the second worker's claim, not failed back or kept alive by the first.
  expect((await queueEntry(jobId))?.state).toBe('completed');

  // The first worker is alive and has had every chance to write: nothing it did changed the rows.
  expect(await first.stop('SIGTERM')).toBe(0);
  expect(await rows(jobId)).toEqual(done);
});

test('job and step writes made under an old claim number are refused and change nothing', async () => {
  // No worker runs: the test plays both claims itself, through the same repository calls the worker uses.
  const queued = await submit('async/workflow/quick', 'fenced');
  const jobId = queued.body.id.slice(4);
  const firstClaim = await claimJob(pool, jobId);
  expect(firstClaim?.attempts).toBe(1);
  const secondClaim = await claimJob(pool, jobId);
  expect(secondClaim?.attempts).toBe(2);
  const before = await rows(jobId);
  const stale = 1;
  const end = { jobId, claim: stale, index: 0, attempt: 1, status: 'completed' as const, output: { prompt: 'stale' }, durationMs: 1 };

  expect(await finishStep(pool, end)).toBe(false);
  expect(await startStep(pool, { jobId, claim: stale, index: 1, attempt: 1, stepId: 'b', type: 'wasm', input: {} })).toBe(false);
  expect(await finishJob(pool, end, { id: jobId, claim: stale, status: 'completed', output: { prompt: 'stale' } })).toBe(false);
  expect(await finishJob(pool, null, { id: jobId, claim: stale, status: 'failed', error: { code: 'internal_error', message: 'stale' } })).toBe(false);
  expect(await rows(jobId)).toEqual(before);

  // The current claim's writes land.
  expect(await finishStep(pool, { ...end, claim: 2, output: { prompt: 'current' } })).toBe(true);
  expect(await finishJob(pool, null, { id: jobId, claim: 2, status: 'completed', output: { prompt: 'current' } })).toBe(true);
  const after = await rows(jobId);
  expect(after.job).toMatchObject({ status: 'completed', attempts: 2, output: { prompt: 'current' } });
  expect(after.steps.map(({ status, output }) => ({ status, output }))).toEqual([{ status: 'completed', output: { prompt: 'current' } }]);
  // And once the job is finished, even its last claim changes nothing more.
  expect(await finishJob(pool, null, { id: jobId, claim: 2, status: 'failed', error: { code: 'internal_error', message: 'late' } })).toBe(false);
  expect((await rows(jobId)).job).toEqual(after.job);
});
