/**
 * Bad input gets a clear 4xx in the OpenAI error shape that names the problem, writes nothing, and never stops
 * a process.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { http, putModule, putWorkflow, testModule, type HttpResult } from './support/fixtures.js';
import { startApi, startWorker, stopAllProcesses, type MuleProcess } from './support/processes.js';

let db: TestDatabase;
let api: MuleProcess;
let worker: MuleProcess;
let pool: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase();
  [api, worker] = await Promise.all([
    startApi(db.url, { MULE_MAX_BODY_BYTES: '4096', MULE_WASM_MAX_MODULE_MB: '1' }),
    startWorker(db.url),
  ]);
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  expect((await putModule(api.url, 'echo', testModule('echo'))).status).toBe(201);
  expect((await putWorkflow(api.url, 'good', [{ id: 'echo', wasm: 'echo' }])).status).toBe(201);
});

afterAll(async () => {
  await pool?.end();
  await stopAllProcesses();
  await db?.drop();
});

/** Everything a bad request could have written. */
async function snapshot(): Promise<string> {
  const { rows } = await pool.query(`
    SELECT (SELECT count(*) FROM jobs) AS jobs, (SELECT count(*) FROM pgboss.job) AS queued,
           (SELECT json_agg(name ORDER BY name) FROM workflows) AS workflows,
           (SELECT count(*) FROM workflow_versions) AS versions,
           (SELECT json_agg(name || ':' || sha256 ORDER BY name) FROM wasm_modules) AS modules,
           (SELECT count(*) FROM wasm_blobs) AS blobs, (SELECT count(*) FROM agents) AS agents,
           (SELECT count(*) FROM providers) AS providers`);
  return JSON.stringify(rows[0]);
}

