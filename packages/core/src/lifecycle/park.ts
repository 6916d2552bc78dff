/**
 * Whether the driver should park a job (give its worker slot back) after a transition: when nothing runs and
 * what is left is waits and retries more than PARK_RETRY_AFTER_MS away. `wakeAt` is when the job must be
 * scheduled again (the nearest retry or wait deadline); a resume wakes it earlier.
 */
import type { AttemptRef } from './events.js';
import { PARK_RETRY_AFTER_MS } from './retry.js';
import type { JobState } from './state.js';

export interface ParkPlan {
  park: boolean;
  wakeAt: number | null;
  waits: Array<{ stepId: string; timeoutAt: number }>;
  retries: Array<AttemptRef & { dueAt: number }>;
}

export function parkPlan(state: JobState, now: number): ParkPlan {
  const waits: ParkPlan['waits'] = [];
  const retries: ParkPlan['retries'] = [];
  for (const step of state.graph.steps) {
    const current = state.steps.get(step.id);
    if (current?.status !== 'active') continue;
    current.units.forEach((unit, index) => {
      const item = current.items === null ? null : index;
      if (unit.phase === 'waiting') waits.push({ stepId: step.id, timeoutAt: unit.timeoutAt });
      if (unit.phase === 'retrying') retries.push({ stepId: step.id, item, attempt: unit.attempt, dueAt: unit.dueAt });
    });
  }
  const deadlines = [...waits.map((wait) => wait.timeoutAt), ...retries.map((retry) => retry.dueAt)];
  const wakeAt = deadlines.length > 0 ? Math.min(...deadlines) : null;
  const park = state.status === 'waiting' && retries.every((retry) => retry.dueAt - now > PARK_RETRY_AFTER_MS);
  return { park, wakeAt, waits, retries };
}
