/**
 * MCP servers as agent tools (`kind: mcp_server`), end to end: a real MCP server (the SDK's, over Streamable HTTP
 * on a local port, requiring a bearer header) called by agents in the api (`agent/<name>`) and in a worker (an
 * agent step), driven by the fake provider. The server counts `initialize` requests, so session reuse is visible.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, isInitializeRequest, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import OpenAI from 'openai';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { startFakeProvider, type FakeProvider, type RecordedRequest } from './support/fake-provider.js';
import { http, putWorkflow, waitFor } from './support/fixtures.js';
import { startApi, startWorker, stopAllProcesses, type MuleProcess } from './support/processes.js';
import { answerWithToolResult, failureOf, user } from './support/agent-stack.js';

const TOKEN = `Bearer mcp-${randomUUID()}`;

/** A small MCP server: `lookup` answers, `broken` answers isError, `hidden` is left out by the allow-list. */
class TestMcpServer {
  initializations = 0;
  /** Sessions the client ended (HTTP DELETE). */
  terminations = 0;
  readonly calls: { name: string; args: unknown }[] = [];
  readonly headers: (string | undefined)[] = [];
  private http: HttpServer | undefined;
  private transports = new Map<string, StreamableHTTPServerTransport>();
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}/mcp`;
  }

  async start(): Promise<void> {
    this.transports = new Map();
    this.http = createServer((req, res) => {
      void this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500);
        res.end(String(error));
      });
    });
    await new Promise<void>((resolve) => this.http!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.http.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const server = this.http;
    this.http = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await Promise.allSettled([...this.transports.values()].map((transport) => transport.close()));
  }

  private async handle(req: IncomingMessage, res: import('node:http').ServerResponse): Promise<void> {
    this.headers.push(req.headers['authorization']);
    if (req.method === 'DELETE') this.terminations += 1;
    if (req.headers['authorization'] !== TOKEN) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'unauthorized' }));
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = chunks.length > 0 ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown) : undefined;
    const sessionId = req.headers['mcp-session-id'];
    let transport = typeof sessionId === 'string' ? this.transports.get(sessionId) : undefined;
    if (!transport) {
      if (req.method !== 'POST' || !isInitializeRequest(body)) {
        // An unknown session (e.g. from before a restart) is 404: the client must start a new one.
        res.writeHead(sessionId ? 404 : 400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'no such session' }, id: null }));
        return;
      }
      this.initializations += 1;
      const created = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => void this.transports.set(id, created),
      });
      await this.mcpServer().connect(created);
      transport = created;
    }
    await transport.handleRequest(req, res, body);
  }

  private mcpServer(): Server {
    const server = new Server({ name: 'test-docs', version: '1.0.0' }, { capabilities: { tools: {} } });
    const queryInput = { type: 'object' as const, properties: { query: { type: 'string' } }, required: ['query'] };
    server.setRequestHandler(ListToolsRequestSchema, async () => ({
      tools: [
        { name: 'lookup', description: 'Looks a query up in the docs', inputSchema: queryInput },
        { name: 'broken', description: 'Always fails', inputSchema: { type: 'object' as const, properties: {} } },
        { name: 'hidden', description: 'Not for agents', inputSchema: { type: 'object' as const, properties: {} } },
      ],
    }));
    server.setRequestHandler(CallToolRequestSchema, async (request) => {
      this.calls.push({ name: request.params.name, args: request.params.arguments });
      if (request.params.name === 'lookup') {
        return { content: [{ type: 'text' as const, text: `found: ${String(request.params.arguments?.['query'])}` }] };
      }
      return { content: [{ type: 'text' as const, text: 'the index is offline' }], isError: true };
    });
    return server;
  }
}

let db: TestDatabase;
let fake: FakeProvider;
let mcp: TestMcpServer;
let api: MuleProcess;
let client: OpenAI;

const put = (path: string, body: unknown) => http(api.url, 'PUT', path, body);
const toolNames = (request: RecordedRequest | undefined) =>
  ((request?.body.tools ?? []) as { function: { name: string } }[]).map((tool) => tool.function.name);
const lookup = (query: string) => ({ toolCalls: [{ name: 'docs__lookup', arguments: JSON.stringify({ query }) }] });

beforeAll(async () => {
  db = await createTestDatabase();
  fake = await startFakeProvider();
  mcp = new TestMcpServer();
  await mcp.start();
  const env = { MULE_ENV_ALLOW: 'FAKE_*,MULE_TEST_*', FAKE_API_KEY: 'sk-fake', MULE_TEST_MCP_TOKEN: TOKEN };
  let worker: MuleProcess;
  [api, worker] = await Promise.all([startApi(db.url, env), startWorker(db.url, env)]);
  void worker;
  client = new OpenAI({ baseURL: `${api.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 60_000 });
  expect((await put('/v1/providers/fake', { type: 'openai', base_url: fake.url, api_key_env: 'FAKE_API_KEY' })).status).toBe(201);
  const docs = await put('/v1/mcp_servers/docs', { url: mcp.url, headers_env: { Authorization: 'MULE_TEST_MCP_TOKEN' }, tools: ['lookup', 'broken'] });
  expect(docs.status).toBe(201);
  expect((await put('/v1/agents/researcher', { provider: 'fake', model: 'fake-model', tools: ['docs'], max_tool_calls: 3 })).status).toBe(201);
  expect((await putWorkflow(api.url, 'research', [{ id: 'research', agent: 'researcher' }])).status).toBe(201);
}, 120_000);

