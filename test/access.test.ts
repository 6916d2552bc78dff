/**
 * Access (SPEC 8, issue 7): API keys with scopes and rate limits, checked the same on two api processes; keys
 * stored only as hashes; safe defaults when no key exists.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { http, putModule, putWorkflow, testModule, waitFor } from './support/fixtures.js';
import { REPO_ROOT, startApi, startWorker, stopAllProcesses, type MuleProcess } from './support/processes.js';

let db: TestDatabase;
let apiA: MuleProcess;
let apiB: MuleProcess;
let pool: pg.Pool;
let admin: string;
let scoped: { id: string; key: string };
let other: { id: string; key: string };

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const chat = (api: MuleProcess, model: string, key?: string, headers: Record<string, string> = {}) =>
  http(api.url, 'POST', '/v1/chat/completions', { model, messages: [{ role: 'user', content: 'x' }] }, { ...(key ? bearer(key) : {}), ...headers });

function createKeyWithCli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'apps', 'cli', 'bin', 'mule.js'), 'keys', 'create', ...args], {
      env: { PATH: process.env['PATH'] ?? '', DATABASE_URL: db.url },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`mule keys create failed: ${err}`))));
  });
}

beforeAll(async () => {
  db = await createTestDatabase();
  [apiA, apiB] = await Promise.all([startApi(db.url), startApi(db.url), startWorker(db.url)]);
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  // No key yet: the api is open (and bound to 127.0.0.1).
  expect((await putModule(apiA.url, 'echo', testModule('echo'))).status).toBe(201);
  for (const name of ['echo-flow', 'echo-other', 'secret-flow']) {
    expect((await putWorkflow(apiA.url, name, [{ id: 'echo', wasm: 'echo' }])).status).toBe(201);
  }
  admin = await createKeyWithCli(['--name', 'ops', '--admin']);
  expect(admin).toMatch(/^mule_[A-Za-z0-9_-]{43}$/);
  // Both replicas learn that keys now exist.
  for (const api of [apiA, apiB]) await waitFor(async () => (await http(api.url, 'GET', '/v1/models')).status === 401, 5000, 'keys to be required');
  const make = async (body: unknown) => {
    const created = await http(apiA.url, 'POST', '/v1/keys', body, bearer(admin));
    expect(created.status).toBe(201);
    return { id: created.body.id as string, key: created.body.key as string };
  };
  scoped = await make({ name: 'echo-only', scopes: ['workflow/echo-*', 'wasm/echo'], rpm: 1000 });
  other = await make({ name: 'other', scopes: ['workflow/*'] });
});

afterAll(async () => {
  await pool?.end();
  await stopAllProcesses();
  await db?.drop();
});

describe('authentication', () => {
  test('401 without a key, with a wrong key, or with a malformed header, on every /v1 route', async () => {
    for (const [method, path] of [
      ['GET', '/v1/models'],
      ['POST', '/v1/chat/completions'],
      ['GET', '/v1/jobs'],
      ['PUT', '/v1/workflows/x'],
      ['POST', '/v1/wasm/execute'],
      ['GET', '/v1/keys'],
      ['GET', '/v1/nothing-here'],
    ] as const) {
      for (const headers of [{}, bearer('mule_wrong'), { authorization: 'Basic abc' }]) {
        const answer = await http(apiB.url, method, path, method === 'GET' ? undefined : {}, headers);
        expect([path, answer.status, answer.body.error.code, answer.body.error.type]).toEqual([path, 401, 'unauthorized', 'authentication_error']);
      }
    }
    // Health and metrics stay open (probes and Prometheus).
    expect((await http(apiB.url, 'GET', '/healthz')).status).toBe(200);
  });

  test('a valid key works on either replica', async () => {
    for (const api of [apiA, apiB]) {
      const answer = await chat(api, 'workflow/echo-flow', scoped.key);
      expect(answer.status).toBe(200);
    }
  });
});

describe('scopes', () => {
  test('403 on a model outside the scopes, on admin routes and on other keys\' jobs; async of an allowed workflow works', async () => {
    const denied = await chat(apiA, 'workflow/secret-flow', scoped.key);
    expect([denied.status, denied.body.error.code, denied.body.error.type]).toEqual([403, 'forbidden', 'permission_error']);
    expect((await chat(apiA, 'agent/anything', scoped.key)).status).toBe(403);
    for (const [method, path] of [['PUT', '/v1/workflows/x'], ['GET', '/v1/workflows'], ['GET', '/v1/keys'], ['POST', '/v1/keys'], ['DELETE', `/v1/keys/${other.id}`]] as const) {
      expect((await http(apiA.url, method, path, method === 'GET' || method === 'DELETE' ? undefined : {}, bearer(scoped.key))).status).toBe(403);
    }
    const queued = await chat(apiA, 'async/workflow/echo-other', scoped.key);
    expect(queued.status).toBe(202);
    expect((await http(apiB.url, 'GET', `/v1/jobs/${queued.body.id}`, undefined, bearer(scoped.key))).status).toBe(200);
    expect((await http(apiB.url, 'GET', `/v1/jobs/${queued.body.id}`, undefined, bearer(other.key))).status).toBe(403);
    expect((await http(apiB.url, 'GET', `/v1/jobs/${queued.body.id}`, undefined, bearer(admin))).status).toBe(200);
    const mine = await http(apiA.url, 'GET', '/v1/jobs?limit=100', undefined, bearer(other.key));
    expect(mine.body.data.some((job: { id: string }) => job.id === queued.body.id)).toBe(false);
    const models = await http(apiA.url, 'GET', '/v1/models', undefined, bearer(scoped.key));
    expect(models.body.data.map((m: { id: string }) => m.id).sort()).toEqual(
      ['async/workflow/echo-flow', 'async/workflow/echo-other', 'workflow/echo-flow', 'workflow/echo-other'].sort(),
    );
    expect((await http(apiA.url, 'POST', '/v1/wasm/execute', { module: 'echo', input: 1 }, bearer(scoped.key))).status).toBe(200);
    expect((await http(apiA.url, 'POST', '/v1/wasm/execute', { module: 'echo', input: 1 }, bearer(other.key))).status).toBe(403);
  });

  test('Idempotency-Keys are per API key', async () => {
    const headers = { 'Idempotency-Key': 'same-key-for-two-callers' };
    const a = await chat(apiA, 'async/workflow/echo-flow', scoped.key, headers);
    const b = await chat(apiA, 'async/workflow/echo-flow', other.key, headers);
    const again = await chat(apiB, 'async/workflow/echo-flow', scoped.key, headers);
    expect([a.status, b.status, again.status]).toEqual([202, 202, 202]);
    expect(a.body.id).not.toBe(b.body.id);
    expect(again.body.id).toBe(a.body.id);
  });
});

test('a revoked key stops working at once on every replica', async () => {
  const doomed = await http(apiA.url, 'POST', '/v1/keys', { name: 'doomed', scopes: ['workflow/*'] }, bearer(admin));
  expect((await chat(apiB, 'workflow/echo-flow', doomed.body.key)).status).toBe(200);
  const revoked = await http(apiA.url, 'DELETE', `/v1/keys/${doomed.body.id}`, undefined, bearer(admin));
  expect(revoked.body).toEqual({ id: doomed.body.id, object: 'api_key', deleted: true });
  expect((await chat(apiB, 'workflow/echo-flow', doomed.body.key)).status).toBe(401);
  expect((await chat(apiA, 'workflow/echo-flow', doomed.body.key)).status).toBe(401);
  const listed = await http(apiB.url, 'GET', '/v1/keys', undefined, bearer(admin));
  const entry = listed.body.data.find((k: { id: string }) => k.id === doomed.body.id);
  expect(entry.revoked_at).not.toBeNull();
  expect(JSON.stringify(listed.body)).not.toContain(doomed.body.key);
});

test('the per-key rate limit is shared by both replicas and answers 429 with Retry-After', async () => {
  // A fixed one-minute window: start early in a minute so the burst does not straddle two windows.
  const { rows } = await pool.query<{ s: number }>(`SELECT EXTRACT(SECOND FROM now())::float AS s`);
  if (rows[0]!.s > 45) await new Promise((resolve) => setTimeout(resolve, (61 - rows[0]!.s) * 1000));
  const limited = await http(apiA.url, 'POST', '/v1/keys', { name: 'limited', scopes: ['workflow/*'], rpm: 5 }, bearer(admin));
  const statuses: number[] = [];
  let last;
  for (let i = 0; i < 7; i++) {
    last = await http((i % 2 === 0 ? apiA : apiB).url, 'GET', '/v1/models', undefined, bearer(limited.body.key));
    statuses.push(last.status);
  }
  expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
  expect(last!.body.error).toMatchObject({ code: 'rate_limited', type: 'rate_limit_error' });
  const retryAfter = Number(last!.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
});

test('a database dump holds no usable key: only hashes, and a hash is not a key', async () => {
  const tables = (await pool.query<{ t: string }>(`SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) AS t FROM information_schema.tables WHERE table_schema IN ('public', 'pgboss') AND table_type = 'BASE TABLE'`)).rows;
  let dump = '';
  for (const { t } of tables) dump += JSON.stringify((await pool.query(`SELECT * FROM ${t}`)).rows);
  for (const key of [admin, scoped.key, other.key]) expect(dump).not.toContain(key);
  const { rows: hashes } = await pool.query<{ key_hash: string }>(`SELECT key_hash FROM api_keys`);
  expect(hashes.length).toBeGreaterThan(0);
  for (const { key_hash } of hashes) expect((await http(apiA.url, 'GET', '/v1/models', undefined, bearer(key_hash))).status).toBe(401);
});

test('MULE_API_KEYS gives bootstrap admin keys', async () => {
  const bootstrap = 'bootstrap-admin-key-0123456789';
  const api = await startApi(db.url, { MULE_API_KEYS: `other-key-abcdefghijklmnop,${bootstrap}` });
  expect((await http(api.url, 'GET', '/v1/keys', undefined, bearer(bootstrap))).status).toBe(200);
  expect((await http(api.url, 'PUT', '/v1/workflows/from-bootstrap', { steps: [{ id: 'e', wasm: 'echo' }] }, bearer(bootstrap))).status).toBe(201);
  expect((await http(api.url, 'GET', '/v1/keys', undefined, bearer('bootstrap-admin-key-wrong'))).status).toBe(401);
  await api.stop();
});

describe('defaults', () => {
  test('without keys the api binds to 127.0.0.1, and warns when HOST opens it wider', async () => {
    const fresh = await createTestDatabase();
    try {
      const local = await startApi(fresh.url);
      expect(local.logs.join('\n')).toContain('"host":"127.0.0.1"');
      const wide = await startApi(fresh.url, { HOST: '0.0.0.0' });
      await wide.waitForLog((line) => line['level'] === 40 && String(line['msg']).includes('no API keys'), 5000);
      await Promise.all([local.stop(), wide.stop()]);
    } finally {
      await fresh.drop();
    }
  });

  test('answers carry security headers and no stack traces', async () => {
    const answer = await http(apiA.url, 'POST', '/v1/chat/completions', '{"model":', { ...bearer(admin), 'content-type': 'application/json' });
    expect(answer.status).toBe(400);
    expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
    expect(answer.headers.get('x-frame-options')).toBe('DENY');
    expect(answer.headers.get('x-powered-by')).toBeNull();
    expect(JSON.stringify(answer.body)).not.toMatch(/at .+\.js:\d+/);
  });
});
