/**
 * An on/off comparison inside one bench run, in the order off, on, on, off, each run on its own fresh stack. Later
 * runs of a bench are slower for reasons of their own (the machine drifts, the server's WAL and caches grow): a
 * single "on" run compared with the "off" figure of an earlier section read that drift as cost. In one run, tracing
 * on and a dashboard open (which traces nothing) both measured 72% of the earlier 2-worker figure.
 */
import type { Throughput } from './async-throughput.js';

export interface Alternated<T> {
  /** The two off runs, averaged. */
  off: Throughput;
  /** The two on runs, in the order they ran. */
  on: [T, T];
}

export async function offOnOnOff<T>(off: () => Promise<Throughput>, on: () => Promise<T>): Promise<Alternated<T>> {
  const firstOff = await off();
  const firstOn = await on();
  const secondOn = await on();
  const secondOff = await off();
  return { off: meanThroughput([firstOff, secondOff]), on: [firstOn, secondOn] };
}

/** Runs of the same size averaged: rates and durations by their mean. */
export function meanThroughput(runs: readonly Throughput[]): Throughput {
  const mean = (pick: (t: Throughput) => number, digits = 0) => {
    const value = runs.reduce((sum, t) => sum + pick(t), 0) / runs.length;
    return Math.round(value * 10 ** digits) / 10 ** digits;
  };
  return { ...runs[0]!, submit_per_s: mean((t) => t.submit_per_s), completed_per_s: mean((t) => t.completed_per_s), seconds: mean((t) => t.seconds, 2) };
}
