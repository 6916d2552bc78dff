/**
 * An on/off comparison inside one bench run: rounds of off, on, on, off, each run on its own fresh stack. Later
 * runs of a bench are slower for reasons of their own (the machine drifts, the server's WAL and caches grow): a
 * single "on" run compared with the "off" figure of an earlier section read that drift as cost. In one run, tracing
 * on and a dashboard open (which traces nothing) both measured 72% of the earlier 2-worker figure.
 *
 * Every run gets a fresh stack because a stack's speed is partly its own: two identical stacks kept alive side by
 * side and loaded in turn with bursts (A, B, B, A, four rounds) measured B at 87% of A, so comparing a stack that
 * has a feature on with one that has it off would read that as the feature's cost. One round was not enough on a
 * shared 2-core machine either (the same off run measured 328 to 476 jobs/s minutes apart; one round put tracing
 * at 102% of off in one bench and 83% in the next), so there are several rounds of shorter runs.
 */
import type { Throughput } from './async-throughput.js';

export const ROUNDS = 3;

/**
 * Jobs each run of a comparison makes before it is measured. A process compiles its hot paths over its first few
 * thousand jobs, and one with tracing on has more of them (the SDK's): the api alone, submitting in batches of
 * 4,000, spent 0.57, 0.30, 0.22, 0.20 ms of CPU per job with tracing on (0.50, 0.25, 0.21, 0.20 off). After a
 * 1,000-job warm-up, tracing measured +19% api CPU per job; after 6,000, +13%. The steady state is what a running
 * deployment pays; the compile is paid once per process.
 */
export const WARM_UP_JOBS = 5_000;

export interface Alternated<T> {
  /** The off runs, averaged. */
  off: Throughput;
  /** Every off run's completed jobs per second, in the order they ran. */
  offRates: number[];
  /** The on runs, in the order they ran. */
  on: T[];
}

export async function alternate<T>(off: () => Promise<Throughput>, on: () => Promise<T>, rounds = ROUNDS): Promise<Alternated<T>> {
  const offRuns: Throughput[] = [];
  const onRuns: T[] = [];
  for (let round = 0; round < rounds; round++) {
    offRuns.push(await off());
    onRuns.push(await on());
    onRuns.push(await on());
    offRuns.push(await off());
  }
  return { off: meanThroughput(offRuns), offRates: offRuns.map((run) => run.completed_per_s), on: onRuns };
}

/** What a bench row reports of an on/off comparison. */
export interface Comparison {
  /** Each side's runs, averaged. */
  off: Throughput;
  on: Throughput;
  /** Each run's completed jobs per second, in the order they ran. */
  off_runs: number[];
  on_runs: number[];
  /** on / off completed jobs per second, in percent. */
  percent_of_off: number;
}

export function compare(runs: Alternated<Throughput>): Comparison {
  const on = meanThroughput(runs.on);
  return {
    off: runs.off,
    on,
    off_runs: runs.offRates,
    on_runs: runs.on.map((run) => run.completed_per_s),
    percent_of_off: Math.round((on.completed_per_s / runs.off.completed_per_s) * 100),
  };
}

/** Runs of the same size averaged: rates and durations by their mean. */
export function meanThroughput(runs: readonly Throughput[]): Throughput {
  const mean = (pick: (t: Throughput) => number, digits = 0) => {
    const value = runs.reduce((sum, t) => sum + pick(t), 0) / runs.length;
    return Math.round(value * 10 ** digits) / 10 ** digits;
  };
  return { ...runs[0]!, submit_per_s: mean((t) => t.submit_per_s), completed_per_s: mean((t) => t.completed_per_s), seconds: mean((t) => t.seconds, 2) };
}
