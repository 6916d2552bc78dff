/**
 * The agent stack for end-to-end tests: a database, the fake provider, an api and a worker that both hold the
 * provider variables and MULE_SECRET_KEY, and the definitions the agent tests share (providers of every kind,
 * the uppercase tool, agents and workflows). Plus small helpers for reading what the fake provider received.
 */
import { randomBytes } from 'node:crypto';
import { expect } from '@jest/globals';
import OpenAI, { APIError } from 'openai';
import { createTestDatabase, type TestDatabase } from './database.js';
import { startFakeProvider, type FakeProvider, type FakeReply, type RecordedRequest } from './fake-provider.js';
import { exampleModule, http, putWorkflow } from './fixtures.js';
import { startApi, startWorker, stopAllProcesses, type MuleProcess } from './processes.js';

export const SECRET_KEY = randomBytes(32).toString('hex');
export const STORED_KEY = `sk-stored-${randomBytes(12).toString('hex')}`;
export const ENV_KEY = `sk-env-${randomBytes(12).toString('hex')}`;
export const GEMINI_KEY = `gm-stored-${randomBytes(12).toString('hex')}`;
export const UPPERCASE_TOOL = {
  description: 'Uppercase a text',
  parameters: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
};

export interface AgentStack {
  db: TestDatabase;
  fake: FakeProvider;
  api: MuleProcess;
  worker: MuleProcess;
  /** The official client, pointed at the api. */
  client: OpenAI;
  stop(): Promise<void>;
}

export async function startAgentStack(): Promise<AgentStack> {
  const db = await createTestDatabase();
  const fake = await startFakeProvider();
  // api_key_env / base_url_env are read in the process that runs the agent: both get them.
  // OPENAI_*: what the provider of examples/agent.yaml reads.
  // MULE_ENV_ALLOW: these tests' own variable names (the default allows OPENAI_*, *_API_KEY and a few more).
  const env = { MULE_SECRET_KEY: SECRET_KEY, MULE_ENV_ALLOW: 'FAKE_*,MULE_TEST_*,OPENAI_*', FAKE_BASE_URL: fake.url, FAKE_API_KEY: ENV_KEY, OPENAI_BASE_URL: fake.url, OPENAI_API_KEY: ENV_KEY };
  const [api, worker] = await Promise.all([startApi(db.url, env), startWorker(db.url, env)]);
  const client = new OpenAI({ baseURL: `${api.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 60_000 });

  const put = async (path: string, body: unknown) => {
    const answer = await http(api.url, 'PUT', path, body);
    expect([path, answer.status]).toEqual([path, 201]);
  };
  await put('/v1/providers/stored', { type: 'openai', base_url: fake.url, api_key: STORED_KEY });
  await put('/v1/providers/from-env', { type: 'openai', base_url_env: 'FAKE_BASE_URL', api_key_env: 'FAKE_API_KEY' });
  await put('/v1/providers/gemini', { type: 'gemini', base_url: fake.geminiUrl, api_key: GEMINI_KEY });
  await put('/v1/providers/no-env', { type: 'openai', base_url_env: 'MULE_TEST_UNSET_URL', api_key_env: 'FAKE_API_KEY' });
  await put('/v1/wasm/modules/uppercase', {
    description: 'Uppercases every string in its input',
    tool: UPPERCASE_TOOL,
    wasm_base64: Buffer.from(exampleModule('uppercase')).toString('base64'),
  });
  await put('/v1/agents/helper', { provider: 'stored', model: 'fake-model', instruction: 'You answer in French.', temperature: 0.3 });
  await put('/v1/agents/env-helper', { provider: 'from-env', model: 'env-model', instruction: 'Be brief.' });
  await put('/v1/agents/tool-user', { provider: 'stored', model: 'fake-model', instruction: 'Use your tool.', tools: ['uppercase'], max_tool_calls: 2 });
  await put('/v1/agents/gem', { provider: 'gemini', model: 'gemini-fake', instruction: 'You are a Gemini agent.', tools: ['uppercase'] });
  await put('/v1/agents/misconfigured', { provider: 'no-env', model: 'fake-model' });
  const workflows: [string, unknown[]][] = [
    ['answer-then-shout', [{ id: 'answer', agent: 'helper' }, { id: 'again', agent: 'env-helper' }, { id: 'shout', wasm: 'uppercase' }]],
    ['tool-flow', [{ id: 'tool', agent: 'tool-user' }]],
    ['slow-agent', [{ id: 'slow', agent: 'helper', timeout_ms: 500 }]],
    ['flaky-agent', [{ id: 'flaky', agent: 'helper', retries: 1 }]],
    ['misconfigured-flow', [{ id: 'broken', agent: 'misconfigured' }]],
  ];
  for (const [name, steps] of workflows) expect([name, (await putWorkflow(api.url, name, steps)).status]).toEqual([name, 201]);

  return {
    db,
    fake,
    api,
    worker,
    client,
    async stop() {
      await stopAllProcesses();
      await fake.close();
      await db.drop();
    },
  };
}

export const user = (content: string): OpenAI.ChatCompletionMessageParam[] => [{ role: 'user', content }];
export const bearer = (request: RecordedRequest | undefined) => request?.headers['authorization'];
export const lastMessage = (request: RecordedRequest) => (request.body.messages as any[]).at(-1);

/** Answers the model's tool result as its text: the agent's answer is then the tool's output. */
export const answerWithToolResult = (request: RecordedRequest): FakeReply | undefined => {
  const last = lastMessage(request);
  return last?.role === 'tool' ? { text: `The tool said ${last.content}` } : undefined;
};

export async function failureOf(promise: Promise<unknown>): Promise<APIError> {
  const error = await promise.catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(APIError);
  return error as APIError;
}

export async function collect(stream: AsyncIterable<OpenAI.ChatCompletionChunk>): Promise<OpenAI.ChatCompletionChunk[]> {
  const chunks: OpenAI.ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

export const contentOf = (chunks: OpenAI.ChatCompletionChunk[]) => chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
