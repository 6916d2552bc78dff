/**
 * OpenTelemetry traces: a local OTLP/HTTP receiver stands in for the collector. A traced workflow call continues
 * the caller's W3C traceparent through the api, the queue and the worker (steps, for_each items, WASM runs, the
 * agent's LLM call with GenAI attributes); prompts stay out of spans unless MULE_LOG_CONTENT=true; the default
 * protobuf protocol delivers; without an endpoint no SDK module is loaded; a takeover continues the same trace.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, test } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { startFakeProvider, type FakeProvider, type RecordedRequest } from './support/fake-provider.js';
import { exampleModule, http, putModule, putWorkflow, testModule, waitFor } from './support/fixtures.js';
import { startOtlpReceiver, tracedEnv as exportTo, type OtlpReceiver } from './support/otlp-receiver.js';
import { startApi, startWorker, stopAllProcesses, stopProcessesExcept, type MuleProcess } from './support/processes.js';

const SECRET_KEY = randomBytes(32).toString('hex');
const PROMPT = `the caller's private words ${randomBytes(6).toString('hex')}`;
const hex = (bytes: number) => randomBytes(bytes).toString('hex');

let db: TestDatabase;
let fake: FakeProvider;
let receiver: OtlpReceiver;
let api: MuleProcess;
let worker: MuleProcess;

const tracedEnv = () => ({ MULE_SECRET_KEY: SECRET_KEY, ...exportTo(receiver) });

beforeAll(async () => {
  db = await createTestDatabase();
  fake = await startFakeProvider();
  receiver = await startOtlpReceiver();
  [api, worker] = await Promise.all([startApi(db.url, tracedEnv()), startWorker(db.url, tracedEnv())]);
  expect((await http(api.url, 'PUT', '/v1/providers/stored', { type: 'openai', base_url: fake.url, api_key: 'sk-test-tracing' })).status).toBe(201);
  expect((await http(api.url, 'PUT', '/v1/agents/helper', { provider: 'stored', model: 'fake-model', instruction: 'Answer briefly.' })).status).toBe(201);
  const uppercase = {
    description: 'Uppercases every string in its input',
    tool: { description: 'Uppercase a text', parameters: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] } },
    wasm_base64: Buffer.from(exampleModule('uppercase')).toString('base64'),
  };
  expect((await http(api.url, 'PUT', '/v1/wasm/modules/uppercase', uppercase)).status).toBe(201);
  expect((await http(api.url, 'PUT', '/v1/agents/tool-user', { provider: 'stored', model: 'fake-model', instruction: 'Use your tool.', tools: ['uppercase'] })).status).toBe(201);
  expect((await putWorkflow(api.url, 'tooled', [{ id: 'tool', agent: 'tool-user' }])).status).toBe(201);
  expect((await http(api.url, 'PUT', '/v1/providers/gemini', { type: 'gemini', base_url: fake.geminiUrl, api_key: 'gm-test-tracing' })).status).toBe(201);
  expect((await http(api.url, 'PUT', '/v1/agents/gem', { provider: 'gemini', model: 'gemini-fake', instruction: 'Answer briefly.' })).status).toBe(201);
  expect((await putWorkflow(api.url, 'gem-flow', [{ id: 'ask', agent: 'gem' }])).status).toBe(201);
  expect((await putModule(api.url, 'sleep', testModule('sleep'))).status).toBe(201);
  const steps = [
    { id: 'answer', agent: 'helper' },
    { id: 'shout', wasm: 'uppercase' },
    { id: 'each', wasm: 'uppercase', for_each: "['a', 'b']" },
  ];
  expect((await putWorkflow(api.url, 'traced', steps)).status).toBe(201);
  expect((await putWorkflow(api.url, 'approval', [{ id: 'approve', wait: { timeout: '1h' } }, { id: 'after', wasm: 'uppercase' }])).status).toBe(201);
  // Six naps of 800 ms, two at a time: long enough to kill a worker in the middle.
  expect((await putWorkflow(api.url, 'naps', [{ id: 'naps', wasm: 'sleep', for_each: "['800', '800', '800', '800', '800', '800']", concurrency: 2 }])).status).toBe(201);
}, 60_000);

afterEach(() => stopProcessesExcept([api, worker]));

afterAll(async () => {
  await stopAllProcesses();
  await fake?.close();
  await receiver?.close();
  await db?.drop();
});

/** Submits `workflow` asynchronously under a caller's traceparent; resolves with the job view once it completed. */
async function runTraced(workflow: string, traceId: string, callerSpanId: string) {
  const queued = await http(
    api.url,
    'POST',
    '/v1/chat/completions',
    { model: `async/workflow/${workflow}`, messages: [{ role: 'user', content: PROMPT }] },
    { traceparent: `00-${traceId}-${callerSpanId}-01` },
  );
  expect(queued.status).toBe(202);
  return waitFor(async () => {
    const job = (await http(api.url, 'GET', `/v1/jobs/${queued.body.id}`)).body;
    return job.status === 'completed' ? job : null;
  }, 60_000, `job ${queued.body.id} to complete`);
}

