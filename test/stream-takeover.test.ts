/**
 * A takeover in the middle of a workflow stream: the worker relaying an agent step's tokens is killed (SIGKILL)
 * while the fake provider streams slowly; another worker takes the job over (a 20 s lease: ~12-16 s) and runs the
 * step again. The client's stream stays open meanwhile. When the new run repeats what the stream already sent,
 * the stream goes on live from where it stood and ends with the complete answer; when the new run answers
 * differently, the stream ends with an error event naming the job, then [DONE]. Real api and workers.
 */
import { afterAll, afterEach, beforeAll, expect, test } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { startFakeProvider, type FakeProvider } from './support/fake-provider.js';
import { http, putWorkflow, waitFor } from './support/fixtures.js';
import { startApi, startWorker, stopAllProcesses, stopProcessesExcept, type MuleProcess } from './support/processes.js';
import { openSse, type SseClient } from './support/sse-client.js';
import { SECRET_KEY } from './support/agent-stack.js';

/** A 20 s lease (pg-boss's heartbeat window 10 s, its minimum); the key that opens the stored provider key. */
const LEASE = { MULE_LEASE_SECONDS: '20', MULE_SECRET_KEY: SECRET_KEY };
const ANSWER = 'one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen';

let db: TestDatabase;
let fake: FakeProvider;
let api: MuleProcess;

beforeAll(async () => {
  db = await createTestDatabase();
  fake = await startFakeProvider();
  api = await startApi(db.url, LEASE);
  expect((await http(api.url, 'PUT', '/v1/providers/fake', { type: 'openai', base_url: fake.url, api_key: 'sk-fake-takeover' })).status).toBe(201);
  expect((await http(api.url, 'PUT', '/v1/agents/talker', { provider: 'fake', model: 'fake-model' })).status).toBe(201);
  expect((await putWorkflow(api.url, 'talk', [{ id: 'talk', agent: 'talker' }])).status).toBe(201);
});

afterEach(async () => {
  await stopProcessesExcept([api]);
  fake.reset();
});

afterAll(async () => {
  await stopAllProcesses();
  await fake?.close();
  await db?.drop();
});

type Chunk = { choices: { delta: { content?: string } }[] };
const contentChunks = (stream: SseClient) =>
  (stream.events().filter((event) => event !== '[DONE]' && 'choices' in (event as object)) as Chunk[])
    .map((chunk) => chunk.choices[0]?.delta.content ?? '')
    .filter((text) => text !== '');

/** Starts a streamed call on one worker, kills that worker after two relayed deltas, and starts another. */
async function killMidStream(): Promise<{ stream: SseClient; before: number }> {
  const first = await startWorker(db.url, LEASE);
  const stream = await openSse(`${api.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'workflow/talk', messages: [{ role: 'user', content: 'count' }], stream: true }),
  });
  await waitFor(async () => contentChunks(stream).length >= 2, 30_000, 'two deltas relayed by the first worker');
  await first.stop('SIGKILL');
  const before = contentChunks(stream).length;
  // The answer was cut short: the first worker's run sent a part of it only.
  expect(contentChunks(stream).join('').length).toBeLessThan(ANSWER.length);
  await startWorker(db.url, LEASE);
  return { stream, before };
}

test('the new worker answers the same: the stream goes on live and ends with the complete answer', async () => {
  fake.script({ text: ANSWER, tokenDelayMs: 400 }, { text: ANSWER, tokenDelayMs: 100 });
  const { stream, before } = await killMidStream();
  await stream.ended;
  const events = stream.events();
  expect(events.at(-1)).toBe('[DONE]');
  expect(events.some((event) => typeof event === 'object' && event !== null && 'error' in event)).toBe(false);
  expect(contentChunks(stream).join('')).toBe(ANSWER);
  // Live, not all at the end: the new worker's text came in several deltas (a stopped relay sends the rest as one).
  expect(contentChunks(stream).length - before).toBeGreaterThan(1);
  expect(fake.requests).toHaveLength(2);
  const job = (await http(api.url, 'GET', `/v1/jobs/${stream.headers.get('x-mule-job-id')}`)).body;
  expect(job).toMatchObject({ status: 'completed', attempts: 2 });
}, 90_000);

test('the new worker answers differently: the stream ends with an error event naming the job, then [DONE]', async () => {
  fake.script({ text: ANSWER, tokenDelayMs: 400 }, { text: 'a different answer altogether, longer than what was sent before the kill', tokenDelayMs: 20 });
  const { stream } = await killMidStream();
  await stream.ended;
  const events = stream.events();
  expect(events.at(-1)).toBe('[DONE]');
  const error = events.at(-2) as { error: { message: string; code: string } };
  const publicId = stream.headers.get('x-mule-job-id')!;
  expect(error.error.message).toContain(publicId);
  expect(error.error).toMatchObject({ code: 'conflict', type: 'conflict_error' });
  expect(error.error.message).toContain('differs from its final output');
  // Nothing of the second answer was relayed: the client never saw text that does not belong to one answer.
  expect(ANSWER.startsWith(contentChunks(stream).join(''))).toBe(true);
}, 90_000);
