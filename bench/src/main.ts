/**
 * `npm run bench`: Mule against its own physical floor, in one run on one machine (the machine's speed cancels out of the ratios). Prints a table and
 * writes it as JSON to bench/results/. Each section starts its own api and workers on a fresh database.
 * Sizes can be scaled down for a quick look: BENCH_SCALE=0.1 npm run bench.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { installQueue, migrate } from '@mule/db';
import { withDatabase } from '@mule/db/embedded';
import { REPO_ROOT, startApi, startWorker, stopAllProcesses, type MuleProcess } from '@mule/test/support/processes.js';
import { startFakeProvider } from '@mule/test/support/fake-provider.js';
import { measureAgentOverhead, type AgentOverhead } from './agent-overhead.js';
import { alternate, ROUNDS, WARM_UP_JOBS } from './alternating.js';
import { installBenchWorkflow, measureAsyncThroughput, type Throughput } from './async-throughput.js';
import { startBenchPostgres } from './bench-postgres.js';
import { costTables, growthRows, throughputFloorRows } from './cost-report.js';
import { makeGrowthTemplates, type Growth } from './growth.js';
import { seedGrowth } from './growth-seed.js';
import { PgCostProbe } from './pg-cost.js';
import { withRunCost, type RunCost } from './run-cost.js';
import { prepareThroughputFloor, startThroughputFloor, type FloorThroughput } from './throughput-floor.js';
import { measureCancelLatency, type CancelLatency } from './cancel-latency.js';
import { measureFloor } from './floor.js';
import { measureGraphs, PROVIDER_DELAY_MS, type GraphLatency } from './graph-latency.js';
import { closeClient } from './http-client.js';
import { measureSyncWorkflow, measureWasmExecute } from './sync-latency.js';
import { measureTracingCost, startOtlpSink, tracingEnv, type TracingCost } from './tracing-cost.js';
import { measureTracingCpu, type TracingCpu } from './tracing-cpu.js';
import { dashboardCost, dashboardRow, measureWithDashboard, type DashboardCost } from './dashboard-cost.js';
import { measureWorkflowTtft, TTFT_REPLY, type WorkflowTtft } from './workflow-ttft.js';
import type { Latency } from './stats.js';
import { measureColdCompile, measureWarmRun, type ColdRun } from './wasm.js';

const scale = Number(process.env['BENCH_SCALE'] ?? '1');
const benchStarted = performance.now();
const sized = (n: number) => Math.max(10, Math.round(n * scale));

// Always the bench's own server (bench-postgres.ts): pg_stat_statements preloaded, its processes alone on the CPU figures.
const server = await startBenchPostgres();
const probe = await PgCostProbe.open(server.adminUrl, server.postmasterPid);
// An interrupted run stops what it started: the server and its data folder (gigabytes after the growth section) would outlive it.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void stopAllProcesses().finally(() => server.stop().finally(() => process.exit(130))));
}
const databases: string[] = [];

async function freshDatabase(): Promise<string> {
  const name = `mule_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: server.adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  databases.push(name);
  const url = withDatabase(server.adminUrl, name);
  await migrate(url);
  await installQueue(url);
  return url;
}

/**
 * Drops a finished run's database and checkpoints, so that what the server does after a run (autovacuum of its
 * tables, writing out its WAL) is not counted in the next one. Without it, PostgreSQL's CPU per job in runs of the
 * same kind, one after another, measured from 1.1 to 3.6 ms.
 */
