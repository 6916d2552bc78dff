/**
 * A sync caller never misses its job's end: a job that finishes without its NOTIFY reaching the api is found by
 * the periodic re-read (MULE_SYNC_RECHECK_MS), and a read of finished jobs that fails is tried again instead of
 * leaving its callers to MULE_SYNC_TIMEOUT_MS. No worker runs here: the test finishes the jobs itself, in SQL.
 */
import { afterAll, afterEach, beforeAll, expect, test } from '@jest/globals';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { http, putModule, putWorkflow, testModule, waitFor } from './support/fixtures.js';
import { startApi, stopAllProcesses, type MuleProcess } from './support/processes.js';

let db: TestDatabase;
let sql: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase();
  sql = new pg.Pool({ connectionString: db.url, max: 3 });
});

// Processes a test starts are stopped when it ends, pass or fail.
afterEach(() => stopAllProcesses());

afterAll(async () => {
  await stopAllProcesses();
  await sql?.end();
  await db?.drop();
});

async function defineWorkflow(api: MuleProcess): Promise<void> {
  // 201 the first time, 200 when an earlier test defined them already.
  expect([200, 201]).toContain((await putModule(api.url, 'echo', testModule('echo'))).status);
  expect([200, 201]).toContain((await putWorkflow(api.url, 'echo-flow', [{ id: 'echo', wasm: 'echo' }])).status);
}

/** Starts a sync call and waits for its job row (queued: no worker runs). */
async function startSyncCall(api: MuleProcess, content: string) {
  const answer = http(api.url, 'POST', '/v1/chat/completions', { model: 'workflow/echo-flow', messages: [{ role: 'user', content }] });
  const id = await waitFor(async () => {
    const { rows } = await sql.query<{ id: string }>(`SELECT id FROM jobs WHERE input->>'prompt' = $1`, [content]);
    return rows[0]?.id;
  }, 10_000, 'the job row');
  return { answer, id };
}

/** Rejects when `promise` has not settled within `ms` (the caller would otherwise wait MULE_SYNC_TIMEOUT_MS). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms))),
  ]);
}

test('a job that finishes without a NOTIFY is answered within the re-read interval', async () => {
  // The default interval (5 s); the sync timeout stays at its default of five minutes.
  const api = await startApi(db.url);
  await defineWorkflow(api);
  const { answer, id } = await startSyncCall(api, 'no notify');
  // Finished behind the api's back: no NOTIFY is sent (the jobs table has no trigger).
  await sql.query(`UPDATE jobs SET status = 'completed', output = '{"prompt":"finished quietly"}', completed_at = now() WHERE id = $1`, [id]);
  const result = await within(answer, 5_000 + 10_000, 'the sync call');
  expect(result.status).toBe(200);
  expect(result.body.choices[0].message.content).toBe('finished quietly');
}, 60_000);

test('a read of finished jobs that fails is tried again', async () => {
  // The re-read is put out of reach, so only the retry of the failed read can answer the caller.
  const api = await startApi(db.url, { MULE_SYNC_RECHECK_MS: '3600000' });
  await defineWorkflow(api);
  const { answer, id } = await startSyncCall(api, 'read fails');
  const holder = await sql.connect();
  try {
    // The api's read will wait for this lock; its connection is then cut, so the read fails for real.
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE');
    await holder.query(`UPDATE jobs SET status = 'completed', output = '{"prompt":"read again"}', completed_at = now() WHERE id = $1`, [id]);
    await sql.query(`SELECT pg_notify('mule_job_finished', $1)`, [id]);
    const reader = await waitFor(async () => {
      const { rows } = await sql.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'mule-api' AND wait_event_type = 'Lock' AND query LIKE '%FROM jobs j%'`,
      );
      return rows[0]?.pid;
    }, 10_000, "the api's read to wait for the lock");
    await sql.query('SELECT pg_terminate_backend($1)', [reader]);
    await api.waitForLog((line) => line['msg'] === 'could not read finished jobs; retrying', 10_000);
  } finally {
    await holder.query('COMMIT').catch(() => {});
    holder.release();
  }
  const result = await within(answer, 15_000, 'the sync call');
  expect(result.status).toBe(200);
  expect(result.body.choices[0].message.content).toBe('read again');
}, 60_000);
