/**
 * Trace ids as exemplars: with tracing on, /metrics served as OpenMetrics (what Prometheus asks for) shows the trace
 * of a job on the job and step duration histograms of the worker, and the trace of a request on the api's request
 * duration histogram; the classic text format (curl) shows no exemplar and keeps the counters' `_total` names even
 * after an OpenMetrics render; without tracing there are no exemplars.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { http, putModule, putWorkflow, testModule, waitFor } from './support/fixtures.js';
import { startOtlpReceiver, tracedEnv, type OtlpReceiver } from './support/otlp-receiver.js';
import { startApi, startWorker, stopAllProcesses, type MuleProcess } from './support/processes.js';

// What Prometheus 3 sends by default (scrape_protocols), and what curl sends.
const PROMETHEUS_ACCEPT =
  'application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2';
const CURL_ACCEPT = '*/*';

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

let db: TestDatabase;
let receiver: OtlpReceiver;
let api: MuleProcess;
let worker: MuleProcess;

beforeAll(async () => {
  db = await createTestDatabase();
  receiver = await startOtlpReceiver();
  [api, worker] = await Promise.all([startApi(db.url, tracedEnv(receiver)), startWorker(db.url, tracedEnv(receiver))]);
  expect((await putModule(api.url, 'echo', testModule('echo'))).status).toBe(201);
  expect((await putWorkflow(api.url, 'exemplified', [{ id: 'first', wasm: 'echo' }, { id: 'second', wasm: 'echo', needs: ['first'] }])).status).toBe(201);
}, 60_000);

afterAll(async () => {
  await stopAllProcesses();
  await receiver?.close();
  await db?.drop();
});

async function scrape(url: string, accept: string) {
  const response = await fetch(`${url}/metrics`, { headers: { accept } });
  return { contentType: response.headers.get('content-type') ?? '', vary: response.headers.get('vary'), text: await response.text() };
}

/** The bucket lines of `metric` with `label` whose exemplar names `traceId`. */
const exemplarLines = (text: string, metric: string, label: string, traceId: string) =>
  text.split('\n').filter((line) => line.startsWith(`${metric}_bucket{`) && line.includes(label) && line.includes(` # {trace_id="${traceId}"} `));

test('a traced job: OpenMetrics carries its trace id on the job, step and request duration buckets; the classic text carries none', async () => {
  const traceId = hex(16);
  const queued = await http(
    api.url,
    'POST',
    '/v1/chat/completions',
    { model: 'async/workflow/exemplified', messages: [{ role: 'user', content: 'hello' }] },
    { traceparent: `00-${traceId}-${hex(8)}-01` },
  );
  expect(queued.status).toBe(202);
  const job = await waitFor(async () => {
    const view = (await http(api.url, 'GET', `/v1/jobs/${queued.body.id}`)).body;
    return view.status === 'completed' ? view : null;
  }, 60_000, 'the job to complete');
  expect(job.trace_id).toBe(traceId);
  // The worker observes the job's duration just before it logs the end.
  await worker.waitForLog((line) => line['msg'] === 'job finished' && line['job_id'] === queued.body.id);

  const workerOpen = await scrape(worker.url, PROMETHEUS_ACCEPT);
  expect(workerOpen.contentType).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
  expect(workerOpen.vary).toBe('Accept');
  expect(workerOpen.text.endsWith('# EOF\n')).toBe(true);
  // One job, so exactly one bucket of its workflow holds the job's observation and its exemplar.
  expect(exemplarLines(workerOpen.text, 'mule_job_duration_seconds', 'workflow="exemplified"', traceId)).toHaveLength(1);
  expect(exemplarLines(workerOpen.text, 'mule_step_duration_seconds', 'type="wasm"', traceId).length).toBeGreaterThanOrEqual(1);
  // An exemplar is `# {trace_id="…"} <value> <unix time>`, the value the one observed.
  const [line] = exemplarLines(workerOpen.text, 'mule_job_duration_seconds', 'workflow="exemplified"', traceId);
  expect(line).toMatch(/^mule_job_duration_seconds_bucket\{le="[^"]+",workflow="exemplified"\} 1 # \{trace_id="[0-9a-f]{32}"\} [0-9.e-]+ \d+(\.\d+)?$/);
  // OpenMetrics names a counter family without `_total` and its sample with it.
  expect(workerOpen.text).toContain('# TYPE mule_jobs counter');
  expect(workerOpen.text).toMatch(/^mule_jobs_total\{workflow="exemplified",status="completed"\} 1$/m);

  const apiOpen = await scrape(api.url, PROMETHEUS_ACCEPT);
  expect(apiOpen.contentType).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
  expect(exemplarLines(apiOpen.text, 'mule_http_request_duration_seconds', 'route="/v1/chat/completions"', traceId)).toHaveLength(1);

  // The classic format, asked for after the OpenMetrics renders: no exemplar anywhere, counters still `_total`.
  for (const url of [worker.url, api.url]) {
    const classic = await scrape(url, CURL_ACCEPT);
    expect(classic.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(classic.text).not.toContain(traceId);
    expect(classic.text).not.toMatch(/ # \{/);
    expect(classic.text).not.toContain('# EOF');
    expect(classic.text).toContain('# TYPE mule_http_requests_total counter');
  }
  const classicWorker = await scrape(worker.url, CURL_ACCEPT);
  expect(classicWorker.text).toMatch(/^mule_jobs_total\{workflow="exemplified",status="completed"\} 1$/m);
  expect(classicWorker.text).toMatch(/^mule_job_duration_seconds_count\{workflow="exemplified"\} 1$/m);
  // No Accept header at all is the classic format too.
  expect((await fetch(`${worker.url}/metrics`)).headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
}, 90_000);

test('an unsampled caller (traceparent flags 00) leaves no exemplar: its trace reaches no backend', async () => {
  const traceId = hex(16);
  expect((await http(api.url, 'GET', '/v1/models', undefined, { traceparent: `00-${traceId}-${hex(8)}-00` })).status).toBe(200);
  const open = await scrape(api.url, PROMETHEUS_ACCEPT);
  expect(open.text).toMatch(/^mule_http_request_duration_seconds_count\{route="\/v1\/models"\} [1-9]/m);
  expect(open.text).not.toContain(traceId);
});

test('without tracing, OpenMetrics is served without exemplars', async () => {
  const plainApi = await startApi(db.url);
  try {
    expect((await http(plainApi.url, 'GET', '/v1/models', undefined, { traceparent: `00-${hex(16)}-${hex(8)}-01` })).status).toBe(200);
    const open = await scrape(plainApi.url, PROMETHEUS_ACCEPT);
    expect(open.contentType).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    expect(open.text).toMatch(/^mule_http_request_duration_seconds_count\{route="\/v1\/models"\} 1$/m);
    expect(open.text).not.toMatch(/ # \{/);
  } finally {
    await plainApi.stop();
  }
}, 60_000);
