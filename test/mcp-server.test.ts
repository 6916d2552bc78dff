/**
 * `/mcp` (docs/mcp.md): Mule as an MCP server, driven by the official SDK's Client over Streamable HTTP against
 * real api and worker processes. One stack without keys (workflows, an agent on the fake provider), one with keys.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, CreateTaskResultSchema, McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { startAgentStack, type AgentStack } from './support/agent-stack.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { http, putModule, putWorkflow, testModule, waitFor } from './support/fixtures.js';
import { startApi, startWorker, type MuleProcess } from './support/processes.js';

const ADMIN_KEY = 'mcp-test-admin-key-0123456789';

let stack: AgentStack;
let keyedDb: TestDatabase;
let keyedApi: MuleProcess;
let scopedKey: string;
const clients: Client[] = [];

async function connect(baseUrl: string, key?: string): Promise<Client> {
  const client = new Client({ name: 'mule-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`), {
    requestInit: { headers: key ? { Authorization: `Bearer ${key}` } : {} },
  });
  clients.push(client);
  await client.connect(transport);
  return client;
}

const textOf = (result: CallToolResult) => result.content.map((part) => (part.type === 'text' ? part.text : '')).join('');
const toolNames = async (client: Client) => (await client.listTools()).tools.map((tool) => tool.name).sort();

beforeAll(async () => {
  stack = await startAgentStack();
  const { api } = stack;
  // The agent stack holds the uppercase example module; shout is the README's workflow.
  expect((await putModule(api.url, 'unreachable', testModule('unreachable'))).status).toBe(201);
  expect((await putModule(api.url, 'slow-echo', testModule('slow-echo'))).status).toBe(201);
  expect((await http(api.url, 'PUT', '/v1/workflows/shout', { description: 'Shouts the prompt', steps: [{ id: 'shout', wasm: 'uppercase' }] })).status).toBe(201);
  expect((await putWorkflow(api.url, 'shout.v2', [{ id: 'shout', wasm: 'uppercase' }])).status).toBe(201);
  const inputSchema = { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] };
  expect((await http(api.url, 'PUT', '/v1/workflows/shout-text', { input_schema: inputSchema, steps: [{ id: 'shout', wasm: 'uppercase' }] })).status).toBe(201);
  expect((await putWorkflow(api.url, 'broken', [{ id: 'trap', wasm: 'unreachable' }])).status).toBe(201);
  expect((await putWorkflow(api.url, 'slow', [{ id: 'slow', wasm: 'slow-echo' }])).status).toBe(201);

  keyedDb = await createTestDatabase();
  [keyedApi] = await Promise.all([startApi(keyedDb.url, { MULE_API_KEYS: ADMIN_KEY }), startWorker(keyedDb.url)]);
  const admin = { authorization: `Bearer ${ADMIN_KEY}` };
  expect((await http(keyedApi.url, 'PUT', '/v1/wasm/modules/echo', testModule('echo'), admin)).status).toBe(201);
  for (const name of ['echo-flow', 'secret-flow']) {
    expect((await http(keyedApi.url, 'PUT', `/v1/workflows/${name}`, { steps: [{ id: 'echo', wasm: 'echo' }] }, admin)).status).toBe(201);
  }
  const created = await http(keyedApi.url, 'POST', '/v1/keys', { name: 'echo-only', scopes: ['workflow/echo-*'] }, admin);
  expect(created.status).toBe(201);
  scopedKey = created.body.key as string;
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

afterAll(async () => {
  await stack?.stop();
  await keyedDb?.drop();
});

describe('tools/list', () => {
  test('without keys lists every workflow and agent, named workflow_<name> / agent_<name>, a dot as _D_', async () => {
    const client = await connect(stack.api.url);
    const { tools } = await client.listTools();
    const names = tools.map((tool) => tool.name);
    for (const name of ['workflow_shout', 'workflow_shout_D_v2', 'workflow_broken', 'workflow_slow', 'workflow_tool-flow', 'agent_helper', 'agent_tool-user']) {
      expect(names).toContain(name);
    }
    for (const name of names) expect(name).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
    const shout = tools.find((tool) => tool.name === 'workflow_shout')!;
    expect(shout).toMatchObject({
      title: 'workflow/shout',
      description: 'Shouts the prompt',
      inputSchema: { type: 'object', properties: { prompt: { type: 'string' } }, required: ['prompt'] },
      execution: { taskSupport: 'optional' },
    });
    const helper = tools.find((tool) => tool.name === 'agent_helper')!;
    expect(helper.title).toBe('agent/helper');
    expect(helper.execution).toBeUndefined();
  });

  test('a plain JSON-RPC POST needs no initialize (stateless) and is answered as JSON; GET is 405', async () => {
    const headers = { accept: 'application/json, text/event-stream' };
    const answer = await http(stack.api.url, 'POST', '/mcp', { jsonrpc: '2.0', id: 7, method: 'tools/list' }, headers);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
    expect(answer.body.id).toBe(7);
    expect(answer.body.result.tools.map((tool: { name: string }) => tool.name)).toContain('workflow_shout');
    expect((await http(stack.api.url, 'GET', '/mcp', undefined, headers)).status).toBe(405);
  });

  test("with keys lists only what the key's scopes allow, and an admin key everything", async () => {
    expect(await toolNames(await connect(keyedApi.url, scopedKey))).toEqual(['workflow_echo-flow']);
    expect(await toolNames(await connect(keyedApi.url, ADMIN_KEY))).toEqual(['workflow_echo-flow', 'workflow_secret-flow']);
  });
});

describe('tools/call', () => {
  test('a workflow tool runs the job and answers its output as text and as structuredContent, naming the job', async () => {
    const client = await connect(stack.api.url);
    const result = (await client.callTool({ name: 'workflow_shout', arguments: { prompt: 'hello mcp' } })) as CallToolResult;
    expect(result.isError).toBeFalsy();
    expect(textOf(result)).toBe('HELLO MCP');
    expect(result.structuredContent).toMatchObject({ prompt: 'HELLO MCP' });
    const jobId = result._meta?.['mule/job-id'] as string;
    const job = await http(stack.api.url, 'GET', `/v1/jobs/${jobId}`);
    expect(job.body).toMatchObject({ workflow: 'shout', model: 'workflow/shout', status: 'completed', input: { prompt: 'hello mcp', messages: [{ role: 'user', content: 'hello mcp' }] } });
  });

  test('a workflow with an input_schema offers it, and its arguments are the job input as they are', async () => {
    const client = await connect(stack.api.url);
    const tool = (await client.listTools()).tools.find((candidate) => candidate.name === 'workflow_shout-text')!;
    expect(tool.inputSchema).toEqual({ type: 'object', properties: { text: { type: 'string' } }, required: ['text'] });
    const result = (await client.callTool({ name: 'workflow_shout-text', arguments: { text: 'as is' } })) as CallToolResult;
    expect(result.structuredContent).toEqual({ text: 'AS IS' });
    expect(JSON.parse(textOf(result))).toEqual({ text: 'AS IS' });
    const job = await http(stack.api.url, 'GET', `/v1/jobs/${result._meta?.['mule/job-id'] as string}`);
    expect(job.body.input).toEqual({ text: 'as is' });

    const refused = (await client.callTool({ name: 'workflow_shout-text', arguments: { text: 7 } })) as CallToolResult;
    expect(refused.isError).toBe(true);
    expect(textOf(refused)).toMatch(/^invalid_request: the arguments do not match the input_schema of workflow\/shout-text: arguments\/text must be string/);
  });

  test('a tool name with _D_ runs the workflow whose name has the dot', async () => {
    const client = await connect(stack.api.url);
    const result = (await client.callTool({ name: 'workflow_shout_D_v2', arguments: { prompt: 'dots' } })) as CallToolResult;
    expect(textOf(result)).toBe('DOTS');
    const job = await http(stack.api.url, 'GET', `/v1/jobs/${result._meta?.['mule/job-id'] as string}`);
    expect(job.body.workflow).toBe('shout.v2');
  });

  test('an agent tool asks the agent with the prompt as the user message and answers its text', async () => {
    stack.fake.reset();
    stack.fake.script({ text: 'Bonjour, MCP !' });
    const client = await connect(stack.api.url);
    const result = (await client.callTool({ name: 'agent_helper', arguments: { prompt: 'say hello' } })) as CallToolResult;
    expect(result.isError).toBeFalsy();
    expect(textOf(result)).toBe('Bonjour, MCP !');
    const sent = stack.fake.requests.at(-1)!.body.messages as { role: string; content: unknown }[];
    expect(sent.at(-1)).toMatchObject({ role: 'user', content: 'say hello' });
  });

  test('a failing workflow is a tool result with isError naming the error code and the job', async () => {
    const client = await connect(stack.api.url);
    const result = (await client.callTool({ name: 'workflow_broken', arguments: { prompt: 'x' } })) as CallToolResult;
    expect(result.isError).toBe(true);
    const jobId = result._meta?.['mule/job-id'] as string;
    expect(jobId).toMatch(/^job-[0-9a-f-]{36}$/);
    expect(textOf(result)).toMatch(/^wasm_trap: /);
    expect(textOf(result)).toContain(jobId);
  });

  test('arguments without a prompt are a tool result with isError invalid_request, and no job is written', async () => {
    const client = await connect(stack.api.url);
    const before = await http(stack.api.url, 'GET', '/v1/jobs?workflow=shout&limit=100');
    const result = (await client.callTool({ name: 'workflow_shout', arguments: { text: 'no prompt' } })) as CallToolResult;
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/^invalid_request: .*prompt/);
    const after = await http(stack.api.url, 'GET', '/v1/jobs?workflow=shout&limit=100');
    expect(after.body.data.length).toBe(before.body.data.length);
  });

  test('an unknown tool, or one the key may not use, is a protocol error', async () => {
    const open = await connect(stack.api.url);
    for (const name of ['workflow_no-such-flow', 'shout', 'workflow_Shout', 'agent_no-such-agent']) {
      const error = await open.callTool({ name, arguments: { prompt: 'x' } }).catch((caught: unknown) => caught);
      expect([name, error instanceof McpError && error.message]).toEqual([name, expect.stringContaining(`Unknown tool: ${name}`)]);
    }
    const scoped = await connect(keyedApi.url, scopedKey);
    const error = await scoped.callTool({ name: 'workflow_secret-flow', arguments: { prompt: 'x' } }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(McpError);
    const allowed = (await scoped.callTool({ name: 'workflow_echo-flow', arguments: { prompt: 'mine' } })) as CallToolResult;
    expect(textOf(allowed)).toBe('mine');
  });
});

describe('authentication', () => {
  test('with keys, a missing or wrong key is an HTTP 401 the client reports, before any MCP message', async () => {
    for (const key of [undefined, 'mule_not-a-real-key']) {
      const error = await connect(keyedApi.url, key).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(StreamableHTTPError);
      expect((error as StreamableHTTPError).code).toBe(401);
    }
    const raw = await http(keyedApi.url, 'POST', '/mcp', { jsonrpc: '2.0', id: 1, method: 'tools/list' });
    expect(raw.status).toBe(401);
    expect(raw.body.error).toMatchObject({ type: 'authentication_error', code: 'unauthorized' });
  });

  test('a browser Origin that is not loopback is refused (DNS rebinding)', async () => {
    const answer = await http(stack.api.url, 'POST', '/mcp', { jsonrpc: '2.0', id: 1, method: 'ping' }, { origin: 'http://evil.example', accept: 'application/json, text/event-stream' });
    expect(answer.status).toBe(403);
  });
});

describe('tasks', () => {
  test('a workflow called as a task answers at once with the job as task; tasks/get and tasks/result follow the job', async () => {
    const client = await connect(stack.api.url);
    const created = await client.request(
      { method: 'tools/call', params: { name: 'workflow_slow', arguments: { prompt: 'later' }, task: { ttl: 60_000 } } },
      CreateTaskResultSchema,
    );
    expect(created.task.taskId).toMatch(/^job-[0-9a-f-]{36}$/);
    expect(created.task.status).toBe('working');
    const job = await http(stack.api.url, 'GET', `/v1/jobs/${created.task.taskId}`);
    expect(job.status).toBe(200);
    expect((await client.experimental.tasks.getTask(created.task.taskId)).taskId).toBe(created.task.taskId);

    const result = await client.experimental.tasks.getTaskResult(created.task.taskId, CallToolResultSchema);
    expect(textOf(result)).toBe('later');
    expect((await client.experimental.tasks.getTask(created.task.taskId)).status).toBe('completed');
  });

  test('tasks/cancel cancels the job; a finished task cannot be cancelled', async () => {
    const client = await connect(stack.api.url);
    const { task } = await client.request(
      { method: 'tools/call', params: { name: 'workflow_slow', arguments: { prompt: 'never' }, task: {} } },
      CreateTaskResultSchema,
    );
    const cancelled = await client.experimental.tasks.cancelTask(task.taskId);
    expect(cancelled.status).toBe('cancelled');
    await waitFor(async () => (await http(stack.api.url, 'GET', `/v1/jobs/${task.taskId}`)).body.status === 'cancelled', 10_000, 'the job to be cancelled');
    const result = await client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema);
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/^cancelled: /);
    const again = await client.experimental.tasks.cancelTask(task.taskId).catch((caught: unknown) => caught);
    expect(again).toBeInstanceOf(McpError);
  });

  test("another key's task is not found", async () => {
    const admin = await connect(keyedApi.url, ADMIN_KEY);
    const { task } = await admin.request(
      { method: 'tools/call', params: { name: 'workflow_echo-flow', arguments: { prompt: 'admin' }, task: {} } },
      CreateTaskResultSchema,
    );
    const scoped = await connect(keyedApi.url, scopedKey);
    const error = await scoped.experimental.tasks.getTask(task.taskId).catch((caught: unknown) => caught);
    expect(error instanceof McpError && error.message).toContain('Task not found');
  });

  test('an agent tool refuses to run as a task', async () => {
    const client = await connect(stack.api.url);
    const error = await client
      .request({ method: 'tools/call', params: { name: 'agent_helper', arguments: { prompt: 'x' }, task: {} } }, CreateTaskResultSchema)
      .catch((caught: unknown) => caught);
    expect(error instanceof McpError && error.message).toContain('does not support task-augmented execution');
  });
});