const inTrace = (traceId: string) => receiver.spans.filter((span) => span.traceId === traceId);
const named = (traceId: string, name: string) => inTrace(traceId).filter((span) => span.name === name);

test('a traced workflow call: api and worker spans share the caller trace id, with mule.* and gen_ai.* attributes and no prompt text', async () => {
  fake.reset();
  fake.script({ text: 'bonjour', usage: { prompt_tokens: 12, completion_tokens: 3 } });
  const traceId = hex(16);
  const callerSpanId = hex(8);
  const job = await runTraced('traced', traceId, callerSpanId);
  const jobUuid = String(job.id).slice(4);
  expect(job.trace_id).toBe(traceId);

  await waitFor(async () => named(traceId, 'step each item 1').length > 0 && named(traceId, 'invoke_workflow traced').length > 0 && named(traceId, 'POST /v1/chat/completions').length > 0, 15_000, 'spans to arrive');
  const [server] = named(traceId, 'POST /v1/chat/completions');
  expect(server).toMatchObject({ service: 'mule-api', parentSpanId: callerSpanId });
  expect(server!.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.response.status_code': 202 });

  const [invoke] = named(traceId, 'invoke_workflow traced');
  expect(invoke).toMatchObject({ service: 'mule-worker', parentSpanId: server!.spanId });
  expect(invoke!.attributes).toMatchObject({ 'mule.job.id': jobUuid, 'mule.job.claim': 1, 'mule.job.status': 'completed' });

  for (const [name, stepId, item] of [['step answer', 'answer', undefined], ['step shout', 'shout', undefined], ['step each item 0', 'each', 0], ['step each item 1', 'each', 1]] as const) {
    const [step] = named(traceId, name);
    expect([name, step?.parentSpanId]).toEqual([name, invoke!.spanId]);
    expect(step!.attributes).toMatchObject({ 'mule.job.id': jobUuid, 'mule.step.id': stepId, 'mule.step.attempt': 1, 'mule.step.status': 'completed' });
    expect(step!.attributes['mule.step.item']).toBe(item);
  }
  const shout = named(traceId, 'step shout')[0]!;
  // A WASM step's attempt span is its run's span: it names the module, and no wasm_run span repeats it.
  expect(shout.attributes).toMatchObject({ 'mule.step.type': 'wasm', 'mule.wasm.module': 'uppercase', 'mule.wasm.sha256': expect.stringMatching(/^[0-9a-f]{64}$/) });
  expect(named(traceId, 'wasm_run uppercase')).toEqual([]);

  const [llm] = named(traceId, 'chat fake-model');
  expect(llm?.service).toBe('mule-worker');
  expect(llm!.attributes).toMatchObject({
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'openai',
    'gen_ai.request.model': 'fake-model',
    'gen_ai.usage.input_tokens': 12,
    'gen_ai.usage.output_tokens': 3,
  });
  // The LLM span sits under the answer step (through ADK's own agent spans).
  const byId = new Map(inTrace(traceId).map((span) => [span.spanId, span]));
  let ancestor = byId.get(llm!.parentSpanId);
  while (ancestor && ancestor.name !== 'step answer') ancestor = byId.get(ancestor.parentSpanId);
  expect(ancestor?.name).toBe('step answer');

  // pg-boss's own batch spans are off: its insert ended inside the request span and its fetch before the claim
  // span, so they would have arrived by now.
  expect(receiver.spans.filter((span) => span.scope === 'pg-boss').map((span) => `${span.service} ${span.name}`)).toEqual([]);

  const everyValue = JSON.stringify(receiver.spans.map((span) => [span.attributes, span.events]));
  expect(everyValue).not.toContain(PROMPT);
  expect(everyValue).not.toContain('bonjour');

  // Log lines about the job carry the trace id: the worker's job logger and the api's line for the submit request.
  const line = await worker.waitForLog((l) => l['msg'] === 'job finished' && l['job_id'] === job.id);
  expect(line['trace_id']).toBe(traceId);
  const request = await api.waitForLog((l) => l['msg'] === 'request' && l['trace_id'] === traceId);
  expect(request).toMatchObject({ method: 'POST', path: '/v1/chat/completions', status: 202 });
}, 90_000);

test("an agent step's tool call: ADK's execute_tool span with gen_ai attributes, the WASM run under it, and no arguments", async () => {
  fake.reset();
  // The model answers the tool's result; the tool is called with the caller's words, which must not reach a span.
  fake.onRequest = (request: RecordedRequest) => {
    const last = (request.body.messages as any[]).at(-1);
    return last?.role === 'tool' ? { text: 'done' } : undefined;
  };
  fake.script({ toolCalls: [{ name: 'uppercase', arguments: JSON.stringify({ text: PROMPT }) }] });
  const traceId = hex(16);
  await runTraced('tooled', traceId, hex(8));
  await waitFor(async () => named(traceId, 'execute_tool uppercase').length > 0 && named(traceId, 'chat fake-model').length === 2, 15_000, 'the tool span');
  const [tool] = named(traceId, 'execute_tool uppercase');
  expect(tool!.attributes).toMatchObject({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'uppercase' });
  expect(named(traceId, 'wasm_run').some((span) => span.parentSpanId === tool!.spanId)).toBe(true);
  expect(JSON.stringify(inTrace(traceId).map((span) => [span.attributes, span.events]))).not.toContain(PROMPT);
  expect(JSON.stringify(inTrace(traceId).map((span) => span.attributes))).not.toContain(PROMPT.toUpperCase());
}, 60_000);

test("a Gemini agent step's LLM call has the same gen_ai attributes, its provider named gcp.gemini", async () => {
  fake.reset();
  fake.script({ text: 'hallo', usage: { prompt_tokens: 7, completion_tokens: 2 } });
  const traceId = hex(16);
  await runTraced('gem-flow', traceId, hex(8));
  await waitFor(async () => named(traceId, 'chat gemini-fake').length > 0, 15_000, 'the Gemini LLM span');
  expect(named(traceId, 'chat gemini-fake')[0]!.attributes).toMatchObject({
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'gcp.gemini',
    'gen_ai.request.model': 'gemini-fake',
    'gen_ai.usage.input_tokens': 7,
    'gen_ai.usage.output_tokens': 2,
    'gen_ai.response.finish_reasons': ['stop'],
  });
  expect(JSON.stringify(inTrace(traceId).map((span) => span.attributes))).not.toContain(PROMPT);
}, 60_000);

test('a job parked at a wait: the parking claim says why in an event, and the claim after the resume is in the same trace', async () => {
  const traceId = hex(16);
  const queued = await http(
    api.url,
    'POST',
    '/v1/chat/completions',
    { model: 'async/workflow/approval', messages: [{ role: 'user', content: 'x' }] },
    { traceparent: `00-${traceId}-${hex(8)}-01` },
  );
  expect(queued.status).toBe(202);
  await waitFor(async () => named(traceId, 'invoke_workflow approval').length > 0, 15_000, 'the parking claim span');
  const [parking] = named(traceId, 'invoke_workflow approval');
  expect(parking!.attributes['mule.job.status']).toBe('parked');
  expect(parking!.events).toEqual([{ name: 'job parked', attributes: { 'mule.park.reason': 'waiting for approve', 'mule.park.wake_at': expect.any(String) } }]);

  expect((await http(api.url, 'POST', `/v1/jobs/${queued.body.id}/steps/approve/resume`, { output: { approved: true } })).status).toBe(202);
  await waitFor(async () => named(traceId, 'invoke_workflow approval').some((span) => span.attributes['mule.job.status'] === 'completed'), 15_000, 'the resumed claim span');
  expect(named(traceId, 'step after')[0]!.attributes['mule.step.status']).toBe('completed');
}, 60_000);

test('with MULE_LOG_CONTENT=true the LLM span carries the prompt and the answer', async () => {
  const contentWorker = await startWorker(db.url, { ...tracedEnv(), MULE_LOG_CONTENT: 'true', OTEL_SERVICE_NAME: 'mule-worker-content' });
  await worker.stop('SIGTERM');
  try {
    fake.reset();
    fake.script({ text: 'bonjour tout le monde' });
    const traceId = hex(16);
    await runTraced('traced', traceId, hex(8));
    await waitFor(async () => named(traceId, 'chat fake-model').length > 0, 15_000, 'the LLM span');
    const [llm] = named(traceId, 'chat fake-model');
    expect(llm!.service).toBe('mule-worker-content');
    expect(String(llm!.attributes['gen_ai.input.messages'])).toContain(PROMPT);
    expect(String(llm!.attributes['gen_ai.output.messages'])).toContain('bonjour tout le monde');
  } finally {
    await contentWorker.stop('SIGTERM');
    worker = await startWorker(db.url, tracedEnv());
  }
}, 90_000);

test('the default http/protobuf protocol delivers spans as application/x-protobuf', async () => {
  const protobuf = await startOtlpReceiver();
  try {
    const protoApi = await startApi(db.url, { MULE_SECRET_KEY: SECRET_KEY, OTEL_EXPORTER_OTLP_ENDPOINT: protobuf.url, OTEL_BSP_SCHEDULE_DELAY: '100' });
    expect((await http(protoApi.url, 'GET', '/v1/models')).status).toBe(200);
    await waitFor(async () => protobuf.contentTypes.length > 0, 15_000, 'an OTLP POST');
    expect(protobuf.contentTypes[0]).toBe('application/x-protobuf');
  } finally {
    await protobuf.close();
  }
}, 60_000);

test('without OTEL_EXPORTER_OTLP_ENDPOINT nothing is exported, no SDK module is loaded, and the job view has no trace id', async () => {
  // A resolve hook records every @opentelemetry module the process imports and who imports it. ADK imports the SDK
  // modules itself when it loads (this database has an agent, so both processes preload it) but registers no
  // provider; what must hold is that Mule's own code imports nothing but the no-op api package.
  const dir = join(tmpdir(), `mule-tracing-${hex(6)}`);
  const record = `${dir}-loaded.txt`;
  const hooks = `${dir}-hooks.mjs`;
  const register = `${dir}-register.mjs`;
  writeFileSync(record, '');
  writeFileSync(
    hooks,
    `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  if (specifier.startsWith('@opentelemetry/')) appendFileSync(${JSON.stringify(record)}, specifier + ' ' + context.parentURL + '\\n');
  return next(specifier, context);
}\n`,
  );
  writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${hooks}`)});\n`);
  try {
    const env = { MULE_SECRET_KEY: SECRET_KEY, NODE_OPTIONS: `--import=${register}` };
    const [plainApi, plainWorker] = await Promise.all([startApi(db.url, env), startWorker(db.url, env)]);
    await worker.stop('SIGTERM');
    const before = receiver.contentTypes.length;
    const queued = await http(plainApi.url, 'POST', '/v1/chat/completions', { model: 'async/workflow/naps', messages: [{ role: 'user', content: 'x' }] }, { traceparent: `00-${hex(16)}-${hex(8)}-01` });
    const job = await waitFor(async () => {
      const view = (await http(plainApi.url, 'GET', `/v1/jobs/${queued.body.id}`)).body;
      return view.status === 'completed' ? view : null;
    }, 60_000, 'the untraced job');
    expect(job.trace_id).toBeNull();
    expect((await plainApi.waitForLog((l) => l['msg'] === 'tracing off'))['tracing']).toBe(false);
    const finished = await plainWorker.waitForLog((l) => l['msg'] === 'job finished' && l['job_id'] === job.id);
    expect(finished['trace_id']).toBeUndefined();
    const ours = readFileSync(record, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(' ') as [string, string])
      .filter(([, parent]) => !parent.includes('/node_modules/'));
    // The hook works (observability imports the api package), and no SDK or exporter module is imported by Mule.
    expect(ours.map(([name]) => name)).toContain('@opentelemetry/api');
    expect(ours.filter(([name]) => name !== '@opentelemetry/api')).toEqual([]);
    expect(receiver.contentTypes.length).toBe(before);
  } finally {
    for (const file of [record, hooks, register]) rmSync(file, { force: true });
    worker = await startWorker(db.url, tracedEnv());
  }
}, 90_000);