afterAll(async () => {
  await stopAllProcesses();
  await mcp?.stop();
  await fake?.close();
  await db?.drop();
});

beforeEach(() => {
  fake.reset();
  fake.onRequest = answerWithToolResult;
});

describe('mcp_server definitions', () => {
  test('storing a server does not contact it; it reads back, lists, and a second PUT of the same body is unchanged', async () => {
    const before = mcp.headers.length;
    const created = await put('/v1/mcp_servers/elsewhere', { url: 'http://127.0.0.1:9/mcp', description: 'never reached' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'elsewhere', object: 'mcp_server', url: 'http://127.0.0.1:9/mcp' });
    expect((await put('/v1/mcp_servers/elsewhere', { url: 'http://127.0.0.1:9/mcp', description: 'never reached' })).status).toBe(200);
    const list = await http(api.url, 'GET', '/v1/mcp_servers');
    expect(list.body.data.map((server: { name: string }) => server.name)).toEqual(['docs', 'elsewhere']);
    expect((await http(api.url, 'DELETE', '/v1/mcp_servers/elsewhere')).status).toBe(200);
    expect((await http(api.url, 'GET', '/v1/mcp_servers/elsewhere')).status).toBe(404);
    expect(mcp.headers.length).toBe(before);
  });

  test('a headers_env variable MULE_ENV_ALLOW forbids, and a non-http url, are 400 naming the field', async () => {
    for (const variable of ['DATABASE_URL', 'HOME']) {
      const answer = await put('/v1/mcp_servers/leaky', { url: mcp.url, headers_env: { Authorization: variable } });
      expect(answer.status).toBe(400);
      expect(answer.body.error).toMatchObject({ code: 'invalid_request', param: 'headers_env.Authorization' });
    }
    const ftp = await put('/v1/mcp_servers/leaky', { url: 'ftp://example.com/mcp' });
    expect([ftp.status, ftp.body.error.param]).toEqual([400, 'url']);
  });

  test('an agent tool that is neither a tool module nor an MCP server is 400; a server an agent names cannot be deleted (409)', async () => {
    const unknown = await put('/v1/agents/lost', { provider: 'fake', model: 'm', tools: ['docs', 'nowhere'] });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toContain('nowhere');
    const refused = await http(api.url, 'DELETE', '/v1/mcp_servers/docs');
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toContain('agent/researcher');
  });
});

