/**
 * A takeover in the middle of a graph: kill -9 of the worker while for_each items run; another worker finishes
 * the job from the rows, and items that had completed are not run again.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { http, putModule, putWorkflow, testModule, waitFor } from './support/fixtures.js';
import { startApi, startWorker, stopAllProcesses } from './support/processes.js';

let db: TestDatabase;
let pool: pg.Pool;
let apiUrl: string;

beforeAll(async () => {
  db = await createTestDatabase();
  // A 20 s lease: pg-boss heartbeat window 10 s (its minimum), so the takeover takes ~12-16 s.
  const api = await startApi(db.url, { MULE_LEASE_SECONDS: '20' });
  apiUrl = api.url;
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  expect((await putModule(apiUrl, 'sleep', testModule('sleep'))).status).toBe(201);
  // Six items of 800 ms each, two at a time (the sleep module sleeps for the digits of its input).
  const steps = [{ id: 'naps', wasm: 'sleep', for_each: "['800', '800', '800', '800', '800', '800']", concurrency: 2 }];
  expect((await putWorkflow(apiUrl, 'naps', steps)).status).toBe(201);
});

afterAll(async () => {
  await pool?.end();
  await stopAllProcesses();
  await db?.drop();
});

interface Row {
  item: number | null;
  attempt: number;
  status: string;
}

/** The rows once two reads 300 ms apart agree. */
async function settledRows(jobId: string): Promise<Row[]> {
  let last = await rows(jobId);
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const now = await rows(jobId);
    if (JSON.stringify(now) === JSON.stringify(last)) return now;
    last = now;
  }
}

const rows = async (jobId: string): Promise<Row[]> =>
  (await pool.query<Row>(`SELECT item, attempt, status FROM job_steps WHERE job_id = $1 ORDER BY item NULLS FIRST, attempt`, [jobId])).rows;

test('kill -9 while for_each items run: another worker finishes the job, completed items are not run again', async () => {
  const first = await startWorker(db.url, { MULE_LEASE_SECONDS: '20' });
  const queued = await http(apiUrl, 'POST', '/v1/chat/completions', { model: 'async/workflow/naps', messages: [{ role: 'user', content: 'x' }] });
  expect(queued.status).toBe(202);
  const jobId = String(queued.body.id).slice(4);
  await waitFor(async () => {
    const now = await rows(jobId);
    return now.some((r) => r.status === 'completed') && now.some((r) => r.status === 'running') ? now : null;
  }, 20_000, 'some items done and some running');
  await first.stop('SIGKILL');
  // What the killed worker left: read after the kill (an item can finish between the check above and the
  // signal), once a statement it sent just before dying has had time to land.
  const atKill = await settledRows(jobId);
  const doneBefore = new Set(atKill.filter((r) => r.status === 'completed').map((r) => r.item));
  const runningBefore = new Set(atKill.filter((r) => r.status === 'running').map((r) => r.item));

  await startWorker(db.url, { MULE_LEASE_SECONDS: '20' });
  const done = await waitFor(async () => {
    const job = (await http(apiUrl, 'GET', `/v1/jobs/${queued.body.id}`)).body;
    return job.status === 'completed' ? job : null;
  }, 60_000, 'the job to complete on the second worker');
  expect(done.attempts).toBe(2);
  expect(done.output).toHaveLength(6);

  const after = await rows(jobId);
  // Items completed before the kill: still their one attempt.
  for (const item of doneBefore) expect(after.filter((r) => r.item === item)).toEqual([{ item, attempt: 1, status: 'completed' }]);
  // Items cut short: the interrupted attempt closed as failed, then one more that completed.
  for (const item of runningBefore) {
    expect(after.filter((r) => r.item === item)).toEqual([
      { item, attempt: 1, status: 'failed' },
      { item, attempt: 2, status: 'completed' },
    ]);
  }
  // Every item ends completed, and the step's own row holds the list.
  for (let item = 0; item < 6; item++) expect(after.filter((r) => r.item === item).at(-1)?.status).toBe('completed');
  expect(after.filter((r) => r.item === null)).toEqual([{ item: null, attempt: 1, status: 'completed' }]);
});