function expectError(result: HttpResult, status: number, code: string, param?: string | null, message?: RegExp): void {
  expect({ status: result.status, code: result.body?.error?.code }).toEqual({ status, code });
  expect(Object.keys(result.body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(typeof result.body.error.message).toBe('string');
  if (param !== undefined) expect(result.body.error.param).toBe(param);
  if (message) expect(result.body.error.message).toMatch(message);
}

const CHAT = '/v1/chat/completions';
const JSON_HEADERS = { 'content-type': 'application/json' };

describe('chat completions', () => {
  test.each([
    ['malformed JSON', '{"model": "workflow/good", "messages": [', 400, 'invalid_request', null, /not valid JSON/],
    ['a JSON string instead of an object', '"hello"', 400, 'invalid_request', null, undefined],
    ['model of the wrong type', JSON.stringify({ model: 42, messages: [{ role: 'user', content: 'x' }] }), 400, 'invalid_request', 'model', undefined],
    ['messages as a string', JSON.stringify({ model: 'workflow/good', messages: 'hi' }), 400, 'invalid_request', 'messages', undefined],
    ['no messages', JSON.stringify({ model: 'workflow/good', messages: [] }), 400, 'invalid_request', 'messages', undefined],
    ['a message without a role', JSON.stringify({ model: 'workflow/good', messages: [{ content: 'x' }] }), 400, 'invalid_request', 'messages.0.role', undefined],
    ['content of the wrong type', JSON.stringify({ model: 'workflow/good', messages: [{ role: 'user', content: 7 }] }), 400, 'invalid_request', 'messages.0.content', undefined],
    ['stream of the wrong type', JSON.stringify({ model: 'workflow/good', messages: [{ role: 'user', content: 'x' }], stream: 'yes' }), 400, 'invalid_request', 'stream', undefined],
    ['temperature out of range', JSON.stringify({ model: 'workflow/good', messages: [{ role: 'user', content: 'x' }], temperature: 9 }), 400, 'invalid_request', 'temperature', undefined],
    ['a body over MULE_MAX_BODY_BYTES', JSON.stringify({ model: 'workflow/good', messages: [{ role: 'user', content: 'x'.repeat(5000) }] }), 413, 'payload_too_large', null, /MULE_MAX_BODY_BYTES/],
  ])('%s', async (_name, body, status, code, param, message) => {
    const before = await snapshot();
    expectError(await http(api.url, 'POST', CHAT, body, JSON_HEADERS), status, code, param, message);
    expect(await snapshot()).toBe(before);
  });

  test('NUL characters (which PostgreSQL cannot store) are refused wherever they come in', async () => {
    const before = await snapshot();
    const chat = (body: unknown) => http(api.url, 'POST', CHAT, body);
    expectError(await chat({ model: 'workflow/good', messages: [{ role: 'user', content: 'a\u0000b' }] }), 400, 'invalid_request', null, /NUL/);
    // An unpaired surrogate parses in JSON but jsonb refuses it.
    expectError(await http(api.url, 'POST', CHAT, '{"model":"workflow/good","messages":[{"role":"user","content":"\\ud800"}]}', JSON_HEADERS), 400, 'invalid_request', null, /surrogate/);
    expect((await chat({ model: 'workflow/good', messages: [{ role: 'user', content: 'paired \ud83d\ude00 is fine' }] })).status).toBe(200);
    expectError(await chat({ model: 'workflow/go\u0000od', messages: [{ role: 'user', content: 'x' }] }), 400, 'invalid_request');
    expectError(await http(api.url, 'GET', '/v1/models/workflow/%00'), 404, 'model_not_found');
    expectError(await http(api.url, 'GET', '/v1/jobs?workflow=%00'), 400, 'invalid_request', 'workflow');
    expectError(await http(api.url, 'POST', '/v1/wasm/execute', { module: 'ec\u0000ho', input: 1 }), 400, 'invalid_request');
    expectError(await http(api.url, 'PUT', '/v1/workflows/w9', { description: '\u0000', steps: [{ id: 'a', wasm: 'echo' }] }), 400, 'invalid_request');
    const tool = encodeURIComponent(JSON.stringify({ description: 'x\u0000y' }));
    expectError(await putModule(api.url, 'nul-tool', testModule('echo'), `?tool=${tool}`), 400, 'invalid_request', 'tool');
    expectError(await putModule(api.url, 'nul-tool', testModule('echo'), '?description=a%00b'), 400, 'invalid_request');
    const after = JSON.parse(await snapshot());
    expect({ ...after, jobs: String(Number(after.jobs) - 1), queued: '?' }).toEqual({ ...JSON.parse(before), queued: '?' });
  });

  test('a module whose output holds a NUL character fails its step with wasm_bad_output (not a retry loop)', async () => {
    expect((await putModule(api.url, 'nul-output', testModule('nul-output'))).status).toBe(201);
    expect((await putWorkflow(api.url, 'nul-flow', [{ id: 'nul', wasm: 'nul-output', retries: 2 }])).status).toBe(201);
    const answer = await http(api.url, 'POST', CHAT, { model: 'workflow/nul-flow', messages: [{ role: 'user', content: 'x' }] });
    expectError(answer, 422, 'wasm_bad_output', null, /NUL/);
    const job = await http(api.url, 'GET', `/v1/jobs/${answer.headers.get('x-mule-job-id')}`);
    expect(job.body.steps).toHaveLength(1);
    // Directly, the same output is fine: it is answered, not stored.
    const direct = await http(api.url, 'POST', '/v1/wasm/execute', { module: 'nul-output', input: {} });
    expect(direct.body.output).toEqual({ a: '\u0000' });
  });

  test('a body that is not JSON at all (text/plain) is refused', async () => {
    expectError(await http(api.url, 'POST', CHAT, 'model=workflow/good', { 'content-type': 'text/plain' }), 400, 'invalid_request');
  });

  test('a bad Idempotency-Key is refused and names the header', async () => {
    const body = { model: 'async/workflow/good', messages: [{ role: 'user', content: 'x' }] };
    expectError(await http(api.url, 'POST', CHAT, body, { 'Idempotency-Key': 'x'.repeat(300) }), 400, 'invalid_request', 'Idempotency-Key');
  });

  test('unknown routes and jobs answer 404 in the error shape', async () => {
    expectError(await http(api.url, 'GET', '/v1/nothing'), 404, 'not_found');
    expectError(await http(api.url, 'GET', '/v1/jobs/job-123'), 404, 'not_found');
    expectError(await http(api.url, 'GET', '/v1/jobs/job-00000000-0000-4000-8000-000000000000'), 404, 'not_found');
  });
});

describe('definitions', () => {
  test.each([
    ['an unknown field', 'workflows/w1', { steps: [{ id: 'a', wasm: 'echo' }], colour: 'blue' }, 'colour', /unknown field "colour"/],
    ['an unknown field in a step', 'workflows/w1', { steps: [{ id: 'a', wasm: 'echo', retry: 2 }] }, 'steps.0.retry', /unknown field/],
    ['a step naming a missing module', 'workflows/w1', { steps: [{ id: 'a', wasm: 'nope' }] }, 'steps', /wasm module not found: nope/],
    ['a step naming a missing agent', 'workflows/w1', { steps: [{ id: 'a', agent: 'nobody' }] }, 'steps', /agent not found: nobody/],
    ['duplicate step ids', 'workflows/w1', { steps: [{ id: 'a', wasm: 'echo' }, { id: 'a', wasm: 'echo' }] }, 'steps.1.id', /duplicate step id "a"/],
    ['a step with both agent and wasm', 'workflows/w1', { steps: [{ id: 'a', wasm: 'echo', agent: 'x' }] }, 'steps.0.agent', /exactly one/],
    ['no steps', 'workflows/w1', { steps: [] }, 'steps', undefined],
    ['retries of the wrong type', 'workflows/w1', { steps: [{ id: 'a', wasm: 'echo', retries: 'two' }] }, 'steps.0.retries', undefined],
    ['an invalid step id', 'workflows/w1', { steps: [{ id: 'Bad Id', wasm: 'echo' }] }, 'steps.0.id', /must match/],
    ['an invalid name in the path', 'workflows/Not_Valid!', { steps: [{ id: 'a', wasm: 'echo' }] }, 'name', /must match/],
    ['a body name that differs from the path', 'workflows/w1', { name: 'w2', steps: [{ id: 'a', wasm: 'echo' }] }, 'name', /differs/],
    ['an agent naming a missing provider', 'agents/a1', { provider: 'nope', model: 'm' }, 'provider', /provider not found: nope/],
    ['a provider of an unknown type', 'providers/p1', { type: 'anthropic' }, 'type', undefined],
    ['a provider key without MULE_SECRET_KEY', 'providers/p1', { type: 'openai', api_key: 'sk-123' }, 'api_key', /MULE_SECRET_KEY/],
  ])('%s', async (_name, path, body, param, message) => {
    const before = await snapshot();
    expectError(await http(api.url, 'PUT', `/v1/${path}`, body), 400, 'invalid_request', param, message);
    expect(await snapshot()).toBe(before);
  });

  test('a module upload that is not WebAssembly is refused as wasm_rejected', async () => {
    const before = await snapshot();
    expectError(await putModule(api.url, 'junk', new TextEncoder().encode('#!/bin/sh\necho hi\n')), 400, 'wasm_rejected');
    expectError(await http(api.url, 'PUT', '/v1/wasm/modules/junk', { wasm_base64: 'bm90IHdhc20=' }), 400, 'wasm_rejected');
    expectError(await http(api.url, 'PUT', '/v1/wasm/modules/junk', { wasm_base64: '***' }), 400, 'invalid_request', 'wasm_base64');
    expectError(await http(api.url, 'PUT', '/v1/wasm/modules/junk', {}), 400, 'invalid_request', 'wasm_base64');
    expect(await snapshot()).toBe(before);
  });

  test('a module over MULE_WASM_MAX_MODULE_MB is refused with 413', async () => {
    const before = await snapshot();
    const big = new Uint8Array(1024 * 1024 + 10);
    big.set([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    expectError(await putModule(api.url, 'big', big), 413, 'payload_too_large');
    expect(await snapshot()).toBe(before);
  });

  test('deleting a module a workflow uses is a 409; unknown definitions are 404', async () => {
    const before = await snapshot();
    expectError(await http(api.url, 'DELETE', '/v1/wasm/modules/echo'), 409, 'conflict', null, /workflow\/good/);
    expectError(await http(api.url, 'DELETE', '/v1/workflows/nothing'), 404, 'not_found');
    expectError(await http(api.url, 'GET', '/v1/agents/nobody'), 404, 'not_found');
    expect(await snapshot()).toBe(before);
  });

  test('concurrent first PUTs of one name: one creates (201), the others answer 200, no 5xx', async () => {
    const race = async (put: () => Promise<HttpResult>) => {
      const answers = await Promise.all(Array.from({ length: 6 }, put));
      expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 200, 201]);
    };
    await race(() => putModule(api.url, 'raced-module', testModule('echo')));
    await race(() => http(api.url, 'PUT', '/v1/providers/raced-provider', { type: 'openai', base_url: 'http://127.0.0.1:1/v1' }));
    await race(() => http(api.url, 'PUT', '/v1/agents/raced-agent', { provider: 'raced-provider', model: 'm' }));
    await race(() => putWorkflow(api.url, 'raced-workflow', [{ id: 'a', wasm: 'raced-module' }]));
  });

  test('PUT is idempotent: the same body twice changes nothing and answers 200', async () => {
    const first = await putWorkflow(api.url, 'same', [{ id: 'a', wasm: 'echo', retries: 1 }]);
    expect(first.status).toBe(201);
    const before = await snapshot();
    const again = await http(api.url, 'PUT', '/v1/workflows/same', first.body);
    expect(again.status).toBe(200);
    expect(again.body.version).toBe(1);
    expect(await snapshot()).toBe(before);
  });
});

test('after all of it both processes are alive and serving', async () => {
  expect(api.child.exitCode).toBeNull();
  expect(worker.child.exitCode).toBeNull();
  expect((await http(api.url, 'GET', '/healthz')).status).toBe(200);
  expect((await http(api.url, 'GET', '/readyz')).status).toBe(200);
  const done = await http(api.url, 'POST', CHAT, { model: 'workflow/good', messages: [{ role: 'user', content: 'still here' }] });
  expect(done.body.choices[0].message.content).toBe('still here');
});
