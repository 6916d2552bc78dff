/**
 * Moving a job forward after any event: reach the steps whose needs have all finished (evaluating `if`,
 * `for_each` and, for waits, `input`), then start ready units in step order, then item order, within
 * MAX_PARALLEL for the job and each for_each's concurrency. Repeats until a pass changes nothing, since a
 * step that ends at once (skipped, empty for_each, an expression error with on_error continue) can free others.
 */
import { defaultRetryable } from '../errors.js';
import { evaluateCondition, evaluateList, evaluateTemplate, type JsonValue } from '../expressions/index.js';
import { stepError, type Draft } from './draft.js';
import type { GraphStep } from './graph.js';
import { retryDelayMs } from './retry.js';
import { isFinishedStep, unitKey, type StepError, type UnitState } from './state.js';

export function advance(d: Draft): void {
  for (;;) {
    if (d.finished) return;
    const before = d.changes;
    reachSteps(d);
    startReady(d);
    if (d.changes === before) break;
  }
  d.finishIfDone();
  if (!d.finished) d.status = runningCount(d) > 0 ? 'running' : 'waiting';
}

function reachSteps(d: Draft): void {
  for (const step of d.graph.steps) {
    if (d.finished) return;
    if (d.step(step.id).status !== 'pending') continue;
    if (step.needs.every((need) => isFinishedStep(d.step(need)))) reach(d, step);
  }
}

function reach(d: Draft, step: GraphStep): void {
  if (step.if) {
    let go: boolean;
    try {
      go = evaluateCondition(step.if, d.context());
    } catch (error) {
      d.failStep(step.id, stepError(error));
      return;
    }
    if (!go) {
      d.skipStep(step.id);
      return;
    }
  }
  let items: JsonValue[] | null = null;
  if (step.forEach) {
    try {
      items = evaluateList(step.forEach.list, d.context());
    } catch (error) {
      d.failStep(step.id, stepError(error));
      return;
    }
    if (items.length > step.forEach.maxItems) {
      const message = `for_each gave ${items.length} items, over the step's max_items of ${step.forEach.maxItems}`;
      d.failStep(step.id, { code: 'invalid_request', message, retryable: false });
      return;
    }
    if (items.length === 0) {
      d.completeStep(step.id, []);
      return;
    }
  }
  const count = items === null ? 1 : items.length;
  const units = Array.from({ length: count }, (): UnitState => ({ phase: 'ready', attempt: 1 }));
  d.setStep(step.id, { status: 'active', items, units });
  for (let i = 0; i < count; i += 1) {
    const item = items === null ? null : i;
    if (step.kind === 'wait') openWait(d, step);
    else resumeUnit(d, step, item);
  }
  d.settle(step.id);
}

/** A wait parks at once: what the rows said (after a park or takeover), or a new deadline. */
function openWait(d: Draft, step: GraphStep): void {
  const prior = d.prior.get(unitKey(step.id, null));
  if (prior?.status === 'completed') return d.setUnit(step.id, null, { phase: 'completed', output: prior.output ?? null });
  if (prior?.status === 'failed') return d.setUnit(step.id, null, { phase: 'failed', error: prior.error ?? lostError() });
  let input: JsonValue;
  try {
    input = stepInput(d, step, null);
  } catch (error) {
    return d.setUnit(step.id, null, { phase: 'failed', error: stepError(error) });
  }
  const timeoutAt = prior?.status === 'waiting' && prior.timeoutAt !== undefined ? prior.timeoutAt : d.at + step.timeoutMs;
  d.setUnit(step.id, null, { phase: 'waiting', timeoutAt });
  d.emit({ type: 'park_for_wait', stepId: step.id, input, timeoutAt });
}

/**
 * A unit as the rows left it: done, failed (retried if it may), interrupted, or not started. An attempt that a
 * dead worker left `running` (or that the takeover closed as `unavailable`) did not fail by itself: it runs again
 * at once as the next attempt and spends none of the step's `retries`, so a `kill -9` of a worker never fails a
 * job (pg-boss's retry limit on the queue entry bounds a step that crashes every worker that runs it).
 */