async function retireDatabase(url: string): Promise<void> {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  const admin = new pg.Client({ connectionString: server.adminUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query('CHECKPOINT');
  } finally {
    await admin.end();
  }
}

/**
 * Worker slots for the async figure: the jobs are one ~0.1 ms WASM step, so a worker spends its time waiting on
 * PostgreSQL; 16 slots per worker keep batches of fetches and completions full (4 slots: ~360-410 jobs/s here,
 * 8: ~480-530, 16: ~520-590, measured with 2 workers). Real deployments size WORKER_CONCURRENCY to their steps.
 */
const BENCH_WORKER_CONCURRENCY = '16';

/** Pairs of stacks for the tracing CPU figure; which one starts first alternates. */
const TRACING_CPU_ROUNDS = 4;

interface StackProcesses {
  api: MuleProcess;
  /** The stack's workers; a section may start more (startWorker) and push them here. */
  workers: MuleProcess[];
  databaseUrl: string;
}

/** The pids a run's CPU is counted on. */
const pidsOf = (stack: StackProcesses) => ({ api: [stack.api.child.pid!], workers: stack.workers.map((w) => w.child.pid!), databaseUrl: stack.databaseUrl });

async function withStack<T>(
  workers: number,
  fn: (apiUrl: string, databaseUrl: string, stack: StackProcesses) => Promise<T>,
  workerEnv: Record<string, string> = {},
  apiEnv: Record<string, string> = {},
): Promise<T> {
  const databaseUrl = await freshDatabase();
  // Default log level on purpose: request logs are part of what a deployment pays for.
  const api = await startApi(databaseUrl, apiEnv);
  const started = await Promise.all(Array.from({ length: workers }, () => startWorker(databaseUrl, { WORKER_CONCURRENCY: BENCH_WORKER_CONCURRENCY, ...workerEnv })));
  try {
    await installBenchWorkflow(api.url);
    return await fn(api.url, databaseUrl, { api, workers: started, databaseUrl });
  } finally {
    await stopAllProcesses();
    await retireDatabase(databaseUrl);
  }
}

const results: {
  floor?: Latency;
  sync_workflow?: Latency;
  wasm_execute_http?: Latency;
  wasm_warm_run?: Latency;
  wasm_cold_compile?: ColdRun;
  agent_overhead?: AgentOverhead;
  workflow_ttft?: WorkflowTtft;
  cancel?: CancelLatency;
  async?: Throughput[];
  /** What the sync 1-step run cost per job (PostgreSQL statements, CPU, WAL; api and worker CPU). */
  sync_cost?: RunCost;
  /** What each async run of results.async cost, in the same order (1, 2 and 4 workers). */
  async_cost?: RunCost[];
  floor_throughput?: FloorThroughput;
  floor_throughput_cost?: RunCost;
  growth?: Growth;
  tracing?: TracingCost;
  tracing_cpu?: TracingCpu;
  dashboard?: DashboardCost;
  graphs?: GraphLatency;
} = {};
try {
  const n = sized(2000);
  console.log(`floor: plain pg insert -> claim (SKIP LOCKED) -> NOTIFY, ${n} round trips…`);
  results.floor = await measureFloor(await freshDatabase(), n);

  const floorJobs = sized(10_000);
  console.log(`throughput floor: a one-step job's lifecycle in plain SQL, ${floorJobs} jobs by 32 clients, 2 claimers of ${BENCH_WORKER_CONCURRENCY} slots…`);
  {
    const databaseUrl = await freshDatabase();
    await prepareThroughputFloor(databaseUrl);
    const floorRun = await startThroughputFloor(databaseUrl, 32, 2, Number(BENCH_WORKER_CONCURRENCY));
    try {
      // A warm-up run first, as for the async figure; only the second is reported.
      await floorRun.run(Math.min(1000, floorJobs));
      const measured = await withRunCost(probe, { api: [], workers: floorRun.pids, databaseUrl }, floorJobs, () => floorRun.run(floorJobs));
      results.floor_throughput = measured.result;
      results.floor_throughput_cost = measured.cost;
    } finally {
      await floorRun.close();
      await retireDatabase(databaseUrl);
    }
  }

  // measureSyncWorkflow makes min(200, n) warm-up calls before its n timed ones; the cost counts every job.
  const syncJobs = n + Math.min(200, n);
  console.log(`sync workflow over HTTP (one WASM step), ${n} calls…`);
  await withStack(1, async (apiUrl, _databaseUrl, stack) => {
    const sync = await withRunCost(probe, pidsOf(stack), syncJobs, () => measureSyncWorkflow(apiUrl, 'workflow/bench', n));
    results.sync_workflow = sync.result;
    results.sync_cost = sync.cost;
    console.log(`POST /v1/wasm/execute over HTTP, ${n} calls…`);
    results.wasm_execute_http = await measureWasmExecute(apiUrl, 'echo', n);
  });

  const cancels = sized(100);
  console.log(`cancel of a running WASM step, ${cancels} jobs…`);
  results.cancel = await withStack(0, (apiUrl, databaseUrl) => measureCancelLatency(apiUrl, databaseUrl, cancels));

  const fake = await startFakeProvider();
  try {
    const calls = sized(2000);
    console.log(`agent/<name> over the fake provider vs the raw openai client, ${calls} calls each…`);
    results.agent_overhead = await withStack(0, (apiUrl) => measureAgentOverhead(apiUrl, fake.url, calls));
  } finally {
    await fake.close();
  }

  const streaming = await startFakeProvider();
  streaming.onRequest = () => TTFT_REPLY;
  try {
    const calls = sized(200);
    console.log(`time to first token: workflow/<one agent step> vs agent/<name>, fake provider streaming, ${calls} calls each…`);
    results.workflow_ttft = await withStack(1, (apiUrl) => measureWorkflowTtft(apiUrl, streaming.url, calls));
  } finally {
    await streaming.close();
  }

  const slow = await startFakeProvider();
  slow.onRequest = () => ({ text: 'ok', delayMs: PROVIDER_DELAY_MS });
  try {
    const sizes = { linear: sized(500), fanOut: sized(50), forEach: sized(10) };
    console.log(`workflow graphs: 10 vs 1 linear WASM steps (${sizes.linear} each), fan-out of 8 agents (${sizes.fanOut}), for_each of 100 (${sizes.forEach})…`);
    // A job's MAX_PARALLEL is 8 by default; the for_each figure asks for 10 at once, so this worker allows 10.
    results.graphs = await withStack(1, (apiUrl) => measureGraphs(apiUrl, slow.url, sizes), { MULE_JOB_MAX_PARALLEL: '10' });
  } finally {
    await slow.close();
  }

  console.log(`WASM warm run through the pool, ${sized(10_000)} runs; cold compile of a ~1 MB module…`);
  results.wasm_warm_run = await measureWarmRun(sized(10_000));
  results.wasm_cold_compile = await measureColdCompile();

  results.async = [];
  results.async_cost = [];
  const jobs = sized(10_000);
  // `kept`: the run's cost goes into results.async_cost (the plain runs of the scale curve, in its order).
  // `warmUp`: jobs run first and not reported, while every process compiles its hot paths.
  const asyncRun = (workers: number, env: Record<string, string> = {}, kept = false, count = jobs, warmUp = Math.min(1000, jobs)) =>
    withStack(
      workers,
      async (apiUrl, databaseUrl, stack) => {
        await measureAsyncThroughput(apiUrl, databaseUrl, 'async/workflow/bench', warmUp, 32, workers);
        const measured = await withRunCost(probe, pidsOf(stack), count, () =>
          measureAsyncThroughput(apiUrl, databaseUrl, 'async/workflow/bench', count, 32, workers),
        );
        if (kept) results.async_cost!.push(measured.cost);
        return measured.result;
      },
      env,
      env,
    );
  // 1, 2 and 4 workers: the scale curve (with each run's CPU, it shows what saturates first on this machine).
  for (const workers of [1, 2, 4]) {
    console.log(`async throughput: ${jobs} jobs by 32 clients, ${workers} worker(s)…`);
    results.async.push(await asyncRun(workers, {}, true));
  }
  // The 2-worker run with tracing off and on (the api and workers exporting every span to a receiver in this
  // process), in rounds of off, on, on, off of shorter runs, each on a fresh stack (alternating.ts says why).
  const roundJobs = sized(4_000);
  const warmUp = sized(WARM_UP_JOBS);
  console.log(`async throughput with tracing off / on / on / off, ${ROUNDS} rounds (OTLP/HTTP protobuf to a local receiver): ${roundJobs} jobs a run after ${warmUp} to warm up, 2 workers…`);
  results.tracing = await measureTracingCost((env) => asyncRun(2, env, false, roundJobs, warmUp));
  // The same question answered in CPU per job, with the off and on stacks loaded at the same time (tracing-cpu.ts).
  console.log(`tracing CPU per job, an off and an on stack loaded together, ${TRACING_CPU_ROUNDS} rounds: ${roundJobs} jobs a phase after ${warmUp} to warm up…`);
  const cpuSink = await startOtlpSink();
  try {
    results.tracing_cpu = await measureTracingCpu({
      freshDatabase,
      retireDatabase,
      tracedEnv: tracingEnv(cpuSink),
      rounds: TRACING_CPU_ROUNDS,
      jobs: roundJobs,
      warmUp,
      asyncCost: results.async_cost![results.async.findIndex((run) => run.workers === 2)]!,
    });
    if (cpuSink.requests === 0) throw new Error('tracing on, but no span reached the OTLP receiver');
  } finally {
    await cpuSink.close();
  }
  // The same with one dashboard open: a client reading every event of GET /v1/events.
  console.log(`async throughput with no dashboard / one open / one open / none, ${ROUNDS} rounds (GET /v1/events read by one client): ${roundJobs} jobs a run after ${warmUp} to warm up, 2 workers…`);
  const dashboards = await alternate(
    () => asyncRun(2, {}, false, roundJobs, warmUp),
    () => withStack(2, (apiUrl, databaseUrl) => measureWithDashboard(apiUrl, databaseUrl, roundJobs, 2, warmUp)),
  );
  results.dashboard = dashboardCost(dashboards);

  if (process.env['BENCH_SKIP_GROWTH'] === '1') {
    console.log('cost as data grows: skipped (BENCH_SKIP_GROWTH=1)');
  } else {
    const sizes = { finished: sized(1_000_000), recentEntries: sized(300_000), parked: sized(50_000) };
    console.log(
      `cost as data grows: ${sizes.finished} finished jobs (the newest ${sizes.recentEntries} with their queue entries, if any), ${sizes.parked} parked on a wait; ` +
        `then sync (${n} calls, 1 worker) and async (${jobs} jobs, 2 workers)…`,
    );
    results.growth = await withStack(1, async (apiUrl, databaseUrl, stack) => {
      const templates = await makeGrowthTemplates(apiUrl, databaseUrl);
      const seed = await seedGrowth(databaseUrl, templates, sizes);
      console.log(`  history written in ${seed.seconds} s: ${seed.database_mb} MB of jobs, steps and ${seed.queue_entries} queue entries`);
      const sync = await withRunCost(probe, pidsOf(stack), syncJobs, () => measureSyncWorkflow(apiUrl, 'workflow/bench', n));
      // The second worker of the async figure joins now (the sync figure is taken with one, as on the empty database).
      stack.workers.push(await startWorker(databaseUrl, { WORKER_CONCURRENCY: BENCH_WORKER_CONCURRENCY }));
      await measureAsyncThroughput(apiUrl, databaseUrl, 'async/workflow/bench', Math.min(1000, jobs), 32, 2);
      const measured = await withRunCost(probe, pidsOf(stack), jobs, () => measureAsyncThroughput(apiUrl, databaseUrl, 'async/workflow/bench', jobs, 32, 2));
      return { seed, sync: sync.result, sync_cost: sync.cost, async: measured.result, async_cost: measured.cost };
    });
  }
} finally {
  closeClient();
  await stopAllProcesses();
  await probe.close().catch(() => {});
  const admin = new pg.Client({ connectionString: server.adminUrl });
  await admin.connect();
  for (const name of databases) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
  await admin.end();
  await server.stop();
}

const floor = results.floor!;
const sync = results.sync_workflow!;
const execute = results.wasm_execute_http!;
const warm = results.wasm_warm_run!;
const cold = results.wasm_cold_compile!;
const agent = results.agent_overhead!;
const cancel = results.cancel!;
const ttft = results.workflow_ttft!;
const graphs = results.graphs!;
const ratio = (a: number, b: number) => `${(a / b).toFixed(1)}x`;
const rows: string[][] = [
  ['measure', 'p50 ms', 'p99 ms', 'vs floor (p50 / p99)', 'target'],
  ['floor: plain pg insert -> claim -> NOTIFY', String(floor.p50), String(floor.p99), '1.0x / 1.0x', ''],
  ['sync workflow, 1 WASM step, over HTTP', String(sync.p50), String(sync.p99), `${ratio(sync.p50, floor.p50)} / ${ratio(sync.p99, floor.p99)}`, '<= 15 / 40 ms'],
  ['POST /v1/wasm/execute over HTTP (echo)', String(execute.p50), String(execute.p99), '', '<= 2 ms p50'],
  ['WASM warm run through the pool (echo)', String(warm.p50), String(warm.p99), '', '<= 0.3 ms p50'],
  [`WASM cold compile + first run, ${(cold.module_bytes / 1e6).toFixed(2)} MB`, String(cold.cold_ms), '', `then ${cold.warm_after_ms} ms warm`, ''],
  ['agent/<name>, fake provider answering at once', String(agent.mule.p50), String(agent.mule.p99), `raw openai ${agent.direct.p50} / ${agent.direct.p99}`, ''],
  ['  agent overhead over the raw openai client', String(agent.overhead_p50), String(agent.overhead_p99), '', '<= 5 ms p50'],
  ['first token, workflow/<one agent step> streamed', String(ttft.workflow.p50), String(ttft.workflow.p99), `agent/<name> ${ttft.agent.p50} / ${ttft.agent.p99}`, ''],
  ['  added by the workflow path (relay by NOTIFY)', String(ttft.added_p50), String(ttft.added_p99), '', '<= 10 ms p50'],
  ['sync workflow, 10 WASM steps, over HTTP', String(graphs.linear_10.p50), String(graphs.linear_10.p99), `1 step: ${graphs.linear_1.p50} / ${graphs.linear_1.p99}`, ''],
  ['  each extra step of a linear WASM workflow', String(graphs.per_extra_step_p50), '', '', '<= 1 ms p50'],
  [`fan-out of 8 agent steps, provider ${PROVIDER_DELAY_MS} ms`, String(graphs.fan_out_8_agents.p50), String(graphs.fan_out_8_agents.p99), '', '<= 300 ms'],
  [`for_each of 100 agent items, concurrency 10`, String(graphs.for_each_100_by_10.p50), String(graphs.for_each_100_by_10.p99), '', '<= 2500 ms'],
  ['cancel of a running WASM step: answered', String(cancel.answered.p50), String(cancel.answered.p99), '', ''],
  ['  until the worker freed its slot', String(cancel.slot_freed.p50), String(cancel.slot_freed.p99), '', '< 2000 ms'],
];
const throughputRows = results.async!.map((t) => [
  `async: ${t.jobs} jobs, ${t.clients} clients, ${t.workers} worker(s)`,
  `${t.submit_per_s} submitted/s`,
  `${t.completed_per_s} completed/s`,
  `${t.seconds} s`,
  t.workers === 2 ? '>= 500 jobs/s' : '',
]);
const traced = results.tracing!;
const tracingRow = [
  `async with tracing on: ${traced.on.completed_per_s} jobs/s (${traced.percent_of_off}% of off)`,
  `${traced.on.submit_per_s} submitted/s`,
  `${traced.on.completed_per_s} completed/s`,
  `runs: on ${traced.on_runs.join('/')}, off ${traced.off_runs.join('/')}`,
  '>= 90% of off',
];
const tracedCpu = results.tracing_cpu!;
const plus = (ratio: number) => `${ratio >= 1 ? '+' : ''}${Math.round((ratio - 1) * 100)}%`;
const tracingCpuRow = [
  `async with tracing on, from CPU per job: ${tracedCpu.percent_of_off}% of off`,
  `api ${plus(tracedCpu.api_ratio)}`,
  `workers ${plus(tracedCpu.worker_ratio)}`,
  `pairs (on/off): api ${tracedCpu.api_ratios.join('/')}, worker ${tracedCpu.worker_ratios.join('/')}`,
  '',
];
const table = [...rows, ...throughputRows, tracingRow, tracingCpuRow, dashboardRow(results.dashboard!), ...throughputFloorRows(results), ...growthRows(results)];
const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
const line = (row: string[]) => `| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
const text = [line(table[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...table.slice(1).map(line)].join('\n');
console.log(`\n${text}\n`);
const costText = costTables(results);
console.log(`${costText}\n`);

const report = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
  scale,
  results,
  table: text,
  cost_table: costText,
  /** The whole run, start to table: the bench is meant to stay under ~20 minutes at scale 1 (17 on 2 cores). */
  seconds: Math.round((performance.now() - benchStarted) / 1000),
};
await mkdir(join(REPO_ROOT, 'bench', 'results'), { recursive: true });
const stamp = report.date.replace(/[:.]/g, '-');
await writeFile(join(REPO_ROOT, 'bench', 'results', `${stamp}.json`), `${JSON.stringify(report, null, 2)}\n`);
await writeFile(join(REPO_ROOT, 'bench', 'results', 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
console.log(`written to bench/results/${stamp}.json (the run took ${report.seconds} s)`);
process.exit(0);
