/**
 * The `mule_job_finished` payload carries a job's outcome when a worker ends a job on an idle system, so the
 * waiting api answers without reading the row: the entry format round-trips, a large or damaged outcome is not
 * trusted, and a real worker's NOTIFY for a sync call holds exactly what the job view says.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { finishedEntry, finishedIds, parseFinished, type JobOutcome } from '@mule/db';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { http, putModule, putWorkflow, testModule } from './support/fixtures.js';
import { startApi, startWorker, stopAllProcesses, type MuleProcess } from './support/processes.js';

const ID = '0b6c5f3e-3f0e-4c52-9d6e-4b1f5c2a7e10';
const OTHER = '7d1e2f3a-1b2c-4d5e-8f90-a1b2c3d4e5f6';

test('an entry round-trips the outcome; entries without one, or with one that does not parse, mean "read the row"', () => {
  const outcome: JobOutcome = { id: ID, status: 'completed', output: { prompt: 'a, b: "c"' }, error: null, usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } };
  const payload = [finishedEntry(outcome), OTHER, `${OTHER}:not-base64-json`].join(',');
  expect(parseFinished(payload)).toEqual([
    { id: ID, outcome },
    { id: OTHER, outcome: null },
    { id: OTHER, outcome: null },
  ]);
  expect(finishedIds(payload)).toEqual([ID, OTHER, OTHER]);
  // A listener names the jobs it waits for: the others are skipped, their outcomes never decoded.
  expect(parseFinished(payload, (id) => id === ID)).toEqual([{ id: ID, outcome }]);
  // An outcome naming another job is not believed.
  const forged = `${OTHER}:${Buffer.from(JSON.stringify(outcome)).toString('base64url')}`;
  expect(parseFinished(forged)).toEqual([{ id: OTHER, outcome: null }]);
});

test('an outcome too large for a NOTIFY is left out: the entry is the bare id', () => {
  const big: JobOutcome = { id: ID, status: 'completed', output: { prompt: 'x'.repeat(6_000) }, error: null, usage: null };
  expect(finishedEntry(big)).toBe(ID);
});

describe('from a real worker', () => {
  let db: TestDatabase;
  let api: MuleProcess;
  let listener: pg.Client;
  const payloads: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    [api] = await Promise.all([startApi(db.url), startWorker(db.url)]);
    expect((await putModule(api.url, 'echo', testModule('echo'))).status).toBe(201);
    expect((await putWorkflow(api.url, 'echo-flow', [{ id: 'echo', wasm: 'echo' }])).status).toBe(201);
    listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    listener.on('notification', (message) => payloads.push(message.payload ?? ''));
    await listener.query('LISTEN mule_job_finished');
  });

  afterAll(async () => {
    await listener?.end();
    await stopAllProcesses();
    await db?.drop();
  });

  test("a sync call's job ends with a NOTIFY that carries the outcome the job view shows", async () => {
    const answer = await http(api.url, 'POST', '/v1/chat/completions', { model: 'workflow/echo-flow', messages: [{ role: 'user', content: 'carried' }] });
    expect(answer.status).toBe(200);
    const jobId = String(answer.body.id);
    const uuid = jobId.slice('job-'.length);
    const view = await http(api.url, 'GET', `/v1/jobs/${jobId}`);
    const entries = payloads.flatMap((payload) => parseFinished(payload)).filter((entry) => entry.id === uuid);
    expect(entries).toHaveLength(1);
    expect(entries[0]!.outcome).toEqual({ id: uuid, status: 'completed', output: view.body.output, error: null, usage: null });
    expect(answer.body.choices[0].message.content).toBe('carried');
  });
});