describe('agents calling MCP tools', () => {
  test('agent/<name> calls the MCP tool with the model\'s arguments (the header from headers_env sent) and answers with its result', async () => {
    fake.script(lookup('mule workflows'));
    const completion = await client.chat.completions.create({ model: 'agent/researcher', messages: user('research mule') });
    expect(completion.choices[0]?.message.content).toBe('The tool said found: mule workflows');
    expect(mcp.calls.at(-1)).toEqual({ name: 'lookup', args: { query: 'mule workflows' } });
    expect(mcp.headers.at(-1)).toBe(TOKEN);
  });

  test('the allow-list hides the server\'s other tools from the model', async () => {
    fake.script({ text: 'no tools needed' });
    await client.chat.completions.create({ model: 'agent/researcher', messages: user('hi') });
    expect(toolNames(fake.requests[0])).toEqual(['docs__lookup', 'docs__broken']);
  });

  test('one session serves many calls: several agent calls add tool calls but no initialize', async () => {
    fake.script(lookup('warm'));
    await client.chat.completions.create({ model: 'agent/researcher', messages: user('warm up') });
    const initializations = mcp.initializations;
    const calls = mcp.calls.length;
    for (const query of ['one', 'two', 'three']) {
      fake.script(lookup(query));
      const completion = await client.chat.completions.create({ model: 'agent/researcher', messages: user(query) });
      expect(completion.choices[0]?.message.content).toBe(`The tool said found: ${query}`);
    }
    expect(mcp.calls.length).toBe(calls + 3);
    expect(mcp.initializations).toBe(initializations);
  });

  test('a result the server flags isError goes back to the model as the tool\'s error, and the call succeeds', async () => {
    fake.script({ toolCalls: [{ name: 'docs__broken', arguments: '{}' }] });
    const completion = await client.chat.completions.create({ model: 'agent/researcher', messages: user('try it') });
    expect(completion.choices[0]?.message.content).toBe('The tool said {"error":"the index is offline"}');
  });

  test('an agent step in a workflow calls the MCP tool from the worker', async () => {
    fake.script(lookup('from the worker'));
    const completion = await client.chat.completions.create({ model: 'workflow/research', messages: user('go') });
    expect(completion.choices[0]?.message.content).toBe('The tool said found: from the worker');
    expect(mcp.calls.at(-1)).toEqual({ name: 'lookup', args: { query: 'from the worker' } });
  });

  test('a stopped server fails the agent call and the step with tool_error (502); restarted, the next call reconnects', async () => {
    fake.script(lookup('warm'), lookup('warm'));
    await client.chat.completions.create({ model: 'agent/researcher', messages: user('warm') });
    await client.chat.completions.create({ model: 'workflow/research', messages: user('warm') });
    await mcp.stop();
    try {
      fake.script(lookup('down'));
      const direct = await failureOf(client.chat.completions.create({ model: 'agent/researcher', messages: user('down') }));
      expect([direct.status, (direct.error as { code?: string }).code]).toEqual([502, 'tool_error']);
      fake.script(lookup('down'));
      const step = await failureOf(client.chat.completions.create({ model: 'workflow/research', messages: user('down') }));
      expect([step.status, (step.error as { code?: string }).code]).toEqual([502, 'tool_error']);
    } finally {
      await mcp.start();
    }
    const initializations = mcp.initializations;
    fake.script(lookup('back'), lookup('back again'));
    const direct = await client.chat.completions.create({ model: 'agent/researcher', messages: user('back') });
    expect(direct.choices[0]?.message.content).toBe('The tool said found: back');
    const step = await client.chat.completions.create({ model: 'workflow/research', messages: user('back again') });
    expect(step.choices[0]?.message.content).toBe('The tool said found: back again');
    // One new session in the api and one in the worker.
    expect(mcp.initializations).toBe(initializations + 2);
  });

  test('deleting a server closes its session in the process that held it', async () => {
    expect((await put('/v1/mcp_servers/spare', { url: mcp.url, headers_env: { Authorization: 'MULE_TEST_MCP_TOKEN' } })).status).toBe(201);
    expect((await put('/v1/agents/spare-user', { provider: 'fake', model: 'fake-model', tools: ['spare'] })).status).toBe(201);
    fake.script({ toolCalls: [{ name: 'spare__lookup', arguments: '{"query":"spare"}' }] });
    const completion = await client.chat.completions.create({ model: 'agent/spare-user', messages: user('spare') });
    expect(completion.choices[0]?.message.content).toBe('The tool said found: spare');
    const terminations = mcp.terminations;
    expect((await http(api.url, 'DELETE', '/v1/agents/spare-user')).status).toBe(200);
    expect((await http(api.url, 'DELETE', '/v1/mcp_servers/spare')).status).toBe(200);
    await waitFor(async () => mcp.terminations > terminations, 10_000, 'the spare session to be ended');
  });
});
