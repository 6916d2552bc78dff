/**
 * A seeded fuzzer: thousands of malformed requests to every route — wrong types, huge strings, deep
 * nesting, invalid UTF-8, wrong content types, odd methods, paths and headers — and streaming clients that hang
 * up mid-stream. No 5xx, no process exit, and nothing a malformed request could change has changed.
 */
import http from 'node:http';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { startFakeProvider, type FakeProvider } from './support/fake-provider.js';
import { http as request, putModule, putWorkflow, testModule, waitFor } from './support/fixtures.js';
import { startApi, startWorker, stopAllProcesses, type MuleProcess } from './support/processes.js';

const SEED = 20261126;
const REQUESTS = 2400;

let db: TestDatabase;
let api: MuleProcess;
let worker: MuleProcess;
let pool: pg.Pool;
let fake: FakeProvider;

/** mulberry32: a tiny seeded PRNG, so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

beforeAll(async () => {
  db = await createTestDatabase();
  fake = await startFakeProvider();
  [api, worker] = await Promise.all([startApi(db.url, { MULE_MAX_BODY_BYTES: '65536' }), startWorker(db.url)]);
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  for (const name of ['echo', 'slow-echo']) expect((await putModule(api.url, name, testModule(name))).status).toBe(201);
  expect((await putWorkflow(api.url, 'good', [{ id: 'echo', wasm: 'echo' }])).status).toBe(201);
  expect((await putWorkflow(api.url, 'slow', [{ id: 'nap', wasm: 'slow-echo' }])).status).toBe(201);
  expect((await request(api.url, 'PUT', '/v1/providers/fake', { type: 'openai', base_url: fake.url })).status).toBe(201);
  expect((await request(api.url, 'PUT', '/v1/agents/talker', { provider: 'fake', model: 'm' })).status).toBe(201);
});

afterAll(async () => {
  await pool?.end();
  await stopAllProcesses();
  await fake?.close();
  await db?.drop();
});

async function snapshot(): Promise<string> {
  const { rows } = await pool.query(`
    SELECT (SELECT count(*) FROM jobs) AS jobs, (SELECT count(*) FROM job_steps) AS steps,
           (SELECT count(*) FROM api_keys) AS keys, (SELECT count(*) FROM api_keys WHERE revoked_at IS NULL) AS active_keys,
           (SELECT md5(string_agg(name || spec::text, ',' ORDER BY name)) FROM providers) AS providers,
           (SELECT md5(string_agg(name || spec::text, ',' ORDER BY name)) FROM agents) AS agents,
           (SELECT md5(string_agg(name || sha256 || spec::text, ',' ORDER BY name)) FROM wasm_modules) AS modules,
           (SELECT md5(string_agg(workflow_name || version || spec::text, ',' ORDER BY workflow_name, version)) FROM workflow_versions) AS workflows`);
  return JSON.stringify(rows[0]);
}

interface RawRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

function send(raw: RawRequest): Promise<number> {
  const url = new URL(api.url);
  return new Promise((resolve) => {
    const req = http.request(
      { host: url.hostname, port: url.port, method: raw.method, path: raw.path, headers: raw.headers },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(-1));
      },
    );
    req.on('error', () => resolve(-1));
    req.end(raw.body);
  });
}

/** Builds malformed requests; every one is invalid by construction (see `mutate`), so none may change anything. */
function generator(random: () => number) {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const int = (max: number) => Math.floor(random() * max);
  const junkValues: unknown[] = [null, true, 0, -1, 1e308, 'x'.repeat(5000), [], {}, [[[]]], { a: { b: {} } }, '\u0000', 'ﾟ∀ﾟ', -0.5];
  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
  const invalidUtf8 = Buffer.from([0x7b, 0x22, 0x6d, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0xa0, 0xa1, 0xf0, 0x28, 0x8c, 0x28, 0x22, 0x7d]);

  const validChat = () => ({ model: 'workflow/good', messages: [{ role: 'user', content: 'hi' }] });
  /**
   * Breaks a valid body so it can only be refused: a required field gets a value of another type or goes away,
   * an optional one gets a value out of its range or type, or a field nests far too deep. (Unknown fields are not
   * used on chat bodies: OpenAI clients send fields Mule ignores, so those are valid there.)
   */
  const mutate = (body: Record<string, unknown>, required: string[], invalidOptional: Record<string, unknown[]> = {}): Record<string, unknown> => {
    const copy: Record<string, unknown> = structuredClone(body);
    const optional = Object.keys(invalidOptional);
    switch (int(optional.length > 0 ? 4 : 3)) {
      case 0: {
        const field = pick(required);
        copy[field] = pick(junkValues.filter((v) => typeof v !== typeof body[field] || v === null || Array.isArray(v) !== Array.isArray(body[field])));
        break;
      }
      case 1:
        delete copy[pick(required)];
        break;
      case 2:
        copy[pick(required)] = JSON.parse(deep(70 + int(200)));
        break;
      default: {
        const field = pick(optional);
        copy[field] = pick(invalidOptional[field]!);
      }
    }
    return copy;
  };
  const badChatOptions = {
    stream: ['yes', 1, {}, []],
    temperature: [9, -1, 'hot', []],
    max_tokens: [0, -5, 'many', 1.5],
    messages: [[], 'x', [{ role: 'robot', content: 'x' }], [{ role: 'user', content: 7 }], [{ content: 'x' }]],
  };

  const routes: (() => RawRequest)[] = [
    // chat completions: wrong types, unknown models, broken JSON, wrong content types, huge and deep bodies
    () => ({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(mutate(validChat(), ['model', 'messages'], badChatOptions))) }),
    () => ({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ ...validChat(), model: `${pick(['workflow/', 'async/workflow/', 'agent/'])}${'a'.repeat(40 + int(23))}` })) }),
    () => ({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ ...validChat(), model: pick(['workflow/none', 'agent/none', 'async/workflow/', 'workflow/', '../etc/passwd', 'gpt-4', '']) })) }),
    () => ({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': pick(['text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded']) }, body: Buffer.from(JSON.stringify(validChat())) }),
    () => ({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(validChat()).slice(0, int(40))) }),
    () => ({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: invalidUtf8 }),
    () => ({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: Buffer.from(deep(1000 + int(100_000))) }),
    () => ({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ ...validChat(), messages: [{ role: 'user', content: 'y'.repeat(70_000) }] })) }),
    () => ({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json; charset=utf-16' }, body: Buffer.from(JSON.stringify(validChat())) }),
    () => ({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json', 'idempotency-key': pick(['', ' ', 'k'.repeat(300), 'has spaces in it']) }, body: Buffer.from(JSON.stringify({ ...validChat(), model: 'async/workflow/good', messages: 'nope' })) }),
    // definitions: invalid bodies and names; DELETEs only of invalid names
    () => ({ method: 'PUT', path: `/v1/${pick(['workflows', 'agents', 'providers'])}/${pick(['good', 'talker', 'fake', 'new-one'])}`, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ ...mutate({ steps: [{ id: 'a', wasm: 'echo' }], provider: 'fake', model: 'm', type: 'openai' }, ['steps', 'provider', 'model', 'type']), [`unknown_${int(1000)}`]: 1 })) }),
    () => ({ method: pick(['PUT', 'GET', 'DELETE']), path: `/v1/${pick(['workflows', 'agents', 'providers', 'wasm/modules'])}/${pick(['UPPER', 'a%20b', '%00', '..%2F..', '-x', 'x'.repeat(80), '%E2%82'])}`, headers: { 'content-type': 'application/json' }, body: Buffer.from('{}') }),
    () => ({ method: 'PUT', path: `/v1/wasm/modules/${pick(['good-bytes', 'echo2'])}`, headers: { 'content-type': pick(['application/wasm', 'application/octet-stream']) }, body: Buffer.from(Array.from({ length: 1 + int(4096) }, () => int(256))) }),
    () => ({ method: 'PUT', path: `/v1/wasm/modules/fz${int(100)}`, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ wasm_base64: pick(['', '!!!', 'AGFzbQ', Buffer.from('not wasm at all').toString('base64'), 123]) })) }),
    () => ({ method: 'PUT', path: `/v1/wasm/modules/fz${int(100)}?tool=${pick(['{', '[1]', '%7B%22x%22'])}&colour=blue`, headers: { 'content-type': 'application/wasm' }, body: Buffer.from([0, 97, 115, 109, 1, 0, 0, 0]) }),
    () => ({ method: 'PUT', path: `/v1/wasm/modules/fz${int(100)}`, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ wasm_base64: 'AGFzbQEAAAA=', ...pick([{ description: pick(['\u0000', 'a\ud800']) }, { tool: { description: pick(['\u0000', '\udc00x']) } }]) })) }),
    () => ({ method: 'PUT', path: `/v1/wasm/modules/fz${int(100)}?${pick(['description=%00', 'tool=%7B%22description%22%3A%22%5Cu0000%22%7D', 'description=a%00b'])}`, headers: { 'content-type': 'application/wasm' }, body: Buffer.from([0, 97, 115, 109, 1, 0, 0, 0]) }),
    () => ({ method: 'GET', path: `/v1/jobs?${pick(['workflow=a%00', 'after=job-%00', 'status=%00'])}`, headers: {} }),
    () => ({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ model: pick(['workflow/good\u0000', 'agent/\u0000', 'async/workflow/go\u0000od']), messages: [{ role: 'user', content: pick(['\u0000', '\ud800', 'x\udc00', 'ok']) }] })) }),
    // jobs
    () => ({ method: pick(['GET', 'POST']), path: `/v1/jobs/${pick(['job-1', 'job-00000000-0000-4000-8000-000000000000', '%00', 'x'.repeat(200), 'job-' + 'z'.repeat(36)])}${pick(['', '/cancel'])}`, headers: {} }),
    () => ({ method: 'GET', path: `/v1/jobs?${pick(['status=nope', 'limit=-1', 'limit=1e9', 'limit=abc', 'after=zzz', 'status=queued&status=running', 'workflow=' + 'w'.repeat(500)])}`, headers: {} }),
    // wasm execute
    () => ({ method: 'POST', path: '/v1/wasm/execute', headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(mutate({ module: 'echo', input: {}, timeout_ms: 100 }, ['module'], { timeout_ms: [0, -1, 'soon', 1e9] }))) }),
    () => ({ method: 'POST', path: '/v1/wasm/execute', headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ module: pick(['nope', 'f'.repeat(64), '', 'Echo']), input: 1 })) }),
    // keys (no key exists: these are admin routes in open mode) with invalid bodies
    () => ({ method: 'POST', path: '/v1/keys', headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(mutate({ name: 'k', scopes: ['workflow/*'] }, ['name'], { scopes: ['x', [1], ['UPPER CASE'], {}], rpm: [0, -1, 'fast'] }))) }),
    () => ({ method: 'DELETE', path: `/v1/keys/${pick(['nope', '00000000-0000-4000-8000-000000000000', '%ff'])}`, headers: {} }),
    // odd methods, paths, headers
    () => ({ method: pick(['PATCH', 'OPTIONS', 'TRACE', 'PROPFIND', 'HEAD']), path: pick(['/v1/chat/completions', '/v1/models', '/v1/jobs', '/']), headers: {} }),
    () => ({ method: 'GET', path: pick(['/v1/models/100%25', '/v1/models/%E2%82', '/v1/models/workflow/%00', '/v1/models?x=' + '%'.repeat(50), '//v1//models', '/v1/models/../../etc', '/v1/' + 'a/'.repeat(500), '/%c0%ae%c0%ae/']), headers: { authorization: pick(['Bearer', 'Bearer ' + 'x'.repeat(2000), 'Basic Zm9v']) } }),
  ];
  return () => pick(routes)();
}

