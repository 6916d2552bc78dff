/**
 * Mule's Prometheus metrics (deploy/README.md "Monitoring"), defined once for both processes. Labels stay small: workflow name, step
 * type, status, outcome, provider and model; never job ids or prompts. The duration histograms of jobs, steps and HTTP
 * requests carry trace ids as exemplars when tracing is on (traced-histogram.ts), not as labels.
 */
import type { TokenUsage } from '@mule/core';
import { Counter, Gauge, Histogram, collectDefaultMetrics, register } from 'prom-client';
import { TracedHistogram } from './traced-histogram.js';

collectDefaultMetrics();

/** Milliseconds to minutes: a WASM step takes ~1 ms, an agent run seconds, a long workflow minutes. */
const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

export const metrics = {
  jobs: new Counter({ name: 'mule_jobs_total', help: 'Jobs finished, by workflow and final status', labelNames: ['workflow', 'status'] }),
  jobDuration: new TracedHistogram({
    name: 'mule_job_duration_seconds',
    help: 'Time from a job being claimed to its end',
    labelNames: ['workflow'],
    buckets: SECONDS_BUCKETS,
  }),
  queueWait: new Histogram({
    name: 'mule_job_queue_wait_seconds',
    help: 'Time from a job being submitted to its first claim',
    buckets: SECONDS_BUCKETS,
  }),
  steps: new Counter({
    name: 'mule_steps_total',
    help: 'Step attempts finished, by type (agent, wasm, wait) and status (completed, failed, skipped, cancelled)',
    labelNames: ['type', 'status'],
  }),
  stepDuration: new TracedHistogram({
    name: 'mule_step_duration_seconds',
    help: 'Duration of a step attempt',
    labelNames: ['type'],
    buckets: SECONDS_BUCKETS,
  }),
  // Worker-only gauges start unregistered (an api would export them as a constant 0); see enableWorkerMetrics.
  busySlots: new Gauge({ name: 'mule_worker_busy_slots', help: 'Jobs this worker is running now', registers: [] }),
  slots: new Gauge({ name: 'mule_worker_slots', help: 'Jobs this worker can run at once (WORKER_CONCURRENCY)', registers: [] }),
  stepFailures: new Counter({
    name: 'mule_step_failures_total',
    help: 'Failed step attempts by type and error code (a bounded set: the MuleError codes)',
    labelNames: ['type', 'code'],
  }),
  tokens: new Counter({
    name: 'mule_llm_tokens_total',
    help: 'LLM tokens used by agent steps',
    labelNames: ['provider', 'model', 'kind'],
  }),
  wasmExecutions: new Counter({ name: 'mule_wasm_executions_total', help: 'WASM runs by outcome', labelNames: ['outcome'] }),
  // Counted where the fire happens: webhooks in the api, schedules in the worker that fired the due time.
  triggerFires: new Counter({
    name: 'mule_trigger_fires_total',
    help: 'Trigger fires by trigger and outcome (started, duplicate, filtered, bad_signature, skipped_overlap)',
    labelNames: ['trigger', 'outcome'],
  }),
  queueDepth: new Gauge({
    name: 'mule_queue_depth',
    help: 'Jobs queued and not yet claimed',
    async collect() {
      const counts = await readJobCounts();
      if (counts) this.set(counts.queued);
    },
  }),
  jobsWaiting: new Gauge({
    name: 'mule_jobs_waiting',
    help: 'Jobs parked (at a wait step, or a retry more than 5 s away), holding no worker slot',
    async collect() {
      const counts = await readJobCounts();
      if (counts) this.set(counts.waiting);
    },
  }),
  httpRequests: new Counter({
    name: 'mule_http_requests_total',
    help: 'HTTP requests answered by the api, by route and status',
    labelNames: ['method', 'route', 'status'],
  }),
  httpDuration: new TracedHistogram({
    name: 'mule_http_request_duration_seconds',
    help: 'Time to answer an HTTP request',
    labelNames: ['route'],
    buckets: SECONDS_BUCKETS,
  }),
  // Api-only metrics start unregistered (a worker would export them as a constant 0); see enableApiMetrics.
  overloaded: new Counter({
    name: 'mule_api_overloaded_total',
    help: 'Requests refused with 429 overloaded because a bounded api queue was full, by queue',
    labelNames: ['queue'],
    registers: [],
  }),
  inFlight: new Gauge({
    name: 'mule_api_in_flight',
    help: 'What each bounded api queue holds now (sync waiters, streams, wasm runs, agent calls)',
    labelNames: ['queue'],
    registers: [],
    collect() {
      for (const [queue, count] of Object.entries(inFlightReader?.() ?? {})) this.set({ queue }, count);
    },
  }),
};

let inFlightReader: (() => Record<string, number>) | null = null;

/** What `mule_queue_depth` and `mule_jobs_waiting` show: jobs queued and jobs waiting, read together. */
export interface JobCountsReading {
  queued: number;
  waiting: number;
}

let jobCountsReader: (() => Promise<JobCountsReading>) | null = null;
let jobCounts: Promise<JobCountsReading | null> | null = null;
let jobCountsReadAt = 0;

/**
 * One read for both gauges of a scrape. A scrape every few seconds must not count a big table each time: the
 * counts are read at most once a second, and a failed read shows as NaN.
 */
function readJobCounts(): Promise<JobCountsReading | null> {
  if (!jobCountsReader) return Promise.resolve(null);
  if (jobCounts === null || Date.now() - jobCountsReadAt >= 1000) {
    jobCountsReadAt = Date.now();
    jobCounts = jobCountsReader().catch(() => ({ queued: NaN, waiting: NaN }));
  }
  return jobCounts;
}

/** Where `mule_queue_depth` and `mule_jobs_waiting` come from (the database); each process sets it once at start. */
export function setJobCountsReader(reader: () => Promise<JobCountsReading>): void {
  jobCountsReader = reader;
  jobCounts = null;
}

/** Registers the gauges only a worker has (busy and total slots). */
export function enableWorkerMetrics(): void {
  for (const [name, metric] of [
    ['mule_worker_busy_slots', metrics.busySlots],
    ['mule_worker_slots', metrics.slots],
  ] as const) {
    if (!register.getSingleMetric(name)) register.registerMetric(metric);
  }
}

/** Registers the metrics only an api has; `readInFlight` gives what each bounded queue holds at scrape time. */
export function enableApiMetrics(readInFlight: () => Record<string, number>): void {
  inFlightReader = readInFlight;
  for (const [name, metric] of [
    ['mule_api_overloaded_total', metrics.overloaded],
    ['mule_api_in_flight', metrics.inFlight],
  ] as const) {
    if (!register.getSingleMetric(name)) register.registerMetric(metric);
  }
}

/** Counts an LLM run's tokens. */
export function recordTokens(provider: string, model: string, usage: TokenUsage | null | undefined): void {
  if (!usage) return;
  metrics.tokens.inc({ provider, model, kind: 'prompt' }, usage.prompt_tokens);
  metrics.tokens.inc({ provider, model, kind: 'completion' }, usage.completion_tokens);
}

export { register };
