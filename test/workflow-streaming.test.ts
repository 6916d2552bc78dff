/**
 * Workflow streams relay the output step's tokens as the provider sends them: worker -> `mule_job_tokens` NOTIFY ->
 * the api's LISTEN connection -> the waiting stream. Real api and worker, the fake provider streaming slowly (10
 * words, 50 ms apart), the official `openai` client; a LISTEN of our own counts the relay's NOTIFYs.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import type OpenAI from 'openai';
import pg from 'pg';
import { http, putWorkflow } from './support/fixtures.js';
import { contentOf, startAgentStack, user, type AgentStack } from './support/agent-stack.js';

const TEN_WORDS = 'one two three four five six seven eight nine ten';
const SLOW = { text: TEN_WORDS, tokenDelayMs: 50, usage: { prompt_tokens: 7, completion_tokens: 10 } };

let stack: AgentStack;
let tokens: pg.Client;
/** Every `mule_job_tokens` payload seen, by job uuid. */
const payloads = new Map<string, string[]>();

const uuidOf = (publicId: string | null) => publicId!.replace(/^job-/, '');
const jobStatus = async (publicId: string) => (await http(stack.api.url, 'GET', `/v1/jobs/${publicId}`)).body.status as string;
const jobStream = async (publicId: string) =>
  (await tokens.query<{ stream: boolean }>('SELECT stream FROM jobs WHERE id = $1', [uuidOf(publicId)])).rows[0]?.stream;

beforeAll(async () => {
  stack = await startAgentStack();
  const put = async (name: string, body: unknown) => expect([name, (await http(stack.api.url, 'PUT', `/v1/workflows/${name}`, body)).status]).toEqual([name, 201]);
  await putWorkflow(stack.api.url, 'shout-then-answer', [{ id: 'shout', wasm: 'uppercase' }, { id: 'answer', agent: 'helper' }]);
  await putWorkflow(stack.api.url, 'answer-then-wasm', [{ id: 'answer', agent: 'helper' }, { id: 'shout', wasm: 'uppercase' }]);
  // The output names the agent step's text: the chat content is that string as JSON (quoted).
  await put('answer-as-string', { steps: [{ id: 'answer', agent: 'helper' }, { id: 'shout', wasm: 'uppercase' }], output: '${{ steps.answer.output.prompt }}' });
  tokens = new pg.Client({ connectionString: stack.db.url });
  await tokens.connect();
  tokens.on('notification', (message) => {
    const jobId = (message.payload ?? '').split(',')[0]!;
    payloads.set(jobId, [...(payloads.get(jobId) ?? []), message.payload ?? '']);
  });
  await tokens.query('LISTEN mule_job_tokens');
});

afterAll(async () => {
  await tokens?.end();
  await stack?.stop();
});

beforeEach(() => stack.fake.reset());