function resumeUnit(d: Draft, step: GraphStep, item: number | null): void {
  const prior = d.prior.get(unitKey(step.id, item));
  if (!prior) return;
  if (prior.status === 'completed') return d.setUnit(step.id, item, { phase: 'completed', output: prior.output ?? null });
  if (prior.status === 'running' || (prior.status === 'failed' && prior.error?.code === 'unavailable')) {
    return d.setUnit(step.id, item, { phase: 'ready', attempt: prior.attempt + 1 });
  }
  const error = prior.error ?? lostError();
  d.setUnit(step.id, item, afterFailure(d, step, item, prior.attempt, error, prior.finishedAt ?? d.at));
}

function lostError(): StepError {
  return { code: 'internal_error', message: 'the step failed without a stored error', retryable: false };
}

/** A failed attempt: retried (with a schedule_retry) while retryable and retries are left, else final. */
export function afterFailure(
  d: Draft,
  step: GraphStep,
  item: number | null,
  attempt: number,
  error: StepError,
  failedAt: number,
): UnitState {
  const retryable = error.retryable ?? defaultRetryable(error.code);
  if (step.kind === 'wait' || !retryable || attempt >= step.retries + 1) return { phase: 'failed', error };
  const dueAt = failedAt + retryDelayMs(d.base.jobId, step.id, item, attempt);
  const next = attempt + 1;
  d.emit({ type: 'schedule_retry', stepId: step.id, item, attempt: next, delayMs: Math.max(0, dueAt - d.at), dueAt });
  return { phase: 'retrying', attempt: next, dueAt };
}

function startReady(d: Draft): void {
  let running = runningCount(d);
  for (const step of d.graph.steps) {
    const limit = step.forEach ? step.forEach.concurrency : 1;
    let stepRunning = countUnits(d, step.id, 'running');
    for (let i = 0; ; i += 1) {
      if (d.finished || running >= d.graph.maxParallel) return;
      const state = d.step(step.id);
      if (state.status !== 'active' || i >= state.units.length || stepRunning >= limit) break;
      const unit = state.units[i]!;
      if (unit.phase !== 'ready') continue;
      const item = state.items === null ? null : i;
      let input: JsonValue;
      try {
        input = stepInput(d, step, item);
      } catch (error) {
        // Expression errors cannot succeed on a retry: the unit fails for good.
        d.setUnit(step.id, item, { phase: 'failed', error: stepError(error) });
        d.settle(step.id);
        continue;
      }
      d.setUnit(step.id, item, { phase: 'running', attempt: unit.attempt });
      d.emit({ type: 'start_attempt', stepId: step.id, item, attempt: unit.attempt, input, timeoutMs: step.timeoutMs });
      running += 1;
      stepRunning += 1;
    }
  }
}

/**
 * A unit's input: its `input` template; else a for_each item gets the item, a step without needs the job input,
 * a step with one need that step's output, and with several `{ <id>: output }` (null for skipped or failed).
 */
function stepInput(d: Draft, step: GraphStep, item: number | null): JsonValue {
  const state = d.step(step.id);
  const items = state.status === 'active' ? state.items : null;
  const extra = item === null || items === null ? {} : { item: items[item] ?? null, index: item };
  if (step.input) return evaluateTemplate(step.input, d.context(extra));
  if (item !== null && items !== null) return items[item] ?? null;
  if (step.needs.length === 0) return d.base.input;
  const outputOf = (id: string): JsonValue => {
    const need = d.step(id);
    return need.status === 'completed' ? need.output : null;
  };
  if (step.needs.length === 1) return outputOf(step.needs[0]!);
  const joined: Record<string, JsonValue> = {};
  for (const need of step.needs) {
    Object.defineProperty(joined, need, { value: outputOf(need), enumerable: true, writable: true, configurable: true });
  }
  return joined;
}

export function runningCount(d: Draft): number {
  let count = 0;
  for (const step of d.graph.steps) count += countUnits(d, step.id, 'running');
  return count;
}

function countUnits(d: Draft, stepId: string, phase: UnitState['phase']): number {
  const state = d.step(stepId);
  return state.status === 'active' ? state.units.filter((unit) => unit.phase === phase).length : 0;
}
