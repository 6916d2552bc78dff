/**
 * A WASM step's stderr is stored with its step row (the same statement that completes or fails the attempt) and
 * shown as `logs` in the job view: the last 16 KiB of a module that writes 1 MiB, the whole explanation of a module
 * that exits with an error, '' for a module that wrote nothing, null for an agent step. Real api, worker and
 * modules; the fake provider answers the agent.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { http, putModule, putWorkflow, testModule, waitFor } from './support/fixtures.js';
import { startAgentStack, type AgentStack } from './support/agent-stack.js';

let stack: AgentStack;

beforeAll(async () => {
  stack = await startAgentStack();
  for (const name of ['stderr-flood', 'exit-stderr']) expect([name, (await putModule(stack.api.url, name, testModule(name))).status]).toEqual([name, 201]);
  const workflows: Record<string, unknown[]> = {
    flood: [{ id: 'flood', wasm: 'stderr-flood' }],
    explains: [{ id: 'explain', wasm: 'exit-stderr' }],
    'agent-then-wasm': [{ id: 'answer', agent: 'helper' }, { id: 'shout', wasm: 'uppercase' }],
  };
  for (const [name, steps] of Object.entries(workflows)) expect([name, (await putWorkflow(stack.api.url, name, steps)).status]).toEqual([name, 201]);
});

afterAll(async () => {
  await stack?.stop();
});

const run = async (workflow: string) => {
  const answer = await http(stack.api.url, 'POST', '/v1/chat/completions', { model: `async/workflow/${workflow}`, messages: [{ role: 'user', content: 'hi' }] });
  expect(answer.status).toBe(202);
  const id = answer.body.id as string;
  return waitFor(async () => {
    const job = (await http(stack.api.url, 'GET', `/v1/jobs/${id}`)).body;
    return ['completed', 'failed'].includes(job.status) ? job : null;
  }, 30_000, `job ${id} to end`);
};

test('a module that writes 1 MiB to stderr: its step keeps the last 16 KiB', async () => {
  const job = await run('flood');
  expect(job.status).toBe('completed');
  // The module writes 16 chunks of 64 KiB, A to P: the tail is all P.
  expect(job.steps).toEqual([expect.objectContaining({ id: 'flood', status: 'completed', logs: 'P'.repeat(16 * 1024) })]);
});

test('a module that explains itself on stderr and exits: the failed step carries what it wrote', async () => {
  const job = await run('explains');
  expect(job.status).toBe('failed');
  expect(job.steps).toEqual([
    expect.objectContaining({ id: 'explain', status: 'failed', error: expect.objectContaining({ code: 'wasm_exit' }), logs: 'something went wrong: the input has no name\n' }),
  ]);
});

test('an agent step has no logs (null); a module that wrote nothing to stderr has empty logs', async () => {
  stack.fake.script({ text: 'bonjour' });
  const job = await run('agent-then-wasm');
  expect(job.status).toBe('completed');
  expect(job.steps).toEqual([
    expect.objectContaining({ id: 'answer', type: 'agent', status: 'completed', logs: null }),
    expect.objectContaining({ id: 'shout', type: 'wasm', status: 'completed', logs: '' }),
  ]);
});
