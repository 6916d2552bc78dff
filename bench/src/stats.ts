/** Percentiles over latency samples (milliseconds). */
export interface Latency {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  mean: number;
}

export function latency(samples: number[]): Latency {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    n: sorted.length,
    p50: round(at(0.5)),
    p90: round(at(0.9)),
    p99: round(at(0.99)),
    mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length),
  };
}

/** Runs `fn` `warmup + n` times one after another and returns the last n durations. */
export async function timeSequential(n: number, warmup: number, fn: (i: number) => Promise<void>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < warmup + n; i++) {
    const started = performance.now();
    await fn(i);
    if (i >= warmup) samples.push(performance.now() - started);
  }
  return samples;
}