/** Sends `count` requests from `next`, 8 at a time; answers the statuses seen and the requests that failed (5xx, no answer). */
async function fuzz(count: number, next: () => RawRequest): Promise<{ statuses: Map<number, number>; failures: string[] }> {
  const statuses = new Map<number, number>();
  const failures: string[] = [];
  let sent = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (sent < count) {
        sent++;
        const raw = next();
        const status = await send(raw);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status >= 500 || status < 100) failures.push(`${raw.method} ${raw.path.slice(0, 80)} ${raw.headers['authorization']?.slice(0, 20) ?? ''} -> ${status}`);
      }
    }),
  );
  return { statuses, failures };
}

test(`${REQUESTS} malformed requests: no 5xx, no process exit, nothing changed`, async () => {
  const before = await snapshot();
  const { statuses, failures } = await fuzz(REQUESTS, generator(prng(SEED)));
  expect(failures).toEqual([]);
  expect([...statuses.keys()].filter((s) => s < 200 || s >= 500)).toEqual([]);
  expect(statuses.get(400)).toBeGreaterThan(REQUESTS / 4);
  expect(api.child.exitCode).toBeNull();
  expect(worker.child.exitCode).toBeNull();
  expect(await snapshot()).toBe(before);
  expect((await request(api.url, 'GET', '/readyz')).status).toBe(200);
}, 240_000);

