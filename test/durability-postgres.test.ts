/**
 * PostgreSQL restarted under load, on an embedded instance of this test's own (never the machine's
 * shared server): the api and the workers recover by themselves, no accepted job is lost, and a sync call that
 * was waiting answers.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import pg from 'pg';
import { installQueue, migrate } from '@mule/db';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '@mule/db/embedded';
import { http, putModule, putWorkflow, testModule, waitFor } from './support/fixtures.js';
import { startApi, startWorker, stopAllProcesses, type MuleProcess } from './support/processes.js';

let dir: string;
let server: EmbeddedDatabase;
let url: string;
let api: MuleProcess;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mule-pg-restart-'));
  await chmod(dir, 0o755);
  server = await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), database: 'mule' });
  url = server.url('mule');
  await migrate(url);
  await installQueue(url);
  api = await startApi(url, { MULE_LEASE_SECONDS: '20' });
  await startWorker(url, { WORKER_CONCURRENCY: '4' });
  for (const name of ['echo', 'slow-echo']) expect((await putModule(api.url, name, testModule(name))).status).toBe(201);
  expect((await putWorkflow(api.url, 'quick', [{ id: 'only', wasm: 'echo' }])).status).toBe(201);
  expect((await putWorkflow(api.url, 'slow', [{ id: 'nap', wasm: 'slow-echo' }, { id: 'after', wasm: 'echo' }])).status).toBe(201);
}, 120_000);

/**
 * A pool for this test's own reads. pg-pool's end() resolves before its clients' sockets have closed, so the
 * server stopping right after can still reach a closing client with "terminating connection"; with no listener
 * the pool would rethrow that as an unhandled error and fail the test on what is the point of the test.
 */
function readPool(): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  pool.on('error', () => {});
  return pool;
}

afterAll(async () => {
  await stopAllProcesses();
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('a PostgreSQL restart under load loses no accepted job, and a waiting sync call answers', async () => {
  const send = (model: string, content: string) =>
    http(api.url, 'POST', '/v1/chat/completions', { model, messages: [{ role: 'user', content }] }).catch(() => null);
  // Load before, during and after the outage; only 202s count as accepted.
  const accepted: string[] = [];
  let loading = true;
  const load = (async () => {
    for (let i = 0; loading; i++) {
      const answer = await send('async/workflow/quick', `load ${i}`);
      if (answer?.status === 202) accepted.push(answer.body.id);
      else await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  await waitFor(async () => accepted.length >= 50, 30_000, 'load to start');
  const waiting = send('workflow/slow', 'across the restart');
  const pool = readPool();
  await waitFor(async () => {
    const { rows } = await pool.query(`SELECT 1 FROM jobs WHERE workflow_name = 'slow' AND status = 'running'`);
    return rows.length > 0;
  }, 10_000, 'the sync job to run');
  await pool.end();

  await server.stop();
  const acceptedBefore = accepted.length;
  server = await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), port: server.port });
  // The processes find the database again by themselves.
  await waitFor(async () => (await http(api.url, 'GET', '/readyz').catch(() => null))?.status === 200, 30_000, 'the api to be ready again');
  await waitFor(async () => accepted.length > acceptedBefore + 20, 30_000, 'new jobs to be accepted after the restart');
  loading = false;
  await load;

  const answer = await waiting;
  expect(answer?.status).toBe(200);
  expect(answer?.body.choices[0].message.content).toBe('across the restart');

  const check = readPool();
  try {
    await waitFor(async () => {
      const { rows } = await check.query(`SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1::uuid[]) AND status = 'completed'`, [
        accepted.map((id) => id.slice(4)),
      ]);
      return rows[0].n === accepted.length;
    }, 60_000, `all ${accepted.length} accepted jobs to complete`);
  } finally {
    await check.end();
  }
}, 180_000);
