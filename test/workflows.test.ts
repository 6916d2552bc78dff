/**
 * The spine, end to end: real api and worker processes on a database of their own, driven through the official
 * `openai` client and plain HTTP.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import OpenAI, { NotFoundError } from 'openai';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { http, putModule, putWorkflow, testModule, waitFor } from './support/fixtures.js';
import { startApi, startWorker, stopAllProcesses, type MuleProcess } from './support/processes.js';

let db: TestDatabase;
let api: MuleProcess;
let client: OpenAI;

beforeAll(async () => {
  db = await createTestDatabase();
  [api] = await Promise.all([startApi(db.url), startWorker(db.url)]);
  client = new OpenAI({ baseURL: `${api.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  expect((await putModule(api.url, 'echo', testModule('echo'))).status).toBe(201);
  expect((await putWorkflow(api.url, 'echo-flow', [{ id: 'echo', wasm: 'echo' }])).status).toBe(201);
  expect((await putWorkflow(api.url, 'echo-twice', [{ id: 'first', wasm: 'echo' }, { id: 'second', wasm: 'echo' }])).status).toBe(201);
});

afterAll(async () => {
  await stopAllProcesses();
  await db?.drop();
});

describe('workflow/<name>', () => {
  test('answers a chat completion whose content is the last step output prompt', async () => {
    const completion = await client.chat.completions.create({
      model: 'workflow/echo-flow',
      messages: [
        { role: 'system', content: 'be loud' },
        { role: 'user', content: 'hello mule' },
      ],
    });
    expect(completion.object).toBe('chat.completion');
    expect(completion.id).toMatch(/^job-[0-9a-f-]{36}$/);
    expect(completion.model).toBe('workflow/echo-flow');
    expect(completion.choices[0]?.message.content).toBe('hello mule');
    expect(completion.choices[0]?.finish_reason).toBe('stop');
    expect(completion.usage).toEqual({ prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });
  });

  test('carries X-Mule-Job-Id, and the job shows every step with its input and output', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'workflow/echo-twice', messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }] })
      .withResponse();
    const jobId = response.headers.get('x-mule-job-id');
    expect(jobId).toBe(data.id);
    expect(data.choices[0]?.message.content).toBe('a\nb');
    const job = await http(api.url, 'GET', `/v1/jobs/${jobId}`);
    expect(job.status).toBe(200);
    expect(job.body).toMatchObject({
      id: jobId,
      object: 'job',
      workflow: 'echo-twice',
      workflow_version: 1,
      status: 'completed',
      attempts: 1,
      error: null,
      input: { prompt: 'a\nb' },
      output: { prompt: 'a\nb' },
    });
    expect(job.body.steps.map((s: { id: string; status: string; attempt: number; type: string }) => [s.id, s.status, s.attempt, s.type])).toEqual([
      ['first', 'completed', 1, 'wasm'],
      ['second', 'completed', 1, 'wasm'],
    ]);
    expect(job.body.steps[1].input).toEqual(job.body.steps[0].output);
    for (const field of ['created_at', 'started_at', 'completed_at']) expect(new Date(job.body[field]).toISOString()).toBe(job.body[field]);
    expect(typeof job.body.steps[0].duration_ms).toBe('number');
  });

  test('an unknown model raises NotFoundError with code model_not_found', async () => {
    const error = await client.chat.completions
      .create({ model: 'workflow/no-such-thing', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as NotFoundError).code).toBe('model_not_found');
    const other = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect((other as NotFoundError).code).toBe('model_not_found');
  });

  test('GET /v1/models lists the workflow in both forms', async () => {
    const ids = [];
    for await (const model of client.models.list()) {
      expect(model.object).toBe('model');
      expect(model.owned_by).toBe('mule');
      ids.push(model.id);
    }
    expect(ids).toEqual(expect.arrayContaining(['workflow/echo-flow', 'async/workflow/echo-flow', 'workflow/echo-twice']));
    const one = await client.models.retrieve('async/workflow/echo-flow');
    expect(one).toMatchObject({ id: 'async/workflow/echo-flow', object: 'model', owned_by: 'mule' });
    const missing = await client.models.retrieve('workflow/nope').catch((e: unknown) => e);
    expect((missing as NotFoundError).code).toBe('model_not_found');
  });
});

describe('async/workflow/<name>', () => {
  test('answers 202 at once, and the job completes later with its steps', async () => {
    const answer = await http(api.url, 'POST', '/v1/chat/completions', {
      model: 'async/workflow/echo-flow',
      messages: [{ role: 'user', content: 'later' }],
    });
    expect(answer.status).toBe(202);
    expect(answer.body).toEqual({
      id: expect.stringMatching(/^job-[0-9a-f-]{36}$/),
      object: 'job',
      status: 'queued',
      message: 'The workflow has been started',
      model: 'async/workflow/echo-flow',
      created: expect.any(Number),
    });
    expect(answer.headers.get('x-mule-job-id')).toBe(answer.body.id);
    const job = await waitFor(async () => {
      const read = await http(api.url, 'GET', `/v1/jobs/${answer.body.id}`);
      return read.body.status === 'completed' ? read.body : null;
    });
    expect(job.output).toEqual({ prompt: 'later', messages: [{ role: 'user', content: 'later' }] });
    expect(job.steps).toHaveLength(1);
  });

  test('lists jobs newest first with filters and pages', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const answer = await http(api.url, 'POST', '/v1/chat/completions', { model: 'async/workflow/echo-twice', messages: [{ role: 'user', content: `n${i}` }] });
      ids.push(answer.body.id);
    }
    const first = await http(api.url, 'GET', '/v1/jobs?workflow=echo-twice&limit=2');
    expect(first.status).toBe(200);
    expect(first.body.object).toBe('list');
    expect(first.body.data.map((j: { id: string }) => j.id)).toEqual([ids[2], ids[1]]);
    expect(first.body.has_more).toBe(true);
    const next = await http(api.url, 'GET', `/v1/jobs?workflow=echo-twice&limit=2&after=${ids[1]}`);
    expect(next.body.data[0].id).toBe(ids[0]);
    const bad = await http(api.url, 'GET', '/v1/jobs?status=sleeping');
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe('status');
  });
});

describe('Idempotency-Key', () => {
  test('a repeated key returns the same job; the same key with another model is a 409', async () => {
    const headers = { 'Idempotency-Key': `key-${Date.now()}` };
    const body = { model: 'async/workflow/echo-flow', messages: [{ role: 'user', content: 'once' }] };
    const [a, b] = await Promise.all([
      http(api.url, 'POST', '/v1/chat/completions', body, headers),
      http(api.url, 'POST', '/v1/chat/completions', body, headers),
    ]);
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(a.body.id).toBe(b.body.id);
    const sync = await client.chat.completions.create(
      { model: 'async/workflow/echo-flow', messages: [{ role: 'user', content: 'ignored' }] },
      { headers },
    ).catch((e: unknown) => e);
    expect((sync as { id?: string }).id).toBe(a.body.id);
    const conflict = await http(api.url, 'POST', '/v1/chat/completions', { ...body, model: 'workflow/echo-flow' }, headers);
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('idempotency_conflict');
    const list = await http(api.url, 'GET', '/v1/jobs?workflow=echo-flow&limit=100');
    expect(list.body.data.filter((j: { id: string }) => j.id === a.body.id)).toHaveLength(1);
  });
});

describe('POST /v1/wasm/execute', () => {
  test('runs a module by name or sha256 and answers output, duration and logs', async () => {
    const byName = await http(api.url, 'POST', '/v1/wasm/execute', { module: 'echo', input: { a: [1, 'two'] } });
    expect(byName.status).toBe(200);
    expect(byName.body).toEqual({ output: { a: [1, 'two'] }, duration_ms: expect.any(Number), logs: '' });
    const sha256 = (await http(api.url, 'GET', '/v1/wasm/modules/echo')).body.sha256;
    const bySha = await http(api.url, 'POST', '/v1/wasm/execute', { module: sha256, input: 'plain' });
    expect(bySha.body.output).toBe('plain');
  });

  test('module failures answer their codes in the error shape, and the api keeps serving', async () => {
    for (const name of ['unreachable', 'loop', 'not-json', 'exit-stderr']) {
      expect((await putModule(api.url, name, testModule(name))).status).toBe(201);
    }
    const cases: [string, number, string][] = [
      ['unreachable', 422, 'wasm_trap'],
      ['loop', 504, 'wasm_timeout'],
      ['not-json', 422, 'wasm_bad_output'],
      ['exit-stderr', 422, 'wasm_exit'],
      ['missing', 404, 'not_found'],
    ];
    const answers = await Promise.all(
      cases.map(([module]) => http(api.url, 'POST', '/v1/wasm/execute', { module, input: {}, timeout_ms: 300 })),
    );
    expect(answers.map((a) => [a.status, a.body.error.code])).toEqual(cases.map(([, status, code]) => [status, code]));
    expect(answers[3]!.body.error.message).toMatch(/something went wrong/);
    expect((await http(api.url, 'POST', '/v1/wasm/execute', { module: 'echo', input: 1 })).body.output).toBe(1);
  });
});