test('streaming clients that hang up mid-stream break nothing', async () => {
  const url = new URL(api.url);
  fake.onRequest = () => ({ text: 'a slow answer '.repeat(50), delayMs: 300 });
  const hangUp = (model: string, afterMs: number) =>
    new Promise<void>((resolve) => {
      const req = http.request(
        { host: url.hostname, port: url.port, method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' } },
        (res) => {
          res.once('data', () => setTimeout(() => req.destroy(), afterMs));
          res.on('error', () => resolve());
          res.on('close', () => resolve());
        },
      );
      req.on('error', () => resolve());
      req.end(JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: 'tell me' }] }));
      setTimeout(() => req.destroy(), 5000);
    });
  const random = prng(SEED + 1);
  await Promise.all(Array.from({ length: 30 }, (_, i) => hangUp(i % 2 === 0 ? 'workflow/slow' : 'agent/talker', Math.floor(random() * 200))));
  // Connections cut before the first byte, too.
  for (let i = 0; i < 10; i++) {
    const req = http.request({ host: url.hostname, port: url.port, method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json', 'content-length': '500' } });
    req.on('error', () => {});
    req.write('{"model":"workflow/good","messages":[');
    setTimeout(() => req.destroy(), 20);
  }
  const after = await request(api.url, 'POST', '/v1/chat/completions', { model: 'workflow/good', messages: [{ role: 'user', content: 'still fine' }] });
  expect(after.status).toBe(200);
  expect(after.body.choices[0].message.content).toBe('still fine');
  expect(api.child.exitCode).toBeNull();
  expect(worker.child.exitCode).toBeNull();
  const serverErrors = api.logs.filter((line) => /"status":5\d\d/.test(line) || /"level":50/.test(line));
  expect(serverErrors).toEqual([]);
}, 120_000);

