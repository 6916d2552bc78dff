/**
 * Access (README "API keys"): API keys with scopes and rate limits, checked the same on two api processes; keys
 * stored only as hashes; safe defaults when no key exists.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { http, putModule, putWorkflow, testModule, waitFor } from './support/fixtures.js';
import { REPO_ROOT, startApi, startWorker, stopAllProcesses, stopProcessesExcept, type MuleProcess } from './support/processes.js';

let db: TestDatabase;
let apiA: MuleProcess;
let apiB: MuleProcess;
let worker: MuleProcess;
let pool: pg.Pool;
let admin: string;
let scoped: { id: string; key: string };
let other: { id: string; key: string };
let secondAdmin: { id: string; key: string };
/** The id of the `ops` admin key made with the CLI. */
const adminId = async () =>
  (await pool.query<{ id: string }>(`SELECT id FROM api_keys WHERE name = 'ops'`)).rows[0]!.id;

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

/** A short rate-limit window, so the rate-limit test sees a window end without waiting for the clock's minute. */
const RATE_WINDOW_SECONDS = 5;

beforeAll(async () => {
  db = await createTestDatabase();
  const env = { MULE_RATE_WINDOW_SECONDS: String(RATE_WINDOW_SECONDS) };
  [apiA, apiB, worker] = await Promise.all([startApi(db.url, env), startApi(db.url, env), startWorker(db.url)]);
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

// Processes a test starts itself are stopped when it ends, pass or fail.
afterEach(() => stopProcessesExcept([apiA, apiB, worker]));

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
  test('403 on a model outside the scopes and on admin routes, 404 on other keys\' jobs; async of an allowed workflow works', async () => {
    const denied = await chat(apiA, 'workflow/secret-flow', scoped.key);
    expect([denied.status, denied.body.error.code, denied.body.error.type]).toEqual([403, 'forbidden', 'permission_error']);
    expect((await chat(apiA, 'agent/anything', scoped.key)).status).toBe(403);
    for (const [method, path] of [['PUT', '/v1/workflows/x'], ['GET', '/v1/workflows'], ['GET', '/v1/keys'], ['POST', '/v1/keys'], ['DELETE', `/v1/keys/${other.id}`]] as const) {
      expect((await http(apiA.url, method, path, method === 'GET' || method === 'DELETE' ? undefined : {}, bearer(scoped.key))).status).toBe(403);
    }
    const queued = await chat(apiA, 'async/workflow/echo-other', scoped.key);
    expect(queued.status).toBe(202);
    expect((await http(apiB.url, 'GET', `/v1/jobs/${queued.body.id}`, undefined, bearer(scoped.key))).status).toBe(200);
    // Another key's job answers exactly as a job that does not exist: a 403 would tell that it exists.
    const missing = 'job-00000000-0000-4000-8000-000000000000';
    for (const [method, suffix] of [['GET', ''], ['POST', '/cancel']] as const) {
      const foreign = await http(apiB.url, method, `/v1/jobs/${queued.body.id}${suffix}`, undefined, bearer(other.key));
      const absent = await http(apiB.url, method, `/v1/jobs/${missing}${suffix}`, undefined, bearer(other.key));
      expect([foreign.status, { ...foreign.body.error, message: foreign.body.error.message.replace(queued.body.id, missing) }]).toEqual([404, absent.body.error]);
      expect(absent.body.error).toMatchObject({ code: 'not_found', param: 'id' });
    }
    expect((await http(apiB.url, 'GET', `/v1/jobs/${queued.body.id}`, undefined, bearer(admin))).status).toBe(200);
    const mine = await http(apiA.url, 'GET', '/v1/jobs?limit=100', undefined, bearer(other.key));
    expect(mine.body.data.filter((job: { id: string }) => job.id === queued.body.id)).toEqual([]);
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

test('the per-key rate limit is shared by both replicas, answers 429 with Retry-After, and lets the key in again in the next window', async () => {
  const limited = await http(apiA.url, 'POST', '/v1/keys', { name: 'limited', scopes: ['workflow/*'], rpm: 5 }, bearer(admin));
  const models = (api: MuleProcess) => http(api.url, 'GET', '/v1/models', undefined, bearer(limited.body.key));
  // Windows are fixed and aligned to the epoch on the database's clock: start the burst in a window's first second,
  // so it does not straddle two windows.
  await waitFor(async () => {
    const { rows } = await pool.query<{ s: number }>(`SELECT mod(EXTRACT(EPOCH FROM clock_timestamp()), $1)::float AS s`, [RATE_WINDOW_SECONDS]);
    return rows[0]!.s < 1;
  }, 3 * RATE_WINDOW_SECONDS * 1000, 'the start of a rate-limit window');
  const statuses: number[] = [];
  let last;
  for (let i = 0; i < 7; i++) {
    last = await models(i % 2 === 0 ? apiA : apiB);
    statuses.push(last.status);
  }
  expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
  expect(last!.body.error).toMatchObject({ code: 'rate_limited', type: 'rate_limit_error' });
  const retryAfter = Number(last!.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(RATE_WINDOW_SECONDS);
  // The next window counts from zero, on both replicas.
  await waitFor(async () => (await models(apiB)).status === 200, 3 * RATE_WINDOW_SECONDS * 1000, 'the next window');
  expect((await models(apiA)).status).toBe(200);
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
});

describe('wasm scopes are checked on module names', () => {
  test('a call by sha256 needs a scope covering a module that has those bytes', async () => {
    const bytes = testModule('slow-echo');
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    expect((await http(apiA.url, 'PUT', '/v1/wasm/modules/zz-private', bytes, bearer(admin))).status).toBe(201);
    // A prefix scope that the hash happens to match (its first character) must not reach zz-private by hash.
    const prefix = await http(apiA.url, 'POST', '/v1/keys', { name: 'hash-prefix', scopes: [`wasm/${sha256[0]}*`] }, bearer(admin));
    const byHash = await http(apiA.url, 'POST', '/v1/wasm/execute', { module: sha256, input: 1 }, bearer(prefix.body.key));
    expect([byHash.status, byHash.body.error?.code]).toEqual([403, 'forbidden']);
    const unknownHash = await http(apiA.url, 'POST', '/v1/wasm/execute', { module: sha256[0] + 'f'.repeat(63), input: 1 }, bearer(prefix.body.key));
    expect(unknownHash.status).toBe(403);
    // A key allowed zz-private by name may call it by hash too; echo's scope does not reach it.
    const named = await http(apiA.url, 'POST', '/v1/keys', { name: 'zz-only', scopes: ['wasm/zz-*'] }, bearer(admin));
    expect((await http(apiA.url, 'POST', '/v1/wasm/execute', { module: sha256, input: 1 }, bearer(named.body.key))).status).toBe(200);
    expect((await http(apiA.url, 'POST', '/v1/wasm/execute', { module: sha256, input: 1 }, bearer(scoped.key))).status).toBe(403);
    const echoSha = createHash('sha256').update(testModule('echo')).digest('hex');
    expect((await http(apiA.url, 'POST', '/v1/wasm/execute', { module: echoSha, input: 1 }, bearer(scoped.key))).status).toBe(200);
    expect((await http(apiA.url, 'POST', '/v1/wasm/execute', { module: echoSha, input: 1 }, bearer(admin))).status).toBe(200);
  });

  test('a scope pattern cannot make matching backtrack: a*a*…b against a long name answers at once', async () => {
    // As a regex, ^a.*a.*…a.*b$ against 62 a's tries more combinations than could finish in a lifetime.
    const scope = `workflow/${'a*'.repeat(40)}b`;
    const key = await http(apiA.url, 'POST', '/v1/keys', { name: 'pathological', scopes: [scope] }, bearer(admin));
    expect(key.status).toBe(201);
    const denied = await chat(apiB, `workflow/${'a'.repeat(62)}`, key.body.key);
    expect([denied.status, denied.body.error?.code]).toEqual([403, 'forbidden']);
    expect((await http(apiB.url, 'GET', '/v1/models', undefined, bearer(key.body.key))).status).toBe(200);
  }, 20_000);
});

describe('defaults', () => {
  test('without keys the api binds to 127.0.0.1, and warns when HOST opens it wider', async () => {
    const fresh = await createTestDatabase();
    try {
      const local = await startApi(fresh.url);
      expect(local.logs.join('\n')).toContain('"host":"127.0.0.1"');
      const wide = await startApi(fresh.url, { HOST: '0.0.0.0' });
      await wide.waitForLog((line) => line['level'] === 40 && String(line['msg']).includes('no API keys'), 5000);
    } finally {
      await stopProcessesExcept([apiA, apiB, worker]);
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

describe('revoking keys never reopens the api', () => {
  test('the last active admin key cannot be revoked (409) unless MULE_API_KEYS provides one', async () => {
    const refused = await http(apiA.url, 'DELETE', `/v1/keys/${await adminId()}`, undefined, bearer(admin));
    expect([refused.status, refused.body.error?.code, refused.body.error?.type]).toEqual([409, 'conflict', 'conflict_error']);
    expect((await http(apiB.url, 'GET', '/v1/keys', undefined, bearer(admin))).status).toBe(200);
    // A second admin key makes the first revocable; the second is then the last.
    const second = await http(apiA.url, 'POST', '/v1/keys', { name: 'ops-2', admin: true }, bearer(admin));
    expect((await http(apiA.url, 'DELETE', `/v1/keys/${await adminId()}`, undefined, bearer(second.body.key))).status).toBe(200);
    expect((await http(apiA.url, 'DELETE', `/v1/keys/${second.body.id}`, undefined, bearer(second.body.key))).status).toBe(409);
    secondAdmin = second.body as { id: string; key: string };
  });

  test('with every key revoked (through a MULE_API_KEYS api) every /v1 route still needs a key, on running and restarted apis', async () => {
    const bootstrap = 'bootstrap-admin-key-revoker-0123';
    const revoker = await startApi(db.url, { MULE_API_KEYS: bootstrap });
    try {
      const listed = await http(revoker.url, 'GET', '/v1/keys', undefined, bearer(bootstrap));
      for (const key of listed.body.data as { id: string; revoked_at: string | null }[]) {
        if (key.revoked_at !== null) continue;
        expect((await http(revoker.url, 'DELETE', `/v1/keys/${key.id}`, undefined, bearer(bootstrap))).status).toBe(200);
      }
    } finally {
      await revoker.stop();
    }
    const { rows } = await pool.query<{ active: number }>(`SELECT count(*)::int AS active FROM api_keys WHERE revoked_at IS NULL`);
    expect(rows[0]!.active).toBe(0);
    const restarted = await startApi(db.url);
    for (const api of [apiA, apiB, restarted]) {
      for (const [method, path] of [['GET', '/v1/models'], ['GET', '/v1/keys'], ['POST', '/v1/keys'], ['PUT', '/v1/workflows/reopened']] as const) {
        const answer = await http(api.url, method, path, method === 'GET' ? undefined : { name: 'x', steps: [{ id: 'e', wasm: 'echo' }] });
        expect([api.name, path, answer.status]).toEqual([api.name, path, 401]);
      }
      expect((await http(api.url, 'GET', '/v1/models', undefined, bearer(secondAdmin.key))).status).toBe(401);
    }
  });
});