test('kill -9 of the worker mid-step: the worker that takes the job over continues the same trace', async () => {
  await worker.stop('SIGTERM');
  const first = await startWorker(db.url, tracedEnv());
  const traceId = hex(16);
  const queued = await http(
    api.url,
    'POST',
    '/v1/chat/completions',
    { model: 'async/workflow/naps', messages: [{ role: 'user', content: 'x' }] },
    { traceparent: `00-${traceId}-${hex(8)}-01` },
  );
  expect(queued.status).toBe(202);
  await first.waitForLog((l) => l['msg'] === 'step completed' && l['job_id'] === queued.body.id, 20_000);
  await first.stop('SIGKILL');
  worker = await startWorker(db.url, tracedEnv());
  const job = await waitFor(async () => {
    const view = (await http(api.url, 'GET', `/v1/jobs/${queued.body.id}`)).body;
    return view.status === 'completed' ? view : null;
  }, 60_000, 'the job to complete on the second worker');
  expect(job.attempts).toBe(2);
  expect(job.trace_id).toBe(traceId);
  await waitFor(async () => named(traceId, 'invoke_workflow naps').some((span) => span.attributes['mule.job.claim'] === 2), 15_000, 'the second claim span');
  const [server] = named(traceId, 'POST /v1/chat/completions');
  const second = named(traceId, 'invoke_workflow naps').find((span) => span.attributes['mule.job.claim'] === 2)!;
  expect(second.parentSpanId).toBe(server!.spanId);
  expect(second.links).toEqual([{ traceId, spanId: server!.spanId }]);
  expect(second.attributes['mule.job.status']).toBe('completed');
  const resumed = await worker.waitForLog((l) => l['msg'] === 'resuming job' && l['job_id'] === queued.body.id);
  expect(resumed['trace_id']).toBe(traceId);
}, 120_000);
