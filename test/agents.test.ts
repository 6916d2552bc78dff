/**
 * `agent/<name>` end to end: real api and worker processes, the fake provider as the only fake, driven
 * through the official `openai` client. The processes load ADK; this file does not.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import OpenAI, { NotFoundError, RateLimitError } from 'openai';
import type { FakeProvider } from './support/fake-provider.js';
import { http, waitFor } from './support/fixtures.js';
import { startApi, type MuleProcess } from './support/processes.js';
import {
  answerWithToolResult,
  bearer,
  collect,
  contentOf,
  ENV_KEY,
  failureOf,
  GEMINI_KEY,
  lastMessage,
  SECRET_KEY,
  startAgentStack,
  STORED_KEY,
  UPPERCASE_TOOL,
  user,
  type AgentStack,
} from './support/agent-stack.js';

let stack: AgentStack;
let fake: FakeProvider;
let api: MuleProcess;
let client: OpenAI;

beforeAll(async () => {
  stack = await startAgentStack();
  ({ fake, api, client } = stack);
});

afterAll(async () => {
  await stack?.stop();
});

beforeEach(() => fake.reset());

describe('agent/<name>', () => {
  test('an agent answers with its instruction and the stored provider key sent', async () => {
    fake.script({ text: 'Bonjour !', usage: { prompt_tokens: 12, completion_tokens: 3 } });
    const completion = await client.chat.completions.create({ model: 'agent/helper', messages: user('Hello') });
    expect(completion).toMatchObject({
      object: 'chat.completion',
      model: 'agent/helper',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Bonjour !' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
    });
    expect(completion.id).toMatch(/^chatcmpl-/);
    expect(fake.requests).toHaveLength(1);
    const sent = fake.requests[0]!;
    expect(bearer(sent)).toBe(`Bearer ${STORED_KEY}`);
    expect(sent.body).toMatchObject({
      model: 'fake-model',
      temperature: 0.3,
      messages: [
        { role: 'system', content: 'You answer in French.' },
        { role: 'user', content: 'Hello' },
      ],
    });
  });

  test('a provider keyed by api_key_env and base_url_env uses the values from the process environment', async () => {
    const completion = await client.chat.completions.create({ model: 'agent/env-helper', messages: user('echo me'), temperature: 0.9, max_tokens: 50 });
    expect(completion.choices[0]?.message.content).toBe('echo me');
    expect(bearer(fake.requests[0])).toBe(`Bearer ${ENV_KEY}`);
    // The request's parameters win over the definition's.
    expect(fake.requests[0]?.body).toMatchObject({ model: 'env-model', temperature: 0.9, max_tokens: 50 });
  });

  test('earlier turns of the conversation (system, user, assistant) reach the provider in order', async () => {
    await client.chat.completions.create({
      model: 'agent/helper',
      messages: [
        { role: 'system', content: 'Answer in one word.' },
        { role: 'user', content: 'What colour is the sky?' },
        { role: 'assistant', content: 'Bleu.' },
        { role: 'user', content: [{ type: 'text', text: 'And grass?' }] },
      ],
    });
    expect(fake.requests[0]?.body.messages).toEqual([
      { role: 'system', content: 'You answer in French.\n\nAnswer in one word.' },
      { role: 'user', content: 'What colour is the sky?' },
      { role: 'assistant', content: 'Bleu.' },
      { role: 'user', content: 'And grass?' },
    ]);
  });

  test('an agent calls its WASM tool and answers with the result; the provider saw the tool offered and the result', async () => {
    fake.onRequest = answerWithToolResult;
    fake.script({ toolCalls: [{ name: 'uppercase', arguments: '{"text":"shout this"}' }], usage: { prompt_tokens: 20, completion_tokens: 4 } });
    const completion = await client.chat.completions.create({ model: 'agent/tool-user', messages: user('Make it loud') });
    expect(completion.choices[0]?.message.content).toBe('The tool said {"text":"SHOUT THIS"}');
    // Both model calls are counted: 20+4, then the default 10+5.
    expect(completion.usage).toEqual({ prompt_tokens: 30, completion_tokens: 9, total_tokens: 39 });
    expect(fake.requests).toHaveLength(2);
    expect(fake.requests[0]?.body.tools).toEqual([{ type: 'function', function: { name: 'uppercase', ...UPPERCASE_TOOL } }]);
    const [call] = fake.requests[1]!.body.messages.at(-2).tool_calls;
    expect(call.function).toEqual({ name: 'uppercase', arguments: '{"text":"shout this"}' });
    expect(lastMessage(fake.requests[1]!)).toEqual({ role: 'tool', tool_call_id: call.id, content: '{"text":"SHOUT THIS"}' });
  });

  test('streaming: the chunks add up to the answer, the last one carries usage, and [DONE] ends it', async () => {
    fake.script({ text: 'Streaming answers arrive piece by piece.', usage: { prompt_tokens: 7, completion_tokens: 6 } });
    const stream = await client.chat.completions.create({ model: 'agent/helper', messages: user('Stream please'), stream: true, stream_options: { include_usage: true } });
    const chunks = await collect(stream);
    expect(chunks.length).toBeGreaterThan(3);
    expect(contentOf(chunks)).toBe('Streaming answers arrive piece by piece.');
    for (const chunk of chunks) expect(chunk).toMatchObject({ object: 'chat.completion.chunk', model: 'agent/helper', id: chunks[0]!.id });
    expect(chunks[0]?.choices[0]?.delta.role).toBe('assistant');
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('stop');
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 7, completion_tokens: 6, total_tokens: 13 } });
    expect(fake.requests[0]?.body.stream).toBe(true);

    // On the wire: SSE data lines ending with [DONE].
    const raw = await fetch(`${api.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'agent/helper', messages: user('raw'), stream: true }),
    });
    expect(raw.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const text = await raw.text();
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
  });

  test('streaming with a tool round: the deltas still add up to the final text', async () => {
    fake.onRequest = answerWithToolResult;
    fake.script({ toolCalls: [{ name: 'uppercase', arguments: '{"text":"quiet"}' }], text: 'Let me check.' });
    const chunks = await collect(
      await client.chat.completions.create({ model: 'agent/tool-user', messages: user('go'), stream: true, stream_options: { include_usage: true } }),
    );
    expect(contentOf(chunks)).toBe('Let me check.\n\nThe tool said {"text":"QUIET"}');
    expect(chunks.at(-1)?.usage?.total_tokens).toBe(30);
  });

  test('a Gemini-typed agent answers through the Gemini API with its key and instruction', async () => {
    fake.script({ text: 'Hello from Gemini', usage: { prompt_tokens: 4, completion_tokens: 3 } });
    const completion = await client.chat.completions.create({ model: 'agent/gem', messages: user('Hi Gemini') });
    expect(completion.choices[0]?.message.content).toBe('Hello from Gemini');
    expect(completion.usage).toEqual({ prompt_tokens: 4, completion_tokens: 3, total_tokens: 7 });
    const sent = fake.requests[0]!;
    expect(sent.api).toBe('gemini');
    expect(sent.path).toMatch(/models\/gemini-fake:generateContent/);
    expect(sent.headers['x-goog-api-key']).toBe(GEMINI_KEY);
    expect(JSON.stringify(sent.body.systemInstruction)).toContain('You are a Gemini agent.');
    expect(sent.body.contents.at(-1)).toEqual({ role: 'user', parts: [{ text: 'Hi Gemini' }] });

    // The WASM tool through Gemini's function calling: offered as a declaration, answered as a functionResponse.
    fake.onRequest = (request) => {
      const response = request.body.contents.at(-1)?.parts?.[0]?.functionResponse;
      return response ? { text: `Gemini's tool said ${JSON.stringify(response.response)}` } : undefined;
    };
    fake.script({ toolCalls: [{ name: 'uppercase', arguments: '{"text":"gemini"}' }] });
    const tooled = await client.chat.completions.create({ model: 'agent/gem', messages: user('use the tool') });
    expect(tooled.choices[0]?.message.content).toBe(`Gemini's tool said {"text":"GEMINI"}`);
    expect(fake.requests[1]?.body.tools[0].functionDeclarations[0]).toMatchObject({ name: 'uppercase', description: 'Uppercase a text' });
    fake.reset();

    fake.script({ text: 'Streamed from Gemini too' });
    const chunks = await collect(await client.chat.completions.create({ model: 'agent/gem', messages: user('stream'), stream: true }));
    expect(contentOf(chunks)).toBe('Streamed from Gemini too');
    expect(fake.requests[0]?.path).toMatch(/:streamGenerateContent/);
  });
});

describe('agent errors', () => {
  test('an unknown agent is a 404 model_not_found', async () => {
    const error = await failureOf(client.chat.completions.create({ model: 'agent/nobody', messages: user('hi') }));
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error.code).toBe('model_not_found');
    expect(error.param).toBe('model');
  });

  test('a provider 500 answers 502 provider_error with the provider status and message', async () => {
    fake.script({ error: { status: 500, message: 'the model server is on fire' } });
    const error = await failureOf(client.chat.completions.create({ model: 'agent/helper', messages: user('hi') }));
    expect(error.status).toBe(502);
    expect(error.code).toBe('provider_error');
    expect(error.type).toBe('provider_error');
    expect(error.message).toContain('500');
    expect(error.message).toContain('the model server is on fire');
    expect(fake.requests).toHaveLength(1); // no hidden retries
  });

  test('a provider 429 is passed on as 429 with its Retry-After', async () => {
    fake.script({ error: { status: 429, message: 'slow down', retryAfter: '17' } });
    const error = await failureOf(client.chat.completions.create({ model: 'agent/helper', messages: user('hi') }));
    expect(error).toBeInstanceOf(RateLimitError);
    expect(error.code).toBe('provider_error');
    expect(error.headers?.get('retry-after')).toBe('17');
    expect(error.message).toContain('slow down');
  });

  test('a provider error while streaming, before any output, is a plain HTTP error', async () => {
    fake.script({ error: { status: 503, message: 'overloaded' } });
    const error = await failureOf(client.chat.completions.create({ model: 'agent/helper', messages: user('hi'), stream: true }).then(collect));
    expect(error.status).toBe(502);
    expect(error.code).toBe('provider_error');
  });

  test('an error after the stream started is sent as an error event, then [DONE]', async () => {
    // The first model turn streams text and asks for the tool; the second call fails.
    fake.script({ toolCalls: [{ name: 'uppercase', arguments: '{"text":"x"}' }], text: 'Working on it.' }, { error: { status: 500, message: 'lost it' } });
    const raw = await fetch(`${api.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'agent/tool-user', messages: user('go'), stream: true }),
    });
    expect(raw.status).toBe(200);
    const events = (await raw.text()).split('\n\n').filter(Boolean);
    expect(events.at(-1)).toBe('data: [DONE]');
    const error = JSON.parse(events.at(-2)!.slice('data: '.length));
    expect(error).toEqual({ error: { message: expect.stringContaining('lost it'), type: 'provider_error', param: null, code: 'provider_error' } });
    const deltas = events.slice(0, -2).map((event) => JSON.parse(event.slice('data: '.length)).choices[0].delta.content ?? '');
    expect(deltas.join('')).toBe('Working on it.');

    fake.script({ toolCalls: [{ name: 'uppercase', arguments: '{"text":"x"}' }], text: 'Working on it.' }, { error: { status: 500, message: 'lost it' } });
    const stream = await client.chat.completions.create({ model: 'agent/tool-user', messages: user('go'), stream: true });
    const seen: string[] = [];
    const failure = await failureOf(
      (async () => {
        for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? '');
      })(),
    );
    expect(failure.message).toContain('lost it');
    expect(seen.join('')).toBe('Working on it.');
  });

  test('a client that goes away aborts the provider request', async () => {
    fake.script({ hang: true });
    const controller = new AbortController();
    const call = client.chat.completions.create({ model: 'agent/helper', messages: user('hang') }, { signal: controller.signal }).catch((error: unknown) => error);
    await fake.waitFor((requests) => requests.length === 1);
    controller.abort();
    await call;
    await fake.waitFor((requests) => requests[0]!.aborted);
  });

  test('a Gemini 429 is passed on as 429 with the delay from its RetryInfo', async () => {
    fake.script({ error: { status: 429, message: 'quota', retryAfter: '9' } });
    const error = await failureOf(client.chat.completions.create({ model: 'agent/gem', messages: user('hi') }));
    expect(error.status).toBe(429);
    expect(error.headers?.get('retry-after')).toBe('9');
    fake.script({ error: { status: 500, message: 'gemini broke' } });
    const broken = await failureOf(client.chat.completions.create({ model: 'agent/gem', messages: user('hi') }));
    expect(broken.status).toBe(502);
    expect(broken.message).toContain('gemini broke');
  });

  test('an unknown tool name is answered to the model as an error, and a model that insists stops at max_tool_calls', async () => {
    fake.onRequest = () => ({ toolCalls: [{ name: 'rm_rf', arguments: '{}' }] });
    const error = await failureOf(client.chat.completions.create({ model: 'agent/tool-user', messages: user('hi') }));
    expect(error.status).toBe(422);
    expect(error.code).toBe('tool_call_limit');
    expect(error.type).toBe('execution_error');
    // max_tool_calls 2: two rounds answered, the third ask stops the run.
    expect(fake.requests).toHaveLength(3);
    expect(JSON.parse(lastMessage(fake.requests[1]!).content).error).toMatch(/unknown tool "rm_rf".*"uppercase"/);
  });

  test('a tool loop stops at max_tool_calls with tool_call_limit', async () => {
    fake.onRequest = () => ({ toolCalls: [{ name: 'uppercase', arguments: '{"text":"again"}' }] });
    const error = await failureOf(client.chat.completions.create({ model: 'agent/tool-user', messages: user('loop') }));
    expect(error.status).toBe(422);
    expect(error.code).toBe('tool_call_limit');
    expect(error.message).toMatch(/max_tool_calls \(2\)/);
    expect(fake.requests).toHaveLength(3);
  });

  test('a provider whose base_url_env is unset in the process fails with a clear error naming the variable', async () => {
    const error = await failureOf(client.chat.completions.create({ model: 'agent/misconfigured', messages: user('hi') }));
    expect(error.code).toBe('provider_error');
    expect(error.message).toMatch(/MULE_TEST_UNSET_URL.*not set/);
    expect(fake.requests).toHaveLength(0);
  });

  test('an agent call that outlasts MULE_SYNC_TIMEOUT_MS answers 504 and aborts the provider request', async () => {
    const impatient = await startApi(stack.db.url, { MULE_SECRET_KEY: SECRET_KEY, MULE_SYNC_TIMEOUT_MS: '500' });
    try {
      const hurried = new OpenAI({ baseURL: `${impatient.url}/v1`, apiKey: 'unused', maxRetries: 0 });
      // The first run in a fresh api may wait for ADK to load (~1 s): once the agent answers, only the provider is slow.
      await waitFor(async () => (await http(impatient.url, 'POST', '/v1/chat/completions', { model: 'agent/helper', messages: user('ready?') })).status === 200);
      for (const stream of [false, true]) {
        fake.reset();
        fake.script({ hang: true });
        const error = await failureOf(hurried.chat.completions.create({ model: 'agent/helper', messages: user('hang'), stream }));
        expect([stream, error.status, error.code]).toEqual([stream, 504, 'step_timeout']);
        expect(error.message).toMatch(/MULE_SYNC_TIMEOUT_MS \(500 ms\)/);
        await fake.waitFor((requests) => requests[0]?.aborted === true);
      }
    } finally {
      await impatient.stop();
    }
  });

  test('a conversation that does not end with a user message is a 400', async () => {
    const error = await failureOf(
      client.chat.completions.create({ model: 'agent/helper', messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }] }),
    );
    expect(error.status).toBe(400);
    expect(error.param).toBe('messages');
  });
});
