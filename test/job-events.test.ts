/**
 * `GET /v1/events` learns every status change from a NOTIFY and reads nothing on a timer: a dashboard-like client
 * sees a job reach `waiting` (the worker's park notice), `running` (a claim that lasts, announced a moment after
 * it began), and a change that no NOTIFY announced once the api's listener reconnects (its re-read). The stream
 * has no polling to fall back on, so each of these fails (times out) if its notice is removed. Real api and
 * worker processes, real modules.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { http, putModule, putWorkflow, testModule, waitFor } from './support/fixtures.js';
import { startApi, startWorker, stopAllProcesses, type MuleProcess } from './support/processes.js';
import { openSse, type SseClient } from './support/sse-client.js';

let db: TestDatabase;
let api: MuleProcess;
let worker: MuleProcess;
let pool: pg.Pool;
let watch: SseClient;

interface JobEvent {
  type: 'job';
  id: string;
  status: string;
  workflow: string;
}

beforeAll(async () => {
  db = await createTestDatabase();
  [api, worker] = await Promise.all([startApi(db.url), startWorker(db.url)]);
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  for (const name of ['echo', 'sleep']) expect((await putModule(api.url, name, testModule(name))).status).toBe(201);
  expect((await putWorkflow(api.url, 'approval', [{ id: 'prepare', wasm: 'echo' }, { id: 'approve', wait: { timeout: '1h' } }, { id: 'publish', wasm: 'echo' }])).status).toBe(201);
  expect((await putWorkflow(api.url, 'nap', [{ id: 'nap', wasm: 'sleep', timeout_ms: 120_000 }])).status).toBe(201);
  watch = await openSse(`${api.url}/v1/events`);
  await waitFor(async () => watch.lines.includes(': ready'), 10_000, 'the events stream to be ready');
});

afterAll(async () => {
  watch?.close();
  await pool?.end();
  await stopAllProcesses();
  await db?.drop();
});

const submit = async (workflow: string, content: string): Promise<string> => {
  const answer = await http(api.url, 'POST', '/v1/chat/completions', { model: `async/workflow/${workflow}`, messages: [{ role: 'user', content }] });
  expect(answer.status).toBe(202);
  return answer.body.id as string;
};

const statusesOf = (id: string) => (watch.events() as JobEvent[]).filter((event) => event.id === id).map((event) => event.status);
const sees = (id: string, status: string) => waitFor(async () => statusesOf(id).includes(status), 20_000, `the events stream to show ${id} ${status}`);
const jobStatus = async (id: string) => (await http(api.url, 'GET', `/v1/jobs/${id}`)).body.status as string;

/**
 * Submits with no worker running, waits until the stream has read the job as queued, then starts a worker: what
 * the stream shows after that (running, waiting) can only come from the worker's notices, not from the read that
 * the submit's own NOTIFY caused.
 */
const submitUnclaimed = async (workflow: string, content: string): Promise<string> => {
  await worker.stop('SIGTERM');
  const id = await submit(workflow, content);
  await sees(id, 'queued');
  worker = await startWorker(db.url);
  return id;
};

test('a job parked at a wait shows as waiting, then completed once resumed', async () => {
  const id = await submitUnclaimed('approval', 'ship it');
  await sees(id, 'waiting');
  expect(await jobStatus(id)).toBe('waiting');
  expect((await http(api.url, 'POST', `/v1/jobs/${id}/steps/approve/resume`, { output: { ok: true } })).status).toBe(202);
  await sees(id, 'completed');
  const statuses = statusesOf(id);
  expect(statuses.indexOf('waiting')).toBeLessThan(statuses.indexOf('completed'));
  expect(statuses.at(-1)).toBe('completed');
});

test('a job that keeps running shows as running while it runs', async () => {
  const id = await submitUnclaimed('nap', '{"ms": 60000}');
  await sees(id, 'running');
  expect(await jobStatus(id)).toBe('running');
  expect((await http(api.url, 'POST', `/v1/jobs/${id}/cancel`)).status).toBe(200);
  await sees(id, 'cancelled');
});

test('a change no NOTIFY announced is sent once the api re-reads after its listener reconnects', async () => {
  const id = await submit('approval', 'held');
  await sees(id, 'waiting');
  // A status written with no NOTIFY (as if its NOTIFY was lost), then the api's LISTEN session is killed.
  await pool.query(`UPDATE jobs SET status = 'cancelled', completed_at = now() WHERE id = $1`, [id.replace(/^job-/, '')]);
  const { rows } = await pool.query(`SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE application_name = 'mule-api-listener'`);
  expect(rows.length).toBeGreaterThan(0);
  await sees(id, 'cancelled');
});
