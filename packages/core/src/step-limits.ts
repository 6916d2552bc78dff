/**
 * Step defaults and bounds, and the wait timeout's text form. Apart from definitions.ts so the lifecycle's graph
 * builder can read the defaults without importing the definition schemas (which run the graph builder).
 */
import { MuleError } from './errors.js';

export const DEFAULT_AGENT_TIMEOUT_MS = 30_000;
export const DEFAULT_WASM_TIMEOUT_MS = 10_000;
/** Upper bounds that keep one definition from asking for absurd resources. */
export const MAX_STEP_TIMEOUT_MS = 3_600_000;
export const MAX_STEP_RETRIES = 10;
/**
 * Steps in one workflow. Checking a 200-step graph (needs, cycles, ancestry of every expression) takes well under
 * a millisecond per step; the bound is on what one job writes (a row per step and attempt), not on checking.
 */
export const MAX_WORKFLOW_STEPS = 200;
/**
 * Longest wait: 7 days, the longest a whole job may run (the worker's MULE_JOB_TIMEOUT_SECONDS allows at most
 * that), which a wait cannot outlive. It also keeps a wait's timer under setTimeout's limit (~24.8 days), past
 * which Node fires a timer at once.
 */
export const MAX_WAIT_TIMEOUT_MS = 7 * 86_400_000;

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const WAIT_TIMEOUT_PATTERN = /^([1-9][0-9]{0,9})(s|m|h|d)$/;

/** `"<n>s|m|h|d"` → milliseconds; `invalid_request` naming `param` when it is not one or is over 7 days. */
export function parseWaitTimeout(text: string, param: string | null = null): number {
  const match = WAIT_TIMEOUT_PATTERN.exec(text);
  const where = param ? `${param}: ` : '';
  if (!match) {
    throw new MuleError('invalid_request', `${where}"${text}" is not a duration: write a whole number and s, m, h or d (e.g. "30m", "24h")`, { param });
  }
  const ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  if (ms > MAX_WAIT_TIMEOUT_MS) throw new MuleError('invalid_request', `${where}"${text}" is longer than the limit of 7d (a job's longest time limit)`, { param });
  return ms;
}
