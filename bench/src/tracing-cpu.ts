/**
 * What tracing costs in CPU per job, measured in pairs: two stacks, one with tracing off and one with it on, are
 * loaded at the same time, so both run in the same state of the machine. Runs one after another on this shared
 * 2-core machine vary by more than the cost itself (the same off run measured 446 to 814 jobs/s within one bench),
 * while a pair's two halves vary together: an off/off pair measured 0.99 for the api and the worker (rounds within
 * 0.92 to 1.03).
 *
 * Each round has two phases on two fresh databases: the apis alone submit async jobs (no worker running), then
 * one worker per stack drains them. Each phase warms up first, and the CPU of the api and of the worker (from
 * /proc) is counted over the measured jobs only. With everything on one machine, throughput follows the whole
 * machine's CPU per job, so the on/off ratios weighted by each process's CPU per job in the 2-worker async run say
 * what tracing costs that run's throughput.
 */
import pg from 'pg';
import { finishedIds } from '@mule/db';
import { startApi, startWorker, stopAllProcesses, type MuleProcess } from '@mule/test/support/processes.js';
import { installBenchWorkflow, submitAsync } from './async-throughput.js';
import { processCpuMs } from './proc-cpu.js';
import type { RunCost } from './run-cost.js';

export interface TracingCpu {
  rounds: number;
  /** Jobs measured per phase and stack, after as many to warm up. */
  jobs: number;
  /** Tracing on / off CPU per job in each round. */
  api_ratios: number[];
  worker_ratios: number[];
  /** Their geometric means. */
  api_ratio: number;
  worker_ratio: number;
  /** The 2-worker async run's throughput with those ratios applied to its api's and workers' CPU, in percent of off. */
  percent_of_off: number;
}

interface PairStack {
  traced: boolean;
  databaseUrl: string;
  api: MuleProcess;
  apiMs: number;
  workerMs: number;
}

const CLIENTS = 16;
const MODEL = 'async/workflow/bench';

async function apiPhase(stack: PairStack, warmUp: number, jobs: number): Promise<void> {
  await submitAsync(stack.api.url, MODEL, warmUp, CLIENTS);
  const before = processCpuMs(stack.api.child.pid!) ?? NaN;
  await submitAsync(stack.api.url, MODEL, jobs, CLIENTS);
  stack.apiMs = ((processCpuMs(stack.api.child.pid!) ?? NaN) - before) / jobs;
  await stack.api.stop('SIGTERM');
}

/** One worker drains the stack's queue; its CPU is counted from the first finish heard at or after `warmUp` to the last. */
async function workerPhase(stack: PairStack, env: Record<string, string>, warmUp: number, total: number): Promise<void> {
  const listener = new pg.Client({ connectionString: stack.databaseUrl });
  await listener.connect();
  try {
    let finished = 0;
    let worker: MuleProcess | undefined;
    let from: { finished: number; cpuMs: number } | undefined;
    let drained: () => void = () => {};
    const done = new Promise<void>((resolve) => (drained = resolve));
    // Called on every finish and once the worker is known: a fast worker may finish jobs before startWorker returns.
    const check = () => {
      if (!worker) return;
      const cpuMs = () => processCpuMs(worker!.child.pid!) ?? NaN;
      if (!from && finished >= warmUp) from = { finished, cpuMs: cpuMs() };
      if (from && finished >= total) {
        stack.workerMs = (cpuMs() - from.cpuMs) / Math.max(1, finished - from.finished);
        drained();
      }
    };
    listener.on('notification', (message) => {
      finished += finishedIds(message.payload ?? '').length;
      check();
    });
    await listener.query('LISTEN mule_job_finished');
    worker = await startWorker(stack.databaseUrl, { WORKER_CONCURRENCY: '16', ...env });
    check();
    await done;
    await worker.stop('SIGTERM');
  } finally {
    await listener.end();
  }
}

const geometricMean = (values: number[]) => Math.exp(values.reduce((sum, x) => sum + Math.log(x), 0) / values.length);
const round3 = (x: number) => Math.round(x * 1000) / 1000;

export async function measureTracingCpu(options: {
  freshDatabase: () => Promise<string>;
  /** Called with each round's databases once it is measured. */
  retireDatabase: (databaseUrl: string) => Promise<void>;
  tracedEnv: Record<string, string>;
  rounds: number;
  jobs: number;
  warmUp: number;
  /** The 2-worker async run's cost: whose CPU the ratios are applied to. */
  asyncCost: RunCost;
}): Promise<TracingCpu> {
  const { rounds, jobs, warmUp } = options;
  const apiRatios: number[] = [];
  const workerRatios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    // Which stack starts first alternates.
    const order = round % 2 === 0 ? [false, true] : [true, false];
    const stacks: PairStack[] = [];
    try {
      for (const traced of order) {
        const databaseUrl = await options.freshDatabase();
        const api = await startApi(databaseUrl, traced ? options.tracedEnv : {});
        await installBenchWorkflow(api.url);
        stacks.push({ traced, databaseUrl, api, apiMs: NaN, workerMs: NaN });
      }
      await Promise.all(stacks.map((stack) => apiPhase(stack, warmUp, jobs)));
      await Promise.all(stacks.map((stack) => workerPhase(stack, stack.traced ? options.tracedEnv : {}, warmUp, warmUp + jobs)));
      const on = stacks.find((stack) => stack.traced)!;
      const off = stacks.find((stack) => !stack.traced)!;
      apiRatios.push(round3(on.apiMs / off.apiMs));
      workerRatios.push(round3(on.workerMs / off.workerMs));
    } finally {
      await stopAllProcesses();
      for (const stack of stacks) await options.retireDatabase(stack.databaseUrl);
    }
  }
  const apiRatio = geometricMean(apiRatios);
  const workerRatio = geometricMean(workerRatios);
  const cost = options.asyncCost;
  const offMs = cost.api.ms_per_job + cost.workers.ms_per_job + cost.postgres.cpu_ms_per_job + cost.bench.ms_per_job;
  const onMs = offMs + cost.api.ms_per_job * (apiRatio - 1) + cost.workers.ms_per_job * (workerRatio - 1);
  return {
    rounds,
    jobs,
    api_ratios: apiRatios,
    worker_ratios: workerRatios,
    api_ratio: round3(apiRatio),
    worker_ratio: round3(workerRatio),
    percent_of_off: Math.round((offMs / onMs) * 100),
  };
}
