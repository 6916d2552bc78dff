/**
 * Retry timing. Exponential from 250 ms, capped at 30 s (as the worker's step retries), with jitter over the
 * upper half so a burst of failures does not retry in step; the jitter is a hash of job, step, item and attempt
 * rather than Math.random, so a transition stays a function of its input.
 */

const RETRY_BASE_MS = 250;
const RETRY_CAP_MS = 30_000;
/** A retry further away than this parks the job (it holds no worker slot meanwhile). */
export const PARK_RETRY_AFTER_MS = 5_000;

export function retryDelayMs(seed: string, stepId: string, item: number | null, failedAttempt: number): number {
  const ceiling = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** (failedAttempt - 1));
  const fraction = fnv1a(`${seed}\u0000${stepId}\u0000${item ?? ''}\u0000${failedAttempt}`) / 0x1_0000_0000;
  return Math.round(ceiling / 2 + fraction * (ceiling / 2));
}

/** 32-bit FNV-1a: small, fast, and spreads near-identical keys. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}