// Last: from here on keys are required (they stay required for good once one existed).
test(`${REQUESTS} malformed requests with keys on — missing, malformed, unknown, revoked, non-admin and admin keys: no 5xx, no exit, nothing changed`, async () => {
  const create = async (body: unknown, admin?: string) => {
    const created = await request(api.url, 'POST', '/v1/keys', body, admin ? { authorization: `Bearer ${admin}` } : {});
    expect(created.status).toBe(201);
    return created.body as { id: string; key: string };
  };
  const admin = await create({ name: 'fuzz-admin', admin: true });
  // A scope a regex would backtrack on for ever against the long models the generator sends.
  const scoped = await create({ name: 'fuzz-scoped', scopes: ['workflow/good', 'wasm/echo', `workflow/${'a*'.repeat(40)}b`], rpm: 1_000_000 }, admin.key);
  const revoked = await create({ name: 'fuzz-revoked', scopes: ['*'], admin: false }, admin.key);
  expect((await request(api.url, 'DELETE', `/v1/keys/${revoked.id}`, undefined, { authorization: `Bearer ${admin.key}` })).status).toBe(200);
  await waitFor(async () => (await request(api.url, 'GET', '/v1/models')).status === 401, 5000, 'keys to be required');

  const before = await snapshot();
  const random = prng(SEED + 2);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const authorizations = [
    undefined,
    'Bearer',
    'Bearer ',
    'Basic Zm9vOmJhcg==',
    `Bearer ${'x'.repeat(600)}`,
    `Bearer mule_${'A'.repeat(43)}`,
    `Bearer ${revoked.key}`,
    `Bearer ${admin.key}x`,
    `Bearer ${admin.key.slice(0, -1)}`,
    `Bearer ${scoped.key}`,
    `Bearer ${scoped.key}`,
    `bearer ${admin.key}`,
    `Bearer ${admin.key}`,
    `Bearer ${admin.key}`,
  ];
  const malformed = generator(random);
  const { statuses, failures } = await fuzz(REQUESTS, () => {
    const raw = malformed();
    const authorization = pick(authorizations);
    return { ...raw, headers: { ...(authorization === undefined ? {} : { authorization }), ...raw.headers } };
  });
  expect(failures).toEqual([]);
  expect([...statuses.keys()].filter((s) => s < 200 || s >= 500)).toEqual([]);
  // Every kind of caller was met: refused ones (401), non-admin ones (403) and admins reaching validation (400).
  expect(statuses.get(401)).toBeGreaterThan(REQUESTS / 4);
  expect(statuses.get(403)).toBeGreaterThan(0);
  expect(statuses.get(400)).toBeGreaterThan(REQUESTS / 10);
  expect(api.child.exitCode).toBeNull();
  expect(worker.child.exitCode).toBeNull();
  expect(await snapshot()).toBe(before);
  expect((await request(api.url, 'GET', '/v1/models', undefined, { authorization: `Bearer ${admin.key}` })).status).toBe(200);
}, 240_000);
