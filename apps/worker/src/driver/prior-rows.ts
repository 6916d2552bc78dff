/**
 * What a claim tells the lifecycle from the rows (`job_started`): the steps already final by their own row, and
 * each unit's last attempt. A plain step's attempt rows are its step rows; a for_each step's own row (item NULL)
 * holds its end; a wait's row is `waiting` until the api settles it (`completed`: resumed, `failed`: rejected).
 * Rows left `running` by a dead worker were closed as failed `unavailable` by the same statement that read them.
 */
import type { JobGraph, JsonValue, PriorAttempt, PriorStep, StepError } from '@mule/core';
import type { StepRowRead } from '@mule/db';

export function priorFromRows(graph: JobGraph, rows: readonly StepRowRead[]): { steps: PriorStep[]; attempts: PriorAttempt[] } {
  const steps: PriorStep[] = [];
  const attempts = new Map<string, PriorAttempt>();
  for (const row of rows) {
    const step = graph.steps[row.index];
    // A row of a step the plan does not have (cannot happen: plans are frozen) tells nothing.
    if (!step || step.id !== row.stepId || row.status === 'cancelled') continue;
    const error = row.error ? ({ code: row.error.code, message: row.error.message } as StepError) : undefined;
    if (row.status === 'skipped' || (row.item === null && step.forEach)) {
      if (row.status === 'skipped' || row.status === 'completed' || row.status === 'failed') {
        steps.push({ stepId: step.id, status: row.status, ...(row.status === 'completed' ? { output: row.output as JsonValue } : {}), ...(error ? { error } : {}) });
      }
      continue;
    }
    const attempt: PriorAttempt = { stepId: step.id, item: row.item, attempt: row.attempt, status: row.status };
    if (row.status === 'completed') attempt.output = row.output as JsonValue;
    if (error) attempt.error = error;
    if (row.completedAt !== null) attempt.finishedAt = row.completedAt;
    if (row.waitUntil !== null) attempt.timeoutAt = row.waitUntil;
    const key = `${step.id}\u0000${row.item ?? ''}`;
    const known = attempts.get(key);
    if (!known || known.attempt <= attempt.attempt) attempts.set(key, attempt);
  }
  return { steps, attempts: [...attempts.values()] };
}
