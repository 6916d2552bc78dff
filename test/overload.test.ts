/**
 * Every queue a caller can fill in the api is bounded (capacity.ts): past its limit a request is refused at once
 * with 429 `overloaded` and a Retry-After, nothing is written, and the api stays healthy. Low limits are set by
 * environment so a test reaches them with a handful of calls (a burst of hundreds for the sandbox).
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { startFakeProvider } from './support/fake-provider.js';
import { http, putModule, putWorkflow, testModule, waitFor, type HttpResult } from './support/fixtures.js';
import { startApi, startWorker, stopAllProcesses, type MuleProcess } from './support/processes.js';

let db: TestDatabase;
let sql: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase();
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
});

// Processes a test starts are stopped when it ends, pass or fail.
afterEach(() => stopAllProcesses());

afterAll(async () => {
  await stopAllProcesses();
  await sql?.end();
  await db?.drop();
});

/** Rejects when `promise` has not settled within `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms))),
  ]);
}

function expectOverloaded(answer: { status: number; headers: Headers; body: any }): void {
  expect(answer.status).toBe(429);
  expect(answer.body.error).toMatchObject({ code: 'overloaded', type: 'rate_limit_error' });
  expect(answer.headers.get('retry-after')).toBe('1');
}

async function overloadedCount(api: MuleProcess, queue: string): Promise<number> {
  const text = (await http<string>(api.url, 'GET', '/metrics')).body;
  const line = text.split('\n').find((l) => l.startsWith(`mule_api_overloaded_total{queue="${queue}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('POST /v1/wasm/execute', () => {
  test('a burst of hundreds of slow runs: every caller gets 200 or 429 overloaded, and the api stays healthy', async () => {
    const api = await startApi(db.url, { MULE_WASM_THREADS: '2', MULE_WASM_MAX_QUEUED: '8' });
    expect((await putModule(api.url, 'sleep', testModule('sleep'))).status).toBe(201);
    const call = () =>
      http(api.url, 'POST', '/v1/wasm/execute', { module: 'sleep', input: { ms: 200 } }).catch((error: Error) => ({
        status: 0,
        headers: new Headers(),
        body: error.message,
      }));
    const burst = Promise.all(Array.from({ length: 300 }, call));
    // While the burst is in flight the api answers its health check.
    await waitFor(async () => (await overloadedCount(api, 'wasm_runs')) > 0, 20_000, 'the first refusal');
    expect((await within(http(api.url, 'GET', '/healthz'), 5_000, '/healthz during the burst')).status).toBe(200);
    const answers: HttpResult[] = await burst;

    const statuses = new Set(answers.map((answer) => answer.status));
    expect([...statuses].sort()).toEqual([200, 429]);
    for (const answer of answers) {
      if (answer.status === 200) expect(answer.body.output).toMatchObject({ slept_ms: expect.any(Number) });
      else expectOverloaded(answer);
    }
    expect(await overloadedCount(api, 'wasm_runs')).toBe(answers.filter((answer) => answer.status === 429).length);
    expect(api.child.exitCode).toBeNull();
    // The slots came back: a run after the burst is not refused.
    expect((await http(api.url, 'POST', '/v1/wasm/execute', { module: 'sleep', input: { ms: 1 } })).status).toBe(200);
  }, 120_000);
});

describe('workflow/<name>', () => {
  test('sync waiters and open streams are bounded; a refused call writes no job', async () => {
    // No worker at first: every call waits, so the limits are reached exactly.
    const api = await startApi(db.url, { MULE_MAX_SYNC_WAITERS: '2', MULE_MAX_STREAMS: '1' });
    expect([200, 201]).toContain((await putModule(api.url, 'echo', testModule('echo'))).status);
    expect([200, 201]).toContain((await putWorkflow(api.url, 'echo-flow', [{ id: 'echo', wasm: 'echo' }])).status);
    const jobs = async () => (await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs`)).rows[0]!.n;
    const before = await jobs();
    const chat = (content: string, stream = false) =>
      http(api.url, 'POST', '/v1/chat/completions', { model: 'workflow/echo-flow', stream, messages: [{ role: 'user', content }] });

    // One stream is open (its headers arrived: the stream started); a second is refused.
    const stream = await fetch(`${api.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'workflow/echo-flow', stream: true, messages: [{ role: 'user', content: 'streamed' }] }),
    });
    expect(stream.status).toBe(200);
    expectOverloaded(await chat('second stream', true));

    // Streams and waiters are counted apart: two sync calls wait, a third is refused.
    const waiting = [chat('first'), chat('second')];
    await waitFor(async () => (await jobs()) === before + 3, 10_000, 'three jobs (one stream, two sync calls)');
    expectOverloaded(await chat('third'));
    expect(await jobs()).toBe(before + 3);

    // A worker finishes the jobs: the callers are answered and their slots come back.
    await startWorker(db.url);
    const answers = await Promise.all(waiting);
    expect(answers.map((answer) => [answer.status, answer.body.choices?.[0].message.content])).toEqual([
      [200, 'first'],
      [200, 'second'],
    ]);
    expect(await stream.text()).toContain('data: [DONE]');
    expect((await chat('after')).status).toBe(200);
    expect((await chat('after, streamed', true)).status).toBe(200);
    expect(await overloadedCount(api, 'sync_waiters')).toBe(1);
    expect(await overloadedCount(api, 'streams')).toBe(1);
  }, 120_000);
});

describe('agent/<name>', () => {
  test('agent calls in the api are bounded', async () => {
    const fake = await startFakeProvider();
    try {
      const api = await startApi(db.url, { MULE_MAX_AGENT_CALLS: '1', MULE_SECRET_KEY: randomBytes(32).toString('hex') });
      expect((await http(api.url, 'PUT', '/v1/providers/fake', { type: 'openai', base_url: fake.url, api_key: 'sk-overload-test' })).status).toBe(201);
      expect((await http(api.url, 'PUT', '/v1/agents/helper', { provider: 'fake', model: 'fake-model' })).status).toBe(201);
      const ask = () => http(api.url, 'POST', '/v1/chat/completions', { model: 'agent/helper', messages: [{ role: 'user', content: 'hi' }] });
      // The first call holds the only slot while its provider request hangs.
      fake.script({ hang: true });
      const gone = new AbortController();
      const first = fetch(`${api.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'agent/helper', messages: [{ role: 'user', content: 'hang' }] }),
        signal: gone.signal,
      }).catch(() => null);
      await fake.waitFor((requests) => requests.length === 1, 10_000);
      expectOverloaded(await ask());
      expect(fake.requests).toHaveLength(1);

      // The caller goes away: its run is aborted and the slot comes back.
      gone.abort();
      await first;
      fake.script({ text: 'bonjour' });
      const answer = await waitFor(async () => {
        const next = await ask();
        return next.status === 429 ? null : next;
      }, 10_000, 'the slot to come back');
      expect([answer.status, answer.body.choices?.[0].message.content]).toEqual([200, 'bonjour']);
      expect(await overloadedCount(api, 'agent_calls')).toBeGreaterThanOrEqual(1);
    } finally {
      await fake.close();
    }
  }, 60_000);
});
