/**
 * Operations: both /metrics endpoints expose every mule_ metric with the right labels and counts (the
 * exposition format is parsed and values are checked), and job logs carry job and step ids but no provider key
 * and no prompt by default.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { startFakeProvider, type FakeProvider } from './support/fake-provider.js';
import { http, putModule, putWorkflow, testModule, waitFor } from './support/fixtures.js';
import { startApi, startWorker, stopAllProcesses, type MuleProcess } from './support/processes.js';

const PROVIDER_KEY = 'sk-observability-test-0123456789abcdef';
const STORED_KEY = 'sk-stored-key-fedcba9876543210';
const PROMPT = 'PRIVATE PROMPT 4417 do not log';
const SECRET_KEY = 'a'.repeat(64);

let db: TestDatabase;
let fake: FakeProvider;
let api: MuleProcess;
let worker: MuleProcess;

/** `name{label="v",…}` -> value, from the Prometheus text exposition format. */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match) throw new Error(`not an exposition line: ${line}`);
    const labels = (match[2] ?? '')
      .replace(/^\{|\}$/g, '')
      .split(/,(?=[a-zA-Z_]+=")/)
      .filter(Boolean)
      .sort()
      .join(',');
    samples.set(labels ? `${match[1]}{${labels}}` : match[1]!, Number(match[3]));
  }
  return samples;
}

const sample = (metrics: Map<string, number>, name: string, labels: Record<string, string> = {}) => {
  const key = Object.keys(labels).length
    ? `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(',')}}`
    : name;
  return metrics.get(key);
};

beforeAll(async () => {
  db = await createTestDatabase();
  fake = await startFakeProvider();
  const env = { FAKE_KEY: PROVIDER_KEY, MULE_ENV_ALLOW: 'FAKE_KEY', MULE_SECRET_KEY: SECRET_KEY };
  [api, worker] = await Promise.all([startApi(db.url, env), startWorker(db.url, env)]);
  for (const name of ['echo', 'unreachable']) expect((await putModule(api.url, name, testModule(name))).status).toBe(201);
  expect((await http(api.url, 'PUT', '/v1/providers/fake', { type: 'openai', base_url: fake.url, api_key_env: 'FAKE_KEY' })).status).toBe(201);
  expect((await http(api.url, 'PUT', '/v1/providers/stored', { type: 'openai', base_url: fake.url, api_key: STORED_KEY })).status).toBe(201);
  expect((await http(api.url, 'PUT', '/v1/agents/helper', { provider: 'fake', model: 'fake-model' })).status).toBe(201);
  expect((await http(api.url, 'PUT', '/v1/agents/keeper', { provider: 'stored', model: 'stored-model' })).status).toBe(201);
  expect((await putWorkflow(api.url, 'wasm-flow', [{ id: 'echo', wasm: 'echo' }])).status).toBe(201);
  expect((await putWorkflow(api.url, 'broken', [{ id: 'trap', wasm: 'unreachable' }])).status).toBe(201);
  expect((await putWorkflow(api.url, 'agent-flow', [{ id: 'think', agent: 'keeper' }, { id: 'echo', wasm: 'echo' }])).status).toBe(201);

  const chat = (model: string) => http(api.url, 'POST', '/v1/chat/completions', { model, messages: [{ role: 'user', content: PROMPT }] });
  for (let i = 0; i < 3; i++) expect((await chat('workflow/wasm-flow')).status).toBe(200);
  expect((await chat('workflow/broken')).status).toBe(422);
  fake.script({ text: 'thought about it', usage: { prompt_tokens: 11, completion_tokens: 5 } });
  expect((await chat('workflow/agent-flow')).status).toBe(200);
  fake.script({ text: 'direct answer', usage: { prompt_tokens: 7, completion_tokens: 2 } });
  expect((await chat('agent/helper')).status).toBe(200);
  expect((await http(api.url, 'POST', '/v1/wasm/execute', { module: 'echo', input: { a: 1 } })).status).toBe(200);
});

afterAll(async () => {
  await stopAllProcesses();
  await fake?.close();
  await db?.drop();
});

