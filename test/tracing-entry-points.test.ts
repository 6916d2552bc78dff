/**
 * Traces of work that does not start with a chat completion: `POST /v1/wasm/execute` runs its module in a `wasm_run`
 * span under the request's span; a webhook's job continues the delivery's W3C traceparent; a schedule's job is the
 * child of a `schedule <trigger>` root span the worker starts when it fires the due time. OTEL_RESOURCE_ATTRIBUTES
 * (the Kubernetes manifests put the pod's name there) reaches the spans' resource.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { http, putModule, putWorkflow, testModule, waitFor } from './support/fixtures.js';
import { startOtlpReceiver, tracedEnv, type OtlpReceiver } from './support/otlp-receiver.js';
import { startApi, startWorker, stopAllProcesses, type MuleProcess } from './support/processes.js';

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
/** OTLP's SpanKind numbers. */
const SERVER = 2;
const PRODUCER = 4;
const POD_RESOURCE = 'k8s.pod.name=mule-worker-7d9f-x2k4q,k8s.namespace.name=mule';

let db: TestDatabase;
let receiver: OtlpReceiver;
let api: MuleProcess;
let worker: MuleProcess;
let pool: pg.Pool;
let echoSha256: string;

beforeAll(async () => {
  db = await createTestDatabase();
  receiver = await startOtlpReceiver();
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  // Schedules are looked at every 100 ms instead of every 5 s; the worker names its pod as the Kubernetes manifests do.
  [api, worker] = await Promise.all([startApi(db.url, tracedEnv(receiver)), startWorker(db.url, { ...tracedEnv(receiver), MULE_TRIGGER_TICK_MS: '100', OTEL_RESOURCE_ATTRIBUTES: POD_RESOURCE })]);
  const put = await putModule(api.url, 'echo', testModule('echo'));
  expect(put.status).toBe(201);
  echoSha256 = put.body.sha256 as string;
  expect((await putModule(api.url, 'unreachable', testModule('unreachable'))).status).toBe(201);
  expect((await putWorkflow(api.url, 'hooked', [{ id: 'echo', wasm: 'echo' }])).status).toBe(201);
  expect((await http(api.url, 'PUT', '/v1/triggers/incoming', { workflow: 'hooked', webhook: { signature: 'none' } })).status).toBe(201);
}, 60_000);

afterAll(async () => {
  await pool?.end();
  await stopAllProcesses();
  await receiver?.close();
  await db?.drop();
});

const inTrace = (traceId: string) => receiver.spans.filter((span) => span.traceId === traceId);
const named = (traceId: string, name: string) => inTrace(traceId).filter((span) => span.name === name);

test('POST /v1/wasm/execute: the module run is a wasm_run span under the request span, with the module and its sha256', async () => {
  const traceId = hex(16);
  const callerSpanId = hex(8);
  const answer = await http(api.url, 'POST', '/v1/wasm/execute', { module: 'echo', input: { a: 1 } }, { traceparent: `00-${traceId}-${callerSpanId}-01` });
  expect(answer.status).toBe(200);
  await waitFor(async () => named(traceId, 'wasm_run echo').length > 0 && named(traceId, 'POST /v1/wasm/execute').length > 0, 15_000, 'the spans');
  const [server] = named(traceId, 'POST /v1/wasm/execute');
  expect(server).toMatchObject({ service: 'mule-api', kind: SERVER, parentSpanId: callerSpanId });
  const [run] = named(traceId, 'wasm_run echo');
  expect(run).toMatchObject({ service: 'mule-api', parentSpanId: server!.spanId });
  expect(run!.attributes).toEqual({ 'mule.wasm.module': 'echo', 'mule.wasm.sha256': echoSha256 });

  // By hash: no module name; a trap: the span says how it failed.
  const byHash = hex(16);
  expect((await http(api.url, 'POST', '/v1/wasm/execute', { module: echoSha256 }, { traceparent: `00-${byHash}-${hex(8)}-01` })).status).toBe(200);
  const trapped = hex(16);
  const trap = await http(api.url, 'POST', '/v1/wasm/execute', { module: 'unreachable' }, { traceparent: `00-${trapped}-${hex(8)}-01` });
  expect(trap.status).toBeGreaterThanOrEqual(400);
  await waitFor(async () => named(byHash, 'wasm_run').length > 0 && named(trapped, 'wasm_run unreachable').length > 0, 15_000, 'the other runs');
  expect(named(byHash, 'wasm_run')[0]!.attributes).toEqual({ 'mule.wasm.sha256': echoSha256 });
  expect(named(trapped, 'wasm_run unreachable')[0]!.attributes['error.type']).toBe(trap.body.error.code);
}, 60_000);