describe('workflow streams relay tokens', () => {
  test('a WASM-then-agent workflow streams several deltas while the job runs, adding up to its content, then usage and [DONE]', async () => {
    stack.fake.script(SLOW);
    const { data: stream, response } = await stack.client.chat.completions
      .create({ model: 'workflow/shout-then-answer', messages: user('go'), stream: true })
      .withResponse();
    const publicId = response.headers.get('x-mule-job-id')!;
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    let statusAtFirstDelta: string | null = null;
    for await (const chunk of stream) {
      if (statusAtFirstDelta === null && chunk.choices[0]?.delta.content) statusAtFirstDelta = await jobStatus(publicId);
      chunks.push(chunk);
    }
    // The first text came while the job still ran: relayed, not sent at the end.
    expect(statusAtFirstDelta).toBe('running');
    const deltas = chunks.map((chunk) => chunk.choices[0]?.delta.content).filter((content) => content);
    expect(deltas.length).toBeGreaterThanOrEqual(3);
    expect(contentOf(chunks)).toBe(TEN_WORDS);
    const job = await http(stack.api.url, 'GET', `/v1/jobs/${publicId}`);
    expect(job.body.status).toBe('completed');
    expect(contentOf(chunks)).toBe(job.body.output.prompt);
    expect(chunks.at(-1)?.usage).toEqual({ prompt_tokens: 7, completion_tokens: 10, total_tokens: 17 });
    expect(stack.fake.requests[0]?.body).toMatchObject({ stream: true });
    expect(await jobStream(publicId)).toBe(true);
    expect(payloads.get(uuidOf(publicId))?.length).toBeGreaterThanOrEqual(3);

    // On the wire: the role once, the deltas, the finish and usage chunks, then [DONE].
    stack.fake.script({ text: 'raw words here', tokenDelayMs: 20 });
    const raw = await fetch(`${stack.api.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'workflow/shout-then-answer', messages: user('go'), stream: true }),
    });
    const text = await raw.text();
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    expect(text.match(/"role":"assistant"/g)).toHaveLength(1);
  });

  test('a call without stream marks its job not streamed and costs no token NOTIFY', async () => {
    stack.fake.script(SLOW);
    const { data, response } = await stack.client.chat.completions
      .create({ model: 'workflow/shout-then-answer', messages: user('go') })
      .withResponse();
    expect(data.choices[0]?.message.content).toBe(TEN_WORDS);
    const quiet = response.headers.get('x-mule-job-id')!;
    expect(await jobStream(quiet)).toBe(false);
    expect(stack.fake.requests[0]?.body.stream).toBeFalsy();

    // The same LISTEN does see a streamed job's payloads: the silence above is the worker's, not ours.
    stack.fake.script(SLOW);
    const { data: stream, response: streamed } = await stack.client.chat.completions
      .create({ model: 'workflow/shout-then-answer', messages: user('go'), stream: true })
      .withResponse();
    for await (const _ of stream) void _;
    const loud = uuidOf(streamed.headers.get('x-mule-job-id'));
    await tokens.query('SELECT 1');
    expect(payloads.get(loud)?.length).toBeGreaterThan(0);
    expect(payloads.get(uuidOf(quiet))).toBeUndefined();
  });

  test('a Responses API stream of a workflow gets several output_text deltas adding up to the text', async () => {
    stack.fake.script(SLOW);
    const stream = await stack.client.responses.create({ model: 'workflow/shout-then-answer', input: 'go', stream: true });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    const deltas = events.filter((event) => event.type === 'response.output_text.delta').map((event) => event.delta);
    expect(deltas.length).toBeGreaterThanOrEqual(3);
    expect(deltas.join('')).toBe(TEN_WORDS);
    expect(events.filter((event) => event.type === 'response.output_item.added')).toHaveLength(1);
    const completed = events.at(-1) as OpenAI.Responses.ResponseCompletedEvent;
    expect(completed.type).toBe('response.completed');
    expect(completed.response.output_text ?? (completed.response.output[0] as any).content[0].text).toBe(TEN_WORDS);
    expect(events.map((event) => event.sequence_number)).toEqual(events.map((_, index) => index));
  });

  test('a job whose output step is WASM relays nothing and sends its content at once at the end', async () => {
    stack.fake.script(SLOW);
    const { data: stream, response } = await stack.client.chat.completions
      .create({ model: 'workflow/answer-then-wasm', messages: user('go'), stream: true })
      .withResponse();
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    const deltas = chunks.map((chunk) => chunk.choices[0]?.delta.content).filter((content) => content);
    expect(deltas).toEqual([TEN_WORDS.toUpperCase()]);
    const publicId = response.headers.get('x-mule-job-id')!;
    expect(await jobStream(publicId)).toBe(true);
    expect(payloads.get(uuidOf(publicId))).toBeUndefined();
    // Only a relayed step asks its provider to stream.
    expect(stack.fake.requests[0]?.body.stream).toBeFalsy();
  });

  test('a long multibyte answer is relayed in NOTIFYs under 8000 bytes, surrogate pairs whole, adding up exactly', async () => {
    // ~60 KB of UTF-8 with no delay between words: coalesced into payloads split at the NOTIFY limit.
    const long = Array.from({ length: 4000 }, (_, i) => `€${i}😀`).join(' ');
    stack.fake.script({ text: long });
    const { data: stream, response } = await stack.client.chat.completions
      .create({ model: 'workflow/shout-then-answer', messages: user('go'), stream: true })
      .withResponse();
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(contentOf(chunks)).toBe(long);
    const sent = payloads.get(uuidOf(response.headers.get('x-mule-job-id')))!;
    expect(sent.length).toBeGreaterThan(7);
    for (const one of sent) {
      expect(Buffer.byteLength(one)).toBeLessThan(8000);
      expect(one).not.toContain('\ufffd');
    }
  });

  test('an output of ${{ steps.<id>.output.prompt }} relays that step, JSON-encoded as the content is', async () => {
    stack.fake.script({ text: 'say "hi" back\nnow', tokenDelayMs: 30 });
    const { data: stream, response } = await stack.client.chat.completions
      .create({ model: 'workflow/answer-as-string', messages: user('go'), stream: true })
      .withResponse();
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(contentOf(chunks)).toBe(JSON.stringify('say "hi" back\nnow'));
    expect(chunks.filter((chunk) => chunk.choices[0]?.delta.content).length).toBeGreaterThanOrEqual(2);
    expect(payloads.get(uuidOf(response.headers.get('x-mule-job-id')))?.length).toBeGreaterThan(0);
  });
});
