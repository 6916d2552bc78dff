/**
 * Definitions cannot be turned against the service: a `*_env` field may name only variables MULE_ENV_ALLOW allows
 * (never DATABASE_URL, MULE_SECRET_KEY or MULE_API_KEYS), checked at PUT, at `mule apply`, at MULE_DEFINITIONS and
 * where the variable is read (api and worker), so one stored before the rule cannot leak; a stored provider key is
 * dropped when the provider's endpoint changes; a module upload's JSON holding NUL is a 400.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { startFakeProvider, type FakeProvider } from './support/fake-provider.js';
import { http, testModule } from './support/fixtures.js';
import { REPO_ROOT, startApi, startWorker, stopAllProcesses, type MuleProcess } from './support/processes.js';

const SECRET_KEY = randomBytes(32).toString('hex');
const PROVIDER_KEY = `sk-allowed-${randomBytes(8).toString('hex')}`;

let db: TestDatabase;
let fake: FakeProvider;
let api: MuleProcess;
let pool: pg.Pool;
let folder: string;

beforeAll(async () => {
  db = await createTestDatabase();
  fake = await startFakeProvider();
  folder = await mkdtemp(join(tmpdir(), 'mule-definition-safety-'));
  const env = { MULE_SECRET_KEY: SECRET_KEY, MULE_PROVIDER_FAKE_KEY: PROVIDER_KEY, OTHER_SETTING: 'not for definitions' };
  [api] = await Promise.all([startApi(db.url, env), startWorker(db.url, env)]);
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
});

afterAll(async () => {
  await pool?.end();
  await stopAllProcesses();
  await fake?.close();
  await db?.drop();
  if (folder) await rm(folder, { recursive: true, force: true });
});

const secrets = () => [db.url, SECRET_KEY];
const leaked = () => fake.requests.filter((request) => secrets().some((secret) => JSON.stringify(request).includes(secret)));

describe('MULE_ENV_ALLOW', () => {
  test('PUT refuses a variable outside the allow list with 400 naming the field; allowed ones are accepted', async () => {
    for (const [field, variable] of [
      ['api_key_env', 'DATABASE_URL'],
      ['api_key_env', 'MULE_SECRET_KEY'],
      ['base_url_env', 'MULE_API_KEYS'],
      ['base_url_env', 'DATABASE_URL'],
      ['api_key_env', 'OTHER_SETTING'],
      ['api_key_env', 'database_url'],
    ] as const) {
      const endpoint = field === 'base_url_env' ? {} : { base_url: fake.url };
      const answer = await http(api.url, 'PUT', '/v1/providers/leaky', { type: 'openai', ...endpoint, [field]: variable });
      expect([variable, answer.status, answer.body.error?.code, answer.body.error?.param]).toEqual([variable, 400, 'invalid_request', field]);
    }
    const both = await http(api.url, 'PUT', '/v1/providers/leaky', { type: 'openai', base_url_env: 'OTHER_SETTING', api_key_env: 'MULE_PROVIDER_FAKE_KEY' });
    expect([both.status, both.body.error?.param]).toEqual([400, 'base_url_env']);
    for (const variable of ['MULE_PROVIDER_FAKE_KEY', 'OPENAI_API_KEY', 'SOMEONE_API_KEY', 'GITHUB_TOKEN', 'GEMINI_KEY']) {
      const answer = await http(api.url, 'PUT', '/v1/providers/fine', { type: 'openai', base_url: fake.url, api_key_env: variable });
      expect([variable, answer.status < 300]).toEqual([variable, true]);
    }
    const { rows } = await pool.query(`SELECT name FROM providers WHERE name = 'leaky'`);
    expect(rows).toEqual([]);
  });

  test('MULE_ENV_ALLOW widens the list, but never to DATABASE_URL, MULE_SECRET_KEY or MULE_API_KEYS', async () => {
    const wide = await startApi(db.url, { MULE_ENV_ALLOW: '*, OTHER_*' });
    try {
      expect((await http(wide.url, 'PUT', '/v1/providers/other', { type: 'openai', base_url: fake.url, api_key_env: 'OTHER_SETTING' })).status).toBe(201);
      for (const variable of ['DATABASE_URL', 'MULE_SECRET_KEY', 'MULE_API_KEYS']) {
        const answer = await http(wide.url, 'PUT', '/v1/providers/leaky', { type: 'openai', base_url: fake.url, api_key_env: variable });
        expect([variable, answer.status, answer.body.error?.param]).toEqual([variable, 400, 'api_key_env']);
      }
    } finally {
      await wide.stop();
    }
    // The narrower default api refuses OTHER_SETTING, also on a PUT that changes nothing else.
    const again = await http(api.url, 'PUT', '/v1/providers/other', { type: 'openai', base_url: fake.url, api_key_env: 'OTHER_SETTING' });
    expect([again.status, again.body.error?.param]).toEqual([400, 'api_key_env']);
  });

  test('a bad MULE_ENV_ALLOW stops the api at start, naming the variable', async () => {
    await expect(startApi(db.url, { MULE_ENV_ALLOW: 'OPENAI_*,$(whoami)' })).rejects.toThrow(/MULE_ENV_ALLOW/);
  });

  test('a definition stored before the rule cannot leak: the api and the worker refuse to read the variable', async () => {
    // Written straight into the table, as an older version (or a hand edit) could have.
    await pool.query(`INSERT INTO providers (name, spec) VALUES ('old-leaky', $1::jsonb), ('old-leaky-url', $2::jsonb)`, [
      JSON.stringify({ name: 'old-leaky', type: 'openai', base_url: fake.url, api_key_env: 'DATABASE_URL' }),
      JSON.stringify({ name: 'old-leaky-url', type: 'openai', base_url_env: 'MULE_SECRET_KEY', api_key_env: 'MULE_PROVIDER_FAKE_KEY' }),
    ]);
    expect((await http(api.url, 'PUT', '/v1/agents/leaker', { provider: 'old-leaky', model: 'm' })).status).toBe(201);
    expect((await http(api.url, 'PUT', '/v1/agents/url-leaker', { provider: 'old-leaky-url', model: 'm' })).status).toBe(201);
    expect((await http(api.url, 'PUT', '/v1/workflows/leak-flow', { steps: [{ id: 'a', agent: 'leaker' }] })).status).toBe(201);
    const messages = [{ role: 'user', content: 'hi' }];
    for (const model of ['agent/leaker', 'agent/url-leaker', 'workflow/leak-flow']) {
      const answer = await http(api.url, 'POST', '/v1/chat/completions', { model, messages });
      expect([model, answer.status, answer.body.error?.code]).toEqual([model, 502, 'provider_error']);
      expect(answer.body.error.message).toContain('MULE_ENV_ALLOW');
    }
    // The workflow's step ran in the worker: its job failed there with the same error.
    const { rows } = await pool.query<{ status: string; error: { code: string; message: string } }>(
      `SELECT status, error FROM jobs WHERE workflow_name = 'leak-flow'`,
    );
    expect(rows.map((row) => [row.status, row.error.code])).toEqual([['failed', 'provider_error']]);
    expect(rows[0]!.error.message).toContain('MULE_ENV_ALLOW');
    expect(fake.requests).toEqual([]);
    expect(leaked()).toEqual([]);
  });

  test('an allowed variable is read and used', async () => {
    expect((await http(api.url, 'PUT', '/v1/providers/keyed', { type: 'openai', base_url: fake.url, api_key_env: 'MULE_PROVIDER_FAKE_KEY' })).status).toBe(201);
    expect((await http(api.url, 'PUT', '/v1/agents/keyed', { provider: 'keyed', model: 'm' })).status).toBe(201);
    fake.reset();
    const answer = await http(api.url, 'POST', '/v1/chat/completions', { model: 'agent/keyed', messages: [{ role: 'user', content: 'hi' }] });
    expect(answer.status).toBe(200);
    expect(fake.requests.map((request) => request.headers['authorization'])).toEqual([`Bearer ${PROVIDER_KEY}`]);
  });

  test('MULE_DEFINITIONS naming DATABASE_URL stops the api at start, naming the field', async () => {
    const file = join(folder, 'leak.yaml');
    await writeFile(file, `kind: provider\nname: file-leak\ntype: openai\nbase_url: ${fake.url}\napi_key_env: DATABASE_URL\n`);
    await expect(startApi(db.url, { MULE_DEFINITIONS: file })).rejects.toThrow(/api_key_env: DATABASE_URL may not be read/);
    const { rows } = await pool.query(`SELECT name FROM providers WHERE name = 'file-leak'`);
    expect(rows).toEqual([]);
  });

  test('mule apply of a definition naming MULE_SECRET_KEY is refused with 400 naming the field', async () => {
    const file = join(folder, 'apply-leak.yaml');
    await writeFile(file, `kind: provider\nname: apply-leak\ntype: openai\nbase_url_env: MULE_SECRET_KEY\n`);
    const run = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [join(REPO_ROOT, 'apps', 'cli', 'bin', 'mule.js'), 'apply', file], {
        env: { PATH: process.env['PATH'] ?? '', MULE_URL: api.url },
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('exit', (code) => resolve({ code, stderr }));
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('provider/apply-leak');
    expect(run.stderr).toMatch(/400 base_url_env: MULE_SECRET_KEY may not be read/);
  });
});

describe('a stored provider key stays with its endpoint', () => {
  const read = async (name: string) => (await http(api.url, 'GET', `/v1/providers/${name}`)).body as Record<string, unknown>;

  test('changing base_url, base_url_env or type drops the stored key unless the same PUT gives one', async () => {
    const start = { type: 'openai', base_url: fake.url, api_key: 'sk-for-the-fake' };
    for (const change of [{ base_url: 'http://127.0.0.1:9/v1' }, { base_url: undefined, base_url_env: 'OPENAI_BASE_URL' }, { type: 'gemini' }]) {
      expect((await http(api.url, 'PUT', '/v1/providers/moving', start)).status).toBeLessThan(300);
      const before = await read('moving');
      expect(before['has_api_key']).toBe(true);
      // A read-back definition (has_api_key: true, no key) written to a new endpoint: the key is not kept.
      const moved = await http(api.url, 'PUT', '/v1/providers/moving', { ...before, ...change });
      expect([JSON.stringify(change), moved.status, moved.body.has_api_key]).toEqual([JSON.stringify(change), 200, false]);
      const { rows } = await pool.query(`SELECT api_key_cipher FROM providers WHERE name = 'moving'`);
      expect(rows).toEqual([{ api_key_cipher: null }]);
    }
  });

  test('the key is kept on the same endpoint, and a new key given with a new endpoint is stored', async () => {
    expect((await http(api.url, 'PUT', '/v1/providers/staying', { type: 'openai', base_url: fake.url, api_key: 'sk-one' })).status).toBe(201);
    const same = await http(api.url, 'PUT', '/v1/providers/staying', { ...(await read('staying')), description: 'same endpoint' });
    expect([same.status, same.body.has_api_key]).toEqual([200, true]);
    const unchanged = await http(api.url, 'PUT', '/v1/providers/staying', await read('staying'));
    expect([unchanged.status, unchanged.body.has_api_key]).toEqual([200, true]);
    const withKey = await http(api.url, 'PUT', '/v1/providers/staying', { type: 'openai', base_url: 'http://127.0.0.1:9/v1', api_key: 'sk-two' });
    expect([withKey.status, withKey.body.has_api_key]).toEqual([200, true]);
  });
});

describe('module uploads as JSON', () => {
  test('NUL characters and unpaired surrogates in the JSON form are 400, not 500', async () => {
    const wasm_base64 = Buffer.from(testModule('echo')).toString('base64');
    for (const [body, param] of [
      [{ wasm_base64, description: 'a\u0000b' }, 'description'],
      [{ wasm_base64, description: 'lone \ud800' }, 'description'],
      [{ wasm_base64, tool: { description: 'x\u0000' } }, 'tool'],
      [{ wasm_base64, tool: { description: 'x', parameters: { type: 'object', properties: { '\udc00': {} } } } }, 'tool'],
      [{ wasm_base64: `${wasm_base64}\u0000` }, 'wasm_base64'],
    ] as const) {
      const answer = await http(api.url, 'PUT', '/v1/wasm/modules/nul-module', body);
      expect([param, answer.status, answer.body.error?.code, answer.body.error?.param]).toEqual([param, 400, 'invalid_request', param]);
    }
    const { rows } = await pool.query(`SELECT name FROM wasm_modules WHERE name = 'nul-module'`);
    expect(rows).toEqual([]);
  });
});