test("a webhook's job continues the delivery's traceparent: the claim span is the child of the hook request span", async () => {
  const traceId = hex(16);
  const callerSpanId = hex(8);
  const answer = await http(api.url, 'POST', '/v1/hooks/incoming', JSON.stringify({ event: 'push' }), {
    'content-type': 'application/json',
    traceparent: `00-${traceId}-${callerSpanId}-01`,
  });
  expect(answer.status).toBe(202);
  const job = await waitFor(async () => {
    const view = (await http(api.url, 'GET', `/v1/jobs/${answer.body.id}`)).body;
    return view.status === 'completed' ? view : null;
  }, 30_000, 'the webhook job');
  expect(job).toMatchObject({ trigger: 'incoming', trace_id: traceId });
  await waitFor(async () => named(traceId, 'invoke_workflow hooked').length > 0 && named(traceId, 'POST /v1/hooks/:name').length > 0, 15_000, 'the spans');
  const [server] = named(traceId, 'POST /v1/hooks/:name');
  expect(server).toMatchObject({ service: 'mule-api', parentSpanId: callerSpanId });
  const [claim] = named(traceId, 'invoke_workflow hooked');
  expect(claim).toMatchObject({ service: 'mule-worker', parentSpanId: server!.spanId });
  expect(claim!.attributes['mule.job.status']).toBe('completed');
}, 60_000);

test("a schedule's job starts its own trace: a `schedule <trigger>` root span, the job's claim and steps under it", async () => {
  // Due every minute; written "an hour ago", so the latest due time (this minute's start) is new and fires at once.
  expect((await http(api.url, 'PUT', '/v1/triggers/minutely', { workflow: 'hooked', schedule: '* * * * *', overlap: 'skip' })).status).toBe(201);
  await pool.query(`UPDATE triggers SET last_fired_at = now() - interval '1 hour' WHERE name = 'minutely'`);
  const id = await waitFor(async () => (await pool.query(`SELECT id FROM jobs WHERE trigger = 'minutely' ORDER BY created_at LIMIT 1`)).rows[0]?.id as string | undefined, 30_000, 'the scheduled job');
  const job = await waitFor(async () => {
    const view = (await http(api.url, 'GET', `/v1/jobs/job-${id}`)).body;
    return view.status === 'completed' ? view : null;
  }, 30_000, 'the scheduled job to complete');
  const traceId = job.trace_id as string;
  expect(traceId).toMatch(/^[0-9a-f]{32}$/);
  await waitFor(async () => named(traceId, 'schedule minutely').length > 0 && named(traceId, 'step echo').length > 0, 15_000, 'the spans');
  const [fire] = named(traceId, 'schedule minutely');
  expect(fire).toMatchObject({ service: 'mule-worker', kind: PRODUCER, parentSpanId: '' });
  // OTEL_RESOURCE_ATTRIBUTES reaches the resource; the service name stays the process's own.
  expect(fire!.resource).toMatchObject({ 'service.name': 'mule-worker', 'k8s.pod.name': 'mule-worker-7d9f-x2k4q', 'k8s.namespace.name': 'mule' });
  const due = (await pool.query(`SELECT last_fired_at FROM triggers WHERE name = 'minutely'`)).rows[0].last_fired_at as Date;
  expect(fire!.attributes).toEqual({
    'mule.trigger.name': 'minutely',
    'mule.trigger.due': due.toISOString(),
    'mule.workflow': 'hooked',
    'mule.trigger.outcome': 'started',
    'mule.job.id': id,
  });
  const [claim] = named(traceId, 'invoke_workflow hooked');
  expect(claim).toMatchObject({ service: 'mule-worker', parentSpanId: fire!.spanId });
  expect(named(traceId, 'step echo')[0]!.parentSpanId).toBe(claim!.spanId);
  // The trace is the job's alone: nothing of the api is in it.
  expect(inTrace(traceId).filter((span) => span.service !== 'mule-worker')).toEqual([]);
  expect((await http(api.url, 'DELETE', '/v1/triggers/minutely')).status).toBe(200);
}, 90_000);
