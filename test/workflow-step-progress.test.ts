/**
 * A workflow stream shows its job's earlier steps as they end, as SSE comments (`: step <id> <status>`), before the
 * output step's tokens: real api and worker, the fake provider answering the agent, a raw SSE reader. The job
 * waits for an approval between its steps, so what the stream shows while the job is parked can only have come
 * from the progress NOTIFYs. A job no stream waits on sends none for its steps.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import pg from 'pg';
import { http, putWorkflow, waitFor } from './support/fixtures.js';
import { startAgentStack, type AgentStack } from './support/agent-stack.js';
import { openSse } from './support/sse-client.js';

let stack: AgentStack;
let listen: pg.Client;
const progress: string[] = [];

beforeAll(async () => {
  stack = await startAgentStack();
  expect((await putWorkflow(stack.api.url, 'review-then-answer', [
    { id: 'shout', wasm: 'uppercase' },
    { id: 'approve', wait: { timeout: '1h' } },
    { id: 'answer', agent: 'helper' },
  ])).status).toBe(201);
  listen = new pg.Client({ connectionString: stack.db.url });
  await listen.connect();
  listen.on('notification', (message) => progress.push(message.payload ?? ''));
  await listen.query('LISTEN mule_job_progress');
});

afterAll(async () => {
  await listen?.end();
  await stack?.stop();
});

const uuidOf = (publicId: string) => publicId.replace(/^job-/, '');

test('a stream shows each earlier step as it ends or waits, then the answer', async () => {
  stack.fake.script({ text: 'one two three four', tokenDelayMs: 20 });
  const stream = await openSse(`${stack.api.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'workflow/review-then-answer', messages: [{ role: 'user', content: 'draft' }], stream: true }),
  });
  const publicId = stream.headers.get('x-mule-job-id')!;
  await waitFor(async () => stream.lines.includes(': step approve waiting'), 30_000, 'the stream to show the wait');
  // Parked at its wait: nothing but the stream's comments so far, and the wasm step shown first.
  expect((await http(stack.api.url, 'GET', `/v1/jobs/${publicId}`)).body.status).toBe('waiting');
  expect(stream.lines.filter((line) => line.startsWith(': step '))).toEqual([': step shout completed', ': step approve waiting']);
  expect(stream.events()).toEqual([]);

  expect((await http(stack.api.url, 'POST', `/v1/jobs/${publicId}/steps/approve/resume`, { output: { prompt: 'approved' } })).status).toBe(202);
  await stream.ended;
  const resumed = stream.lines.indexOf(': step approve completed');
  const firstData = stream.lines.findIndex((line) => line.startsWith('data: '));
  expect(resumed).toBeGreaterThan(stream.lines.indexOf(': step approve waiting'));
  expect(resumed).toBeLessThan(firstData);
  const events = stream.events();
  expect(events.at(-1)).toBe('[DONE]');
  const content = (events.slice(0, -1) as { choices: { delta: { content?: string } }[] }[]).map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
  expect(content).toBe('one two three four');
  expect(progress).toEqual(expect.arrayContaining([`${uuidOf(publicId)}:shout:completed`, `${uuidOf(publicId)}:approve:waiting`]));
});

test('a job no stream waits on sends no step progress', async () => {
  stack.fake.script({ text: 'quiet' });
  const queued = await http(stack.api.url, 'POST', '/v1/chat/completions', { model: 'async/workflow/review-then-answer', messages: [{ role: 'user', content: 'draft' }] });
  expect(queued.status).toBe(202);
  const id = queued.body.id as string;
  await waitFor(async () => (await http(stack.api.url, 'GET', `/v1/jobs/${id}`)).body.status === 'waiting', 30_000, 'the job to wait');
  // Its park is announced (the job's id alone, for the dashboard); its steps are not.
  await waitFor(async () => progress.some((payload) => payload.split(',').includes(uuidOf(id))), 10_000, 'the park notice');
  expect(progress.some((payload) => payload.split(',').some((entry) => entry.startsWith(`${uuidOf(id)}:shout:`)))).toBe(false);
});
