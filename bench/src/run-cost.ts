/**
 * The cost of one measured run, per job and as cores busy: PostgreSQL's (pg-cost.ts), the api's and the workers'
 * CPU (utime + stime from /proc over the run), and the bench's own (it generates the load on the same 2 cores).
 * "cores" is CPU time over wall time: 1.0 is one core busy for the whole run, so the figures say which process
 * saturates first.
 */
import type { PgCost, PgCostProbe } from './pg-cost.js';
import { machineBusyMs, processCpuMs } from './proc-cpu.js';

export interface ProcessCost {
  ms_per_job: number;
  cores: number;
}

export interface RunCost {
  postgres: PgCost;
  api: ProcessCost;
  /** All workers together. */
  workers: ProcessCost;
  bench: ProcessCost;
  /**
   * Cores busy with anything else on the machine meanwhile (all busy CPU less the four above): on a shared
   * machine, a run with other work beside it is slower for that reason alone.
   */
  other_cores: number;
}

/** What a run's CPU is counted on: the api's and the workers' processes (or the floor's claimers), by pid. */
export interface Stack {
  api: number[];
  workers: number[];
  databaseUrl: string;
}

function cpuOf(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + (processCpuMs(pid) ?? 0), 0);
}

function benchCpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

/** Runs `fn` (which completes `jobs` jobs on `stack`) and measures what it cost. */
export async function withRunCost<T>(probe: PgCostProbe, stack: Stack, jobs: number, fn: () => Promise<T>): Promise<{ result: T; cost: RunCost }> {
  const database = decodeURIComponent(new URL(stack.databaseUrl).pathname.slice(1));
  const measuring = await probe.begin(database);
  const before = { api: cpuOf(stack.api), workers: cpuOf(stack.workers), bench: benchCpuMs(), machine: machineBusyMs(), at: performance.now() };
  const result = await fn();
  const seconds = (performance.now() - before.at) / 1000;
  const after = { api: cpuOf(stack.api), workers: cpuOf(stack.workers), bench: benchCpuMs(), machine: machineBusyMs() };
  const postgres = await measuring.end(jobs);
  const ours = after.api - before.api + after.workers - before.workers + after.bench - before.bench + postgres.cpu_ms_per_job * jobs;
  const cost = (ms: number): ProcessCost => ({
    ms_per_job: Math.round((ms / jobs) * 1000) / 1000,
    cores: Math.round((ms / 1000 / seconds) * 100) / 100,
  });
  return {
    result,
    cost: {
      postgres,
      api: cost(after.api - before.api),
      workers: cost(after.workers - before.workers),
      bench: cost(after.bench - before.bench),
      other_cores: Math.max(0, Math.round(((after.machine - before.machine - ours) / 1000 / seconds) * 100) / 100),
    },
  };
}
