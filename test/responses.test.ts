/**
 * The Responses API (`/v1/responses`) over Mule's models, end to end: real api and worker processes, the fake
 * provider as the only fake, driven through the official `openai` client and the OpenAI Agents SDK in its default
 * (Responses) mode. The Agents SDK is pinned to 0.14.3: later versions need openai 7, which requires Node 22.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import OpenAI, { BadRequestError, ConflictError, NotFoundError, PermissionDeniedError, RateLimitError, UnprocessableEntityError } from 'openai';
import { Agent, OpenAIProvider, Runner } from '@openai/agents';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import type { FakeProvider } from './support/fake-provider.js';
import { http, putModule, putWorkflow, testModule, waitFor } from './support/fixtures.js';
import { startApi, startWorker, type MuleProcess } from './support/processes.js';
import { failureOf, startAgentStack, type AgentStack } from './support/agent-stack.js';

let stack: AgentStack;
let fake: FakeProvider;
let api: MuleProcess;
let client: OpenAI;

beforeAll(async () => {
  stack = await startAgentStack();
  ({ fake, api, client } = stack);
  for (const name of ['sleep', 'unreachable']) expect((await putModule(api.url, name, testModule(name))).status).toBe(201);
  const workflows: [string, unknown[]][] = [
    ['shout', [{ id: 'shout', wasm: 'uppercase' }]],
    // Sleeps for the input's digits read as milliseconds (prompt and messages: "99" sleeps 9,999 ms).
    ['nap', [{ id: 'nap', wasm: 'sleep', timeout_ms: 60_000 }]],
    ['trap', [{ id: 'trap', wasm: 'unreachable' }]],
  ];
  for (const [name, steps] of workflows) expect([name, (await putWorkflow(api.url, name, steps)).status]).toEqual([name, 201]);
});

afterAll(async () => {
  await stack?.stop();
});

beforeEach(() => fake.reset());

const jobOf = async (response: { metadata: Record<string, string> | null }) => {
  const job = await http(api.url, 'GET', `/v1/jobs/${response.metadata!['job_id']}`);
  expect(job.status).toBe(200);
  return job.body;
};

const jobCount = async () => (await http(api.url, 'GET', '/v1/jobs?limit=100')).body.data.length as number;

async function events(stream: AsyncIterable<OpenAI.Responses.ResponseStreamEvent>): Promise<OpenAI.Responses.ResponseStreamEvent[]> {
  const all: OpenAI.Responses.ResponseStreamEvent[] = [];
  for await (const event of stream) all.push(event);
  return all;
}

describe('workflow/<name>', () => {
  test('answers a completed response whose output_text is the job output and whose id names the job', async () => {
    const response = await client.responses.create({ model: 'workflow/shout', input: 'hello mule' });
    expect(response).toMatchObject({
      object: 'response',
      status: 'completed',
      model: 'workflow/shout',
      output_text: 'HELLO MULE',
      error: null,
      tools: [],
      output: [{ type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'HELLO MULE', annotations: [] }] }],
      usage: { input_tokens: 0, output_tokens: 0, total_tokens: 0 },
    });
    const jobId = response.metadata!['job_id']!;
    expect(jobId).toMatch(/^job-[0-9a-f-]{36}$/);
    expect(response.id).toBe(`resp_${jobId.slice('job-'.length).replaceAll('-', '')}`);
    expect(typeof response.created_at).toBe('number');
    expect(await jobOf(response)).toMatchObject({ status: 'completed', model: 'workflow/shout', output: { prompt: 'HELLO MULE' } });
    const again = await client.responses.retrieve(response.id);
    expect(again).toMatchObject({ id: response.id, status: 'completed', output_text: 'HELLO MULE', metadata: { job_id: jobId } });
  });

  test('instructions come first as a system message, and message items with input_text parts are read as text', async () => {
    const response = await client.responses.create({
      model: 'workflow/shout',
      instructions: 'be loud',
      metadata: { ticket: 'T-1' },
      input: [
        { role: 'user', content: 'first' },
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'a' }, { type: 'input_text', text: 'b' }] },
      ],
    });
    expect(response.output_text).toBe('A\nB');
    expect(response.instructions).toBe('be loud');
    expect(response.metadata).toMatchObject({ ticket: 'T-1' });
    expect((await jobOf(response)).input).toEqual({
      prompt: 'a\nb',
      messages: [
        { role: 'system', content: 'be loud' },
        { role: 'user', content: 'first' },
        { role: 'user', content: 'a\nb' },
      ],
    });
  });

  test('stream: true sends the typed events in order, numbered from 0, with the text when the job finishes', async () => {
    const stream = await client.responses.create({ model: 'workflow/shout', input: 'stream me', stream: true });
    const all = await events(stream);
    expect(all.map((event) => event.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(all.map((event) => event.sequence_number)).toEqual(all.map((_, index) => index));
    const created = all[0] as OpenAI.Responses.ResponseCreatedEvent;
    expect(created.response.status).toBe('queued');
    expect(all.find((event) => event.type === 'response.output_text.delta')).toMatchObject({ delta: 'STREAM ME' });
    const completed = all.at(-1) as OpenAI.Responses.ResponseCompletedEvent;
    expect(completed.response).toMatchObject({ id: created.response.id, status: 'completed', output: [{ content: [{ text: 'STREAM ME' }] }] });
    expect((await client.responses.retrieve(created.response.id)).output_text).toBe('STREAM ME');
  });

  test('a failing job answers with the code and status chat completions use, and streams response.failed', async () => {
    const error = await failureOf(client.responses.create({ model: 'workflow/trap', input: 'x' }));
    expect(error).toBeInstanceOf(UnprocessableEntityError);
    expect(error.code).toBe('wasm_trap');
    const all = await events(await client.responses.create({ model: 'workflow/trap', input: 'x', stream: true }));
    const failed = all.at(-1) as OpenAI.Responses.ResponseFailedEvent;
    expect(failed.type).toBe('response.failed');
    expect(failed.response.status).toBe('failed');
    expect(failed.response.error?.code).toBe('wasm_trap');
    expect((await client.responses.retrieve(failed.response.id)).status).toBe('failed');
  });
});

describe('background and async/workflow', () => {
  test('background: true answers queued at once; retrieve follows the job to completed', async () => {
    const response = await client.responses.create({ model: 'workflow/shout', input: 'later', background: true });
    expect(response.status).toBe('queued');
    expect(response.background).toBe(true);
    expect(response.output).toEqual([]);
    const done = await waitFor(async () => {
      const current = await client.responses.retrieve(response.id);
      return current.status === 'completed' ? current : null;
    }, 30_000, 'the background response to complete');
    expect(done.output_text).toBe('LATER');
  });

  test('async/workflow/<name> answers queued like background', async () => {
    const response = await client.responses.create({ model: 'async/workflow/shout', input: 'async' });
    expect(response.status).toBe('queued');
    expect((await jobOf(response)).model).toBe('async/workflow/shout');
  });

  test('cancel stops a background response through its job; cancelling it again is 409', async () => {
    const response = await client.responses.create({ model: 'workflow/nap', input: '99', background: true });
    const cancelled = await client.responses.cancel(response.id);
    expect(cancelled.status).toBe('cancelled');
    expect((await jobOf(response)).status).toBe('cancelled');
    expect((await client.responses.retrieve(response.id)).status).toBe('cancelled');
    const again = await failureOf(client.responses.cancel(response.id));
    expect(again).toBeInstanceOf(ConflictError);
    expect(again.code).toBe('conflict');
  });
});

describe('agent/<name>', () => {
  test('answers with the agent output and its token usage', async () => {
    fake.script({ text: 'Bonjour !', usage: { prompt_tokens: 12, completion_tokens: 3 } });
    const response = await client.responses.create({ model: 'agent/helper', input: 'Hello' });
    expect(response).toMatchObject({
      status: 'completed',
      output_text: 'Bonjour !',
      usage: { input_tokens: 12, output_tokens: 3, total_tokens: 15 },
    });
    expect(response.id).toMatch(/^resp_[0-9a-f]{48}$/);
    expect(fake.requests[0]!.body.messages).toEqual([
      { role: 'system', content: expect.stringContaining('You answer in French.') },
      { role: 'user', content: 'Hello' },
    ]);
    expect((await client.responses.retrieve(response.id)).output_text).toBe('Bonjour !');
  });

  test('client.responses.stream relays the provider tokens as text deltas', async () => {
    fake.script({ text: 'one two three four' });
    const deltas: string[] = [];
    const stream = client.responses.stream({ model: 'agent/helper', input: 'count' });
    stream.on('response.output_text.delta', (event) => deltas.push(event.delta));
    const final = await stream.finalResponse();
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe('one two three four');
    expect(final.output_text).toBe('one two three four');
    expect(final.status).toBe('completed');
  });

  test('a provider failure before any output is the HTTP error chat completions answer', async () => {
    fake.script({ error: { status: 429, message: 'slow down', retryAfter: '3' } });
    const error = await failureOf(client.responses.create({ model: 'agent/helper', input: 'x', stream: true }));
    expect(error).toBeInstanceOf(RateLimitError);
  });
});

describe('previous_response_id and store', () => {
  test('an agent response continues a stored one: its input and output come before the new input', async () => {
    const first = await client.responses.create({ model: 'agent/helper', input: 'My name is Ada' });
    expect(first.output_text).toBe('My name is Ada');
    fake.reset();
    const second = await client.responses.create({ model: 'agent/helper', input: 'What is my name?', previous_response_id: first.id });
    expect(second.previous_response_id).toBe(first.id);
    expect(fake.requests[0]!.body.messages.slice(1)).toEqual([
      { role: 'user', content: 'My name is Ada' },
      { role: 'assistant', content: 'My name is Ada' },
      { role: 'user', content: 'What is my name?' },
    ]);
  });

  test('a workflow response continues one: the job gets the whole conversation', async () => {
    const first = await client.responses.create({ model: 'workflow/shout', input: 'one' });
    const second = await client.responses.create({ model: 'workflow/shout', input: 'two', previous_response_id: first.id });
    expect(second.output_text).toBe('TWO');
    expect((await jobOf(second)).input.messages).toEqual([
      { role: 'user', content: 'one' },
      { role: 'assistant', content: 'ONE' },
      { role: 'user', content: 'two' },
    ]);
  });

  test('store: false is neither retrievable nor continuable (404), and background needs store', async () => {
    const response = await client.responses.create({ model: 'agent/helper', input: 'forget me', store: false });
    expect(response.output_text).toBe('forget me');
    expect(await failureOf(client.responses.retrieve(response.id))).toBeInstanceOf(NotFoundError);
    const continued = await failureOf(client.responses.create({ model: 'agent/helper', input: 'x', previous_response_id: response.id }));
    expect(continued).toBeInstanceOf(NotFoundError);
    expect(continued.param).toBe('previous_response_id');
    const background = await failureOf(client.responses.create({ model: 'workflow/shout', input: 'x', background: true, store: false }));
    expect(background).toBeInstanceOf(BadRequestError);
  });

  test('a conversation larger than MULE_MAX_BODY_BYTES of text is refused with 400 and runs nothing', async () => {
    // 400 kB of input, echoed back by the fake provider: 800 kB stored; 300 kB more passes the 1 MiB default.
    const first = await client.responses.create({ model: 'agent/helper', input: 'x'.repeat(400_000) });
    expect(first.output_text).toHaveLength(400_000);
    fake.reset();
    const error = await failureOf(client.responses.create({ model: 'agent/helper', input: 'y'.repeat(300_000), previous_response_id: first.id }));
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error.param).toBe('previous_response_id');
    expect(error.message).toMatch(/MULE_MAX_BODY_BYTES/);
    expect(fake.requests).toHaveLength(0);
  });
});

describe('bad input changes nothing', () => {
  test.each([
    ['input of the wrong type', { model: 'workflow/shout', input: 5 }, 400],
    ['an image part', { model: 'workflow/shout', input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'x' }] }] }, 400],
    ['a tool item', { model: 'workflow/shout', input: [{ type: 'function_call_output', call_id: 'c', output: 'x' }] }, 400],
    ['metadata that is not strings', { model: 'workflow/shout', input: 'x', metadata: { n: 1 } }, 400],
    ['an unknown previous_response_id', { model: 'workflow/shout', input: 'x', previous_response_id: `resp_${'0'.repeat(32)}` }, 404],
    ['an unknown model', { model: 'workflow/nope', input: 'x' }, 404],
    ['background on an agent', { model: 'agent/helper', input: 'x', background: true }, 400],
  ])('%s', async (_name, body, status) => {
    const before = await jobCount();
    const answer = await http(api.url, 'POST', '/v1/responses', body);
    expect(answer.status).toBe(status);
    expect(answer.body.error).toMatchObject({ message: expect.any(String), type: expect.any(String) });
    expect(await jobCount()).toBe(before);
    expect(fake.requests).toHaveLength(0);
  });

  test('an unknown response id is 404 for retrieve and cancel', async () => {
    expect(await failureOf(client.responses.retrieve('resp_nope'))).toBeInstanceOf(NotFoundError);
    expect(await failureOf(client.responses.cancel(`resp_${'a'.repeat(48)}`))).toBeInstanceOf(NotFoundError);
  });
});

describe('the OpenAI Agents SDK in its default (Responses) mode', () => {
  const runner = () => new Runner({ modelProvider: new OpenAIProvider({ openAIClient: client as never }), tracingDisabled: true });

  test('an Agent whose model is workflow/shout gets the workflow output as its final output', async () => {
    const agent = new Agent({ name: 'shouter', instructions: 'Shout.', model: 'workflow/shout' });
    const result = await runner().run(agent, 'agents sdk here');
    expect(result.finalOutput).toBe('AGENTS SDK HERE');
  });

  test('an Agent whose model is agent/helper runs the Mule agent', async () => {
    fake.script({ text: 'Salut !' });
    const agent = new Agent({ name: 'relay', instructions: 'Relay.', model: 'agent/helper' });
    const result = await runner().run(agent, 'Hi');
    expect(result.finalOutput).toBe('Salut !');
    expect(fake.requests[0]!.body.messages.at(-1)).toEqual({ role: 'user', content: 'Hi' });
  });
});

describe('with API keys', () => {
  const ADMIN = `mule_admin_${randomBytes(16).toString('hex')}`;
  let db: TestDatabase;
  let keyed: MuleProcess;
  let keyedWorker: MuleProcess;
  const as = (key: string) => new OpenAI({ baseURL: `${keyed.url}/v1`, apiKey: key, maxRetries: 0 });
  let mine: string;
  let theirs: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    [keyed, keyedWorker] = await Promise.all([startApi(db.url, { MULE_API_KEYS: ADMIN, MULE_MAX_SYNC_WAITERS: '1' }), startWorker(db.url)]);
    const auth = { authorization: `Bearer ${ADMIN}` };
    for (const name of ['echo', 'sleep']) expect((await http(keyed.url, 'PUT', `/v1/wasm/modules/${name}`, testModule(name), { ...auth, 'content-type': 'application/wasm' })).status).toBe(201);
    expect((await http(keyed.url, 'PUT', '/v1/workflows/echo-flow', { steps: [{ id: 'echo', wasm: 'echo' }] }, auth)).status).toBe(201);
    expect((await http(keyed.url, 'PUT', '/v1/workflows/nap', { steps: [{ id: 'nap', wasm: 'sleep' }] }, auth)).status).toBe(201);
    const make = async (name: string) => (await http(keyed.url, 'POST', '/v1/keys', { name, scopes: ['workflow/echo-*', 'workflow/nap'] }, auth)).body.key as string;
    [mine, theirs] = [await make('mine'), await make('theirs')];
  });

  afterAll(async () => {
    await Promise.all([keyed?.stop('SIGKILL'), keyedWorker?.stop('SIGKILL')]);
    await db?.drop();
  });

  test("a key reads and cancels its own responses; another key's is 404; an unscoped model is 403", async () => {
    const response = await as(mine).responses.create({ model: 'workflow/nap', input: '99', background: true });
    expect(await failureOf(as(theirs).responses.retrieve(response.id))).toBeInstanceOf(NotFoundError);
    expect(await failureOf(as(theirs).responses.cancel(response.id))).toBeInstanceOf(NotFoundError);
    const continued = await failureOf(as(theirs).responses.create({ model: 'workflow/echo-flow', input: 'x', previous_response_id: response.id }));
    expect(continued).toBeInstanceOf(NotFoundError);
    expect((await as(mine).responses.retrieve(response.id)).id).toBe(response.id);
    expect((await as(mine).responses.cancel(response.id)).status).toBe('cancelled');
    expect(await failureOf(as(mine).responses.create({ model: 'agent/helper', input: 'x' }))).toBeInstanceOf(PermissionDeniedError);
  });

  test('a full sync waiter queue refuses with 429 overloaded before writing anything', async () => {
    // "35" sleeps 3,535 ms (prompt and messages): the first call holds the one sync waiter slot meanwhile.
    const jobs = async () => (await http(keyed.url, 'GET', '/v1/jobs?limit=100', undefined, { authorization: `Bearer ${ADMIN}` })).body.data.length as number;
    const jobsBefore = await jobs();
    const holding = as(mine).responses.create({ model: 'workflow/nap', input: '35' });
    await waitFor(async () => (await jobs()) > jobsBefore, 30_000, 'the first call to submit its job');
    const refused = await failureOf(as(mine).responses.create({ model: 'workflow/echo-flow', input: 'x' }));
    expect(refused).toBeInstanceOf(RateLimitError);
    expect(refused.code).toBe('overloaded');
    expect(await jobs()).toBe(jobsBefore + 1);
    expect((await holding).status).toBe('completed');
  });
});
