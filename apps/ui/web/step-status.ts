import type { StepView } from './api.js';

/** A step's status: its own row (item null) at the latest attempt, else its items' worst; `pending` when none. */
export function stepStatus(steps: StepView[], id: string): string {
  const rows = steps.filter((step) => step.id === id);
  const own = rows.filter((step) => step.item === undefined).sort((a, b) => b.attempt - a.attempt)[0];
  if (own) return own.status;
  if (rows.length === 0) return 'pending';
  for (const status of ['failed', 'running', 'waiting', 'cancelled']) if (rows.some((step) => step.status === status)) return status;
  return rows[0]!.status;
}