describe('/metrics', () => {
  test('the worker exposes jobs, steps, durations, queue, slots, tokens and WASM outcomes with their counts', async () => {
    const response = await http(worker.url, 'GET', '/metrics');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const metrics = parseMetrics(response.body);
    expect(sample(metrics, 'mule_jobs_total', { workflow: 'wasm-flow', status: 'completed' })).toBe(3);
    expect(sample(metrics, 'mule_jobs_total', { workflow: 'broken', status: 'failed' })).toBe(1);
    expect(sample(metrics, 'mule_jobs_total', { workflow: 'agent-flow', status: 'completed' })).toBe(1);
    expect(sample(metrics, 'mule_job_duration_seconds_count', { workflow: 'wasm-flow' })).toBe(3);
    expect(sample(metrics, 'mule_job_queue_wait_seconds_count')).toBe(5);
    expect(sample(metrics, 'mule_steps_total', { type: 'wasm', status: 'completed' })).toBe(4);
    expect(sample(metrics, 'mule_steps_total', { type: 'wasm', status: 'failed' })).toBe(1);
    expect(sample(metrics, 'mule_step_failures_total', { type: 'wasm', code: 'wasm_trap' })).toBe(1);
    expect(sample(metrics, 'mule_steps_total', { type: 'agent', status: 'completed' })).toBe(1);
    expect(sample(metrics, 'mule_step_duration_seconds_count', { type: 'wasm' })).toBe(5);
    expect(sample(metrics, 'mule_step_duration_seconds_bucket', { type: 'wasm', le: '+Inf' })).toBe(5);
    expect(sample(metrics, 'mule_queue_depth')).toBe(0);
    expect(sample(metrics, 'mule_worker_busy_slots')).toBe(0);
    expect(sample(metrics, 'mule_llm_tokens_total', { provider: 'stored', model: 'stored-model', kind: 'prompt' })).toBe(11);
    expect(sample(metrics, 'mule_llm_tokens_total', { provider: 'stored', model: 'stored-model', kind: 'completion' })).toBe(5);
    expect(sample(metrics, 'mule_wasm_executions_total', { outcome: 'ok' })).toBe(4);
    expect(sample(metrics, 'mule_wasm_executions_total', { outcome: 'wasm_trap' })).toBe(1);
    expect(sample(metrics, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    // Label values are names and outcomes, never job ids or prompts.
    expect(response.body).not.toMatch(/job-[0-9a-f]{8}/);
    expect(response.body).not.toContain(PROMPT);
  });

  test('the api exposes requests, tokens of the agents it ran, direct WASM runs and the queue depth', async () => {
    const metrics = parseMetrics((await http(api.url, 'GET', '/metrics')).body);
    expect(sample(metrics, 'mule_http_requests_total', { method: 'POST', route: '/v1/chat/completions', status: '200' })).toBe(5);
    expect(sample(metrics, 'mule_http_requests_total', { method: 'POST', route: '/v1/chat/completions', status: '422' })).toBe(1);
    expect(sample(metrics, 'mule_http_requests_total', { method: 'PUT', route: '/v1/workflows/:name', status: '201' })).toBe(3);
    expect(sample(metrics, 'mule_http_request_duration_seconds_count', { route: '/v1/wasm/execute' })).toBe(1);
    expect(sample(metrics, 'mule_llm_tokens_total', { provider: 'fake', model: 'fake-model', kind: 'prompt' })).toBe(7);
    expect(sample(metrics, 'mule_wasm_executions_total', { outcome: 'ok' })).toBe(1);
    expect(sample(metrics, 'mule_queue_depth')).toBe(0);
    // Only workers have slots.
    expect(sample(metrics, 'mule_worker_busy_slots')).toBeUndefined();
  });
});

describe('logs', () => {
  test('a job run logs its job id, workflow, step id and attempt', async () => {
    const finished = await worker.waitForLog((line) => line['msg'] === 'job finished' && line['workflow'] === 'agent-flow');
    expect(finished['job_id']).toMatch(/^job-/);
    const step = await worker.waitForLog((line) => line['msg'] === 'step completed' && line['job_id'] === finished['job_id'] && line['step_id'] === 'think');
    expect(step).toMatchObject({ workflow: 'agent-flow', step_attempt: 1, level: 30, service: 'mule-worker' });
    const failed = await worker.waitForLog((line) => line['msg'] === 'step failed' && line['workflow'] === 'broken');
    expect(failed).toMatchObject({ step_id: 'trap', code: 'wasm_trap' });
  });

  test('no log line holds a provider key or a prompt by default', async () => {
    // Logs are buffered for up to 250 ms: wait for a line written after everything above.
    await http(api.url, 'GET', '/healthz');
    await waitFor(async () => api.logs.some((l) => l.includes('"/healthz"')), 5000);
    const all = [...api.logs, ...worker.logs].join('\n');
    expect(all.length).toBeGreaterThan(0);
    for (const secret of [PROVIDER_KEY, STORED_KEY, SECRET_KEY, PROMPT, 'thought about it', 'direct answer']) {
      expect(all).not.toContain(secret);
    }
  });
});
