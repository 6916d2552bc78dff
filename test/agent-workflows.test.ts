/**
 * Agents in workflows (AGENT steps in the worker), the example definitions, and provider keys at rest: real api
 * and worker processes, the fake provider as the only fake, the official `openai` client.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import OpenAI, { APIError } from 'openai';
import pg from 'pg';
import type { FakeProvider } from './support/fake-provider.js';
import { http } from './support/fixtures.js';
import { REPO_ROOT, startApi, type MuleProcess } from './support/processes.js';
import {
  answerWithToolResult,
  bearer,
  collect,
  contentOf,
  ENV_KEY,
  failureOf,
  GEMINI_KEY,
  lastMessage,
  startAgentStack,
  STORED_KEY,
  user,
  type AgentStack,
} from './support/agent-stack.js';

let stack: AgentStack;
let fake: FakeProvider;
let api: MuleProcess;
let worker: MuleProcess;
let client: OpenAI;

beforeAll(async () => {
  stack = await startAgentStack();
  ({ fake, api, worker, client } = stack);
});

afterAll(async () => {
  await stack?.stop();
});

beforeEach(() => fake.reset());

describe('agents in workflows', () => {
  test('an agent step then a WASM step: the transformed answer, usage summed and stored per agent step', async () => {
    fake.script({ text: 'first answer', usage: { prompt_tokens: 11, completion_tokens: 2 } }, { text: 'second answer', usage: { prompt_tokens: 13, completion_tokens: 3 } });
    const { data, response } = await client.chat.completions
      .create({ model: 'workflow/answer-then-shout', messages: user('start here') })
      .withResponse();
    expect(data.choices[0]?.message.content).toBe('SECOND ANSWER');
    expect(data.usage).toEqual({ prompt_tokens: 24, completion_tokens: 5, total_tokens: 29 });
    // The worker ran both agents, with each provider's key; the second got the first's output as its prompt.
    expect(bearer(fake.requests[0])).toBe(`Bearer ${STORED_KEY}`);
    expect(lastMessage(fake.requests[0]!)).toEqual({ role: 'user', content: 'start here' });
    expect(bearer(fake.requests[1])).toBe(`Bearer ${ENV_KEY}`);
    expect(lastMessage(fake.requests[1]!)).toEqual({ role: 'user', content: 'first answer' });

    const job = await http(api.url, 'GET', `/v1/jobs/${response.headers.get('x-mule-job-id')}`);
    expect(job.body.steps.map((step: any) => [step.id, step.type, step.status, step.output, step.usage])).toEqual([
      ['answer', 'agent', 'completed', { prompt: 'first answer' }, { prompt_tokens: 11, completion_tokens: 2, total_tokens: 13 }],
      ['again', 'agent', 'completed', { prompt: 'second answer' }, { prompt_tokens: 13, completion_tokens: 3, total_tokens: 16 }],
      ['shout', 'wasm', 'completed', { prompt: 'SECOND ANSWER' }, null],
    ]);
  });

  test('an agent step calls its WASM tool inside the worker', async () => {
    fake.onRequest = answerWithToolResult;
    fake.script({ toolCalls: [{ name: 'uppercase', arguments: '{"text":"from the worker"}' }] });
    const completion = await client.chat.completions.create({ model: 'workflow/tool-flow', messages: user('go') });
    expect(completion.choices[0]?.message.content).toBe('The tool said {"text":"FROM THE WORKER"}');
    expect(completion.usage?.total_tokens).toBe(30);
  });

  test('a workflow with stream: true sends keep-alive comments, then its content, usage and [DONE]', async () => {
    // A slow first agent keeps the job running while the stream is open.
    fake.script({ text: 'slow answer', delayMs: 300 }, { text: 'streamed workflow answer' });
    const raw = await fetch(`${api.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'workflow/answer-then-shout', messages: user('go'), stream: true }),
    });
    expect(raw.status).toBe(200);
    expect(raw.headers.get('x-mule-job-id')).toMatch(/^job-/);
    const text = await raw.text();
    expect(text.startsWith(': keep-alive\n\n')).toBe(true);
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);

    fake.script({ text: 'one' }, { text: 'two words' });
    const chunks = await collect(await client.chat.completions.create({ model: 'workflow/answer-then-shout', messages: user('go'), stream: true }));
    expect(contentOf(chunks)).toBe('TWO WORDS');
    expect(chunks.at(-1)?.usage).toEqual({ prompt_tokens: 20, completion_tokens: 10, total_tokens: 30 });
  });

  test('a failing agent step fails the job with its code: provider 500 -> 502, tool loop -> 422', async () => {
    fake.onRequest = () => ({ error: { status: 500, message: 'down for maintenance' } });
    const down = await failureOf(client.chat.completions.create({ model: 'workflow/answer-then-shout', messages: user('hi') }));
    expect(down.status).toBe(502);
    expect(down.code).toBe('provider_error');
    expect(down.message).toMatch(/down for maintenance.*\(job job-/);

    fake.onRequest = () => ({ toolCalls: [{ name: 'uppercase', arguments: '{"text":"again"}' }] });
    const loop = await failureOf(client.chat.completions.create({ model: 'workflow/tool-flow', messages: user('loop') }));
    expect(loop.status).toBe(422);
    expect(loop.code).toBe('tool_call_limit');
  });

  test("a provider's 429 fails the workflow with 429 and its Retry-After; the job's error stays {code, message}", async () => {
    fake.onRequest = () => ({ error: { status: 429, message: 'slow down', retryAfter: '17' } });
    const answer = await http(api.url, 'POST', '/v1/chat/completions', { model: 'workflow/answer-then-shout', messages: user('hi') });
    expect(answer.status).toBe(429);
    expect(answer.headers.get('retry-after')).toBe('17');
    expect(answer.body.error).toMatchObject({ code: 'provider_error', type: 'rate_limit_error' });
    const job = await http(api.url, 'GET', `/v1/jobs/${answer.headers.get('x-mule-job-id')}`);
    expect(Object.keys(job.body.error).sort()).toEqual(['code', 'message']);
    expect(Object.keys(job.body.steps[0].error).sort()).toEqual(['code', 'message']);
  });

  test('an agent step past its timeout_ms fails with step_timeout and the provider request is aborted', async () => {
    fake.script({ hang: true });
    const error = await failureOf(client.chat.completions.create({ model: 'workflow/slow-agent', messages: user('hi') }));
    expect(error.status).toBe(504);
    expect(error.code).toBe('step_timeout');
    await fake.waitFor((requests) => requests[0]?.aborted === true);
  });

  test('cancelling a job aborts its running agent step and the provider request', async () => {
    fake.script({ hang: true });
    const queued = await http(api.url, 'POST', '/v1/chat/completions', { model: 'async/workflow/flaky-agent', messages: user('hang') });
    await fake.waitFor((requests) => requests.length === 1);
    expect((await http(api.url, 'POST', `/v1/jobs/${queued.body.id}/cancel`)).status).toBe(200);
    await fake.waitFor((requests) => requests[0]!.aborted);
  });

  test('a provider 5xx is retried as the step says; each attempt shows on the job', async () => {
    fake.script({ error: { status: 503, message: 'try again' } }, { text: 'second time lucky' });
    const { data, response } = await client.chat.completions.create({ model: 'workflow/flaky-agent', messages: user('hi') }).withResponse();
    expect(data.choices[0]?.message.content).toBe('second time lucky');
    const job = await http(api.url, 'GET', `/v1/jobs/${response.headers.get('x-mule-job-id')}`);
    expect(job.body.steps.map((step: any) => [step.attempt, step.status, step.error?.code ?? null])).toEqual([
      [1, 'failed', 'provider_error'],
      [2, 'completed', null],
    ]);
  });

  test('a provider whose base_url_env is unset in the worker fails the step with the variable named', async () => {
    const error = await failureOf(client.chat.completions.create({ model: 'workflow/misconfigured-flow', messages: user('hi') }));
    expect(error.code).toBe('provider_error');
    expect(error.message).toMatch(/MULE_TEST_UNSET_URL.*not set/);
  });
});

describe('examples/agent.yaml', () => {
  test('loads at api start, and its agent and workflow run on the provider named by OPENAI_BASE_URL', async () => {
    // A second api applies the examples folder to the same database; the worker hears of it by NOTIFY.
    const loader = await startApi(stack.db.url, { MULE_DEFINITIONS: join(REPO_ROOT, 'examples'), OPENAI_BASE_URL: fake.url, OPENAI_API_KEY: ENV_KEY });
    try {
      const examples = new OpenAI({ baseURL: `${loader.url}/v1`, apiKey: 'unused', maxRetries: 0 });
      fake.onRequest = answerWithToolResult;
      fake.script({ toolCalls: [{ name: 'uppercase', arguments: '{"text":"hello mule"}' }] });
      const shouted = await examples.chat.completions.create({ model: 'agent/shouter', messages: user('Say hello to the mule, loudly.') });
      expect(shouted.choices[0]?.message.content).toBe('The tool said {"text":"HELLO MULE"}');
      expect(fake.requests[0]?.body).toMatchObject({ model: 'llama3.2', temperature: 0 });
      expect(bearer(fake.requests[0])).toBe(`Bearer ${ENV_KEY}`);

      fake.reset();
      const summary = await examples.chat.completions.create({ model: 'workflow/summarize-and-shout', messages: user('a short summary') });
      expect(summary.choices[0]?.message.content).toBe('A SHORT SUMMARY');
      expect(summary.usage?.total_tokens).toBe(15);
    } finally {
      await loader.stop();
    }
  });
});

describe('provider keys', () => {
  test('a stored key never appears in any answer of the definitions routes', async () => {
    const answers = [
      await http(api.url, 'GET', '/v1/providers'),
      await http(api.url, 'GET', '/v1/providers/stored'),
      await http(api.url, 'GET', '/v1/providers/gemini'),
      await http(api.url, 'PUT', '/v1/providers/stored', { type: 'openai', base_url: fake.url, api_key: STORED_KEY }),
      await http(api.url, 'PUT', '/v1/providers/rotated', { type: 'openai', base_url: fake.url, api_key: `${STORED_KEY}-2` }),
      await http(api.url, 'GET', '/v1/agents'),
      await http(api.url, 'GET', '/v1/models'),
    ];
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 201, 200, 200]);
    for (const answer of answers) {
      const text = JSON.stringify(answer.body);
      expect(text).not.toContain(STORED_KEY);
      expect(text).not.toContain(GEMINI_KEY);
    }
    expect(answers[1]!.body).toMatchObject({ name: 'stored', type: 'openai', has_api_key: true });
    expect(answers[1]!.body).not.toHaveProperty('api_key');
    const deleted = await http(api.url, 'DELETE', '/v1/providers/rotated');
    expect(deleted.status).toBe(200);
  });

  test('a provider read back and PUT as is keeps its stored key; a PUT without it removes the key', async () => {
    expect((await http(api.url, 'PUT', '/v1/providers/kept', { type: 'openai', base_url: fake.url, api_key: STORED_KEY })).status).toBe(201);
    const read = await http(api.url, 'GET', '/v1/providers/kept');
    const again = await http(api.url, 'PUT', '/v1/providers/kept', read.body);
    expect([again.status, again.body.has_api_key]).toEqual([200, true]);
    expect((await http(api.url, 'PUT', '/v1/agents/keeper', { provider: 'kept', model: 'm' })).status).toBe(201);
    fake.script({ text: 'still keyed' });
    const keyed = await client.chat.completions.create({ model: 'agent/keeper', messages: user('hi') });
    expect(keyed.choices[0]?.message.content).toBe('still keyed');
    expect(bearer(fake.requests.at(-1))).toBe(`Bearer ${STORED_KEY}`);
    const { has_api_key: _dropped, ...withoutFlag } = read.body;
    const cleared = await http(api.url, 'PUT', '/v1/providers/kept', withoutFlag);
    expect(cleared.body.has_api_key).toBe(false);
  });

  test('a provider error message that echoes the key is answered and stored with the key masked', async () => {
    fake.onRequest = (request) => ({ error: { status: 401, message: `Incorrect API key provided: ${String(request.headers['authorization']).slice(7)}` } });
    const direct = await failureOf(client.chat.completions.create({ model: 'agent/helper', messages: user('hi') }));
    expect(direct.status).toBe(502);
    expect(direct.message).toContain('Incorrect API key provided');
    expect(direct.message).not.toContain(STORED_KEY);
    const stream = await failureOf(client.chat.completions.create({ model: 'agent/helper', messages: user('hi'), stream: true }).then(collect));
    expect(stream.message).not.toContain(STORED_KEY);
    const { response } = await client.chat.completions
      .create({ model: 'workflow/answer-then-shout', messages: user('hi') })
      .withResponse()
      .catch((error: APIError) => ({ response: { headers: error.headers! } }));
    const job = await http(api.url, 'GET', `/v1/jobs/${response.headers.get('x-mule-job-id')}`);
    expect(job.body.status).toBe('failed');
    expect(job.body.error.message).toContain('Incorrect API key provided');
    expect(JSON.stringify(job.body)).not.toContain(STORED_KEY);
  });

  test('an api without MULE_SECRET_KEY, or with another one, cannot use the stored key and says so', async () => {
    const [keyless, otherKey] = await Promise.all([startApi(stack.db.url), startApi(stack.db.url, { MULE_SECRET_KEY: randomBytes(32).toString('hex') })]);
    try {
      for (const [proc, reason] of [[keyless, /MULE_SECRET_KEY is not set/], [otherKey, /MULE_SECRET_KEY differs/]] as const) {
        const answer = await http(proc.url, 'POST', '/v1/chat/completions', { model: 'agent/helper', messages: user('hi') });
        expect(answer.status).toBe(502);
        expect(answer.body.error.code).toBe('provider_error');
        expect(answer.body.error.message).toMatch(/provider "stored"/);
        expect(answer.body.error.message).toMatch(reason);
      }
      expect(fake.requests).toHaveLength(0);
    } finally {
      await Promise.all([keyless.stop(), otherKey.stop()]);
    }
  });

  test('a stored key appears in no table of the database', async () => {
    const pgClient = new pg.Client({ connectionString: stack.db.url });
    await pgClient.connect();
    try {
      const { rows: tables } = await pgClient.query<{ schema: string; name: string }>(
        `SELECT table_schema AS schema, table_name AS name FROM information_schema.tables
          WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`,
      );
      expect(tables.map((table) => table.name)).toEqual(expect.arrayContaining(['providers', 'jobs', 'job_steps']));
      let rowsRead = 0;
      for (const table of tables) {
        const quoted = `"${table.schema.replace(/"/g, '""')}"."${table.name.replace(/"/g, '""')}"`;
        const { rows } = await pgClient.query<{ row: string }>(`SELECT t::text AS row FROM ${quoted} t`);
        rowsRead += rows.length;
        for (const { row } of rows) {
          expect([table.name, row.includes(STORED_KEY) || row.includes(GEMINI_KEY)]).toEqual([table.name, false]);
        }
      }
      expect(rowsRead).toBeGreaterThan(10);
      const { rows } = await pgClient.query<{ cipher: string }>(`SELECT api_key_cipher AS cipher FROM providers WHERE name = 'stored'`);
      expect(rows[0]?.cipher).toMatch(/^v1\./);
    } finally {
      await pgClient.end();
    }
  });

  test('no log line of the api or the worker holds a provider key (checked after a graceful stop flushed them)', async () => {
    expect(await Promise.all([api.stop(), worker.stop()])).toEqual([0, 0]);
    const lines = [...api.logs, ...worker.logs];
    expect(lines.length).toBeGreaterThan(20);
    expect(lines.filter((line) => line.includes(STORED_KEY) || line.includes(ENV_KEY) || line.includes(GEMINI_KEY))).toEqual([]);
  });
});
