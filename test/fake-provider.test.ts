/**
 * The fake AI provider itself, driven by the official `openai` client and plain fetch: what it answers and what
 * it records. (Agents against it are proven in packages/agents.)
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import OpenAI, { RateLimitError } from 'openai';
import { startFakeProvider, type FakeProvider } from './support/fake-provider.js';

let fake: FakeProvider;
let client: OpenAI;

beforeAll(async () => {
  fake = await startFakeProvider();
  client = new OpenAI({ baseURL: fake.url, apiKey: 'sk-recorded', maxRetries: 0 });
});

afterAll(async () => {
  await fake.close();
});

beforeEach(() => fake.reset());

describe('OpenAI chat completions', () => {
  test('echoes the last user message when nothing is scripted, and records the request', async () => {
    const completion = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'ping' }] });
    expect(completion.choices[0]?.message.content).toBe('ping');
    expect(completion.usage).toEqual({ prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 });
    expect(fake.requests[0]).toMatchObject({ method: 'POST', path: '/v1/chat/completions', api: 'openai', aborted: false });
    expect(fake.requests[0]?.headers.authorization).toBe('Bearer sk-recorded');
    expect(fake.requests[0]?.body.messages).toEqual([{ role: 'user', content: 'ping' }]);
  });

  test('scripted replies are used in order, tool calls included', async () => {
    fake.script({ toolCalls: [{ name: 'f', arguments: '{"a":1}' }] }, { text: 'second', usage: { prompt_tokens: 1, completion_tokens: 2 } });
    const first = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] });
    expect(first.choices[0]?.finish_reason).toBe('tool_calls');
    expect(first.choices[0]?.message.tool_calls?.[0]).toMatchObject({ type: 'function', function: { name: 'f', arguments: '{"a":1}' } });
    const second = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] });
    expect(second.choices[0]?.message.content).toBe('second');
    expect(second.usage?.total_tokens).toBe(3);
  });

  test('streams text deltas, tool-call pieces and a usage chunk, then [DONE]', async () => {
    fake.script({ text: 'one two three' }, { toolCalls: [{ name: 'f', arguments: '{"long":"argument"}' }] });
    const stream = await client.chat.completions.create({ model: 'm', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'x' }] });
    const deltas: string[] = [];
    let usage: unknown;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) deltas.push(chunk.choices[0].delta.content);
      if (chunk.usage) usage = chunk.usage;
    }
    expect(deltas).toEqual(['one ', 'two ', 'three']);
    expect(usage).toEqual({ prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 });

    const calls = await client.chat.completions.create({ model: 'm', stream: true, messages: [{ role: 'user', content: 'x' }] });
    let args = '';
    let finish: string | null | undefined;
    for await (const chunk of calls) {
      args += chunk.choices[0]?.delta.tool_calls?.[0]?.function?.arguments ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      expect(chunk.usage ?? undefined).toBeUndefined(); // no include_usage, no usage chunk
    }
    expect(args).toBe('{"long":"argument"}');
    expect(finish).toBe('tool_calls');
  });

  test('errors carry the status, the message and Retry-After', async () => {
    fake.script({ error: { status: 429, message: 'slow down', retryAfter: '3' } });
    const error = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).message).toBe('429 slow down');
    expect((error as RateLimitError).headers?.get('retry-after')).toBe('3');
  });

  test('a hanging reply is recorded as aborted once the client gives up', async () => {
    fake.script({ hang: true });
    const controller = new AbortController();
    const call = client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }, { signal: controller.signal });
    await fake.waitFor((requests) => requests.length === 1);
    controller.abort();
    await expect(call).rejects.toThrow();
    await fake.waitFor((requests) => requests[0]?.aborted === true);
    expect(fake.requests[0]?.answered).toBe(false);
  });

  test('onRequest answers dynamically before the script', async () => {
    fake.script({ text: 'scripted' });
    fake.onRequest = (request) => (request.body.messages.length > 1 ? { text: 'dynamic' } : undefined);
    const ask = (count: number) =>
      client.chat.completions.create({ model: 'm', messages: Array.from({ length: count }, () => ({ role: 'user' as const, content: 'x' })) });
    expect((await ask(2)).choices[0]?.message.content).toBe('dynamic');
    expect((await ask(1)).choices[0]?.message.content).toBe('scripted');
  });
});

describe('Gemini generateContent', () => {
  const call = (method: string, body: unknown) =>
    fetch(`${fake.geminiUrl}/v1beta/models/gemini-x:${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-goog-api-key': 'gk' },
      body: JSON.stringify(body),
    });
  const contents = [{ role: 'user', parts: [{ text: 'ciao' }] }];

  test('answers text and function calls with usageMetadata, echoing by default', async () => {
    fake.script({ toolCalls: [{ name: 'f', arguments: '{"a":1}' }], usage: { prompt_tokens: 3, completion_tokens: 4 } });
    const first: any = await (await call('generateContent', { contents })).json();
    expect(first.candidates[0].content.parts).toEqual([{ functionCall: { name: 'f', args: { a: 1 } } }]);
    expect(first.usageMetadata).toEqual({ promptTokenCount: 3, candidatesTokenCount: 4, totalTokenCount: 7 });
    const echoed: any = await (await call('generateContent', { contents })).json();
    expect(echoed.candidates[0]).toMatchObject({ content: { role: 'model', parts: [{ text: 'ciao' }] }, finishReason: 'STOP' });
    expect(fake.requests[0]?.headers['x-goog-api-key']).toBe('gk');
    expect(fake.requests[0]?.api).toBe('gemini');
  });

  test('streams SSE chunks with the finish reason and usage on the last', async () => {
    fake.script({ text: 'uno due', finishReason: 'length' });
    const text = await (await call('streamGenerateContent?alt=sse', { contents })).text();
    const chunks = text.split('\r\n\r\n').filter(Boolean).map((event) => JSON.parse(event.replace(/^data: /, '')));
    expect(chunks.map((chunk) => chunk.candidates[0].content.parts[0].text)).toEqual(['uno ', 'due']);
    expect(chunks.at(-1)).toMatchObject({ candidates: [{ finishReason: 'MAX_TOKENS' }], usageMetadata: { totalTokenCount: 15 } });
  });

  test('errors use the Google error shape with RetryInfo', async () => {
    fake.script({ error: { status: 429, message: 'quota', retryAfter: '9' } });
    const response = await call('generateContent', { contents });
    expect(response.status).toBe(429);
    expect(await response.json()).toEqual({
      error: { code: 429, message: 'quota', status: 'RESOURCE_EXHAUSTED', details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '9s' }] },
    });
  });
});
