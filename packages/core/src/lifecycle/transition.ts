/**
 * The one transition of a job's lifecycle: (state, event) → (state, commands). Pure: no I/O, no clock (events
 * carry `at`), no randomness (retry jitter is a hash). An event that does not apply (a resume for a step that is
 * not waiting, a result for an attempt that is not running, anything after the end) is refused with a reason and
 * the state unchanged, never thrown: the driver may receive late or duplicate events after a takeover.
 */
import { assertNever } from '../errors.js';
import { Draft } from './draft.js';
import type { AttemptRef, LifecycleEvent, LifecycleEventType, TransitionResult } from './events.js';
import { advance, afterFailure } from './schedule.js';
import { unitKey, type JobState, type LifecycleStatus, type PriorAttempt, type UnitState } from './state.js';

/** Which events each job status accepts; every other pair is refused before the event is looked at. */
export const ALLOWED_EVENTS: Readonly<Record<LifecycleStatus, readonly LifecycleEventType[]>> = {
  new: ['job_started'],
  running: [
    'attempt_succeeded',
    'attempt_failed',
    'retry_due',
    'wait_resumed',
    'wait_rejected',
    'wait_timed_out',
    'job_cancelled',
    'job_timed_out',
  ],
  // Nothing runs while waiting: only a timer, a resume or the job's own end can move it.
  waiting: ['retry_due', 'wait_resumed', 'wait_rejected', 'wait_timed_out', 'job_cancelled', 'job_timed_out'],
  completed: [],
  failed: [],
  cancelled: [],
};

export function transition(state: JobState, event: LifecycleEvent): TransitionResult {
  if (!ALLOWED_EVENTS[state.status].includes(event.type)) {
    return refuse(state, `${event.type} does not apply to a ${state.status} job`);
  }
  const draft = new Draft(state, event.at);
  const refusal = apply(draft, event);
  if (refusal !== null) return refuse(state, refusal);
  advance(draft);
  return { ok: true, state: draft.toState(), commands: draft.commands };
}

function refuse(state: JobState, reason: string): TransitionResult {
  return { ok: false, state, commands: [], reason };
}

/** Applies the event itself; null when applied, else why it was refused (nothing applied then). */
function apply(d: Draft, event: LifecycleEvent): string | null {
  switch (event.type) {
    case 'job_started':
      return started(d, event);
    case 'attempt_succeeded': {
      const found = unitIn(d, event, 'running');
      if (typeof found === 'string') return found;
      d.setUnit(event.stepId, event.item, { phase: 'completed', output: event.output });
      d.settle(event.stepId);
      return null;
    }
    case 'attempt_failed': {
      const found = unitIn(d, event, 'running');
      if (typeof found === 'string') return found;
      const step = d.graphStep(event.stepId);
      d.setUnit(event.stepId, event.item, afterFailure(d, step, event.item, event.attempt, event.error, event.at));
      d.settle(event.stepId);
      return null;
    }
    case 'retry_due': {
      const found = unitIn(d, event, 'retrying');
      if (typeof found === 'string') return found;
      d.setUnit(event.stepId, event.item, { phase: 'ready', attempt: event.attempt });
      return null;
    }
    case 'wait_resumed':
    case 'wait_rejected':
    case 'wait_timed_out': {
      const found = unitIn(d, { stepId: event.stepId, item: null, attempt: 1 }, 'waiting');
      if (typeof found === 'string') return found;
      // A timer that fires early (clock skew between processes, a stale queue entry) must not end a wait.
      if (event.type === 'wait_timed_out' && found.phase === 'waiting' && event.at < found.timeoutAt) {
        return `the wait of step "${event.stepId}" is not due until ${new Date(found.timeoutAt).toISOString()}`;
      }
      d.setUnit(event.stepId, null, waitOutcome(event));
      d.settle(event.stepId);
      return null;
    }
    case 'job_cancelled':
      d.finishJob('cancelled', {});
      return null;
    case 'job_timed_out':
      d.finishJob('failed', { error: { code: 'job_timeout', message: 'the job ran past its time limit', retryable: false } });
      return null;
    default:
      return assertNever(event);
  }
}

function waitOutcome(event: Extract<LifecycleEvent, { type: 'wait_resumed' | 'wait_rejected' | 'wait_timed_out' }>): UnitState {
  switch (event.type) {
    case 'wait_resumed':
      return { phase: 'completed', output: event.output };
    case 'wait_rejected':
      return { phase: 'failed', error: { code: 'rejected', message: event.reason || 'the wait was rejected', retryable: false } };
    case 'wait_timed_out':
      return { phase: 'failed', error: { code: 'wait_timeout', message: 'the wait ended without a resume', retryable: false } };
    default:
      return assertNever(event);
  }
}

/** The unit an event names, in the phase (and attempt) the event presumes; else why not. */
function unitIn(d: Draft, ref: AttemptRef, phase: 'running' | 'retrying' | 'waiting'): UnitState | string {
  const step = d.graph.steps.find((candidate) => candidate.id === ref.stepId);
  if (!step) return `no step "${ref.stepId}"`;
  if (phase === 'waiting' && step.kind !== 'wait') return `step "${ref.stepId}" is not a wait step`;
  const state = d.step(ref.stepId);
  if (state.status !== 'active') return `step "${ref.stepId}" is ${state.status}, not active`;
  const forEach = state.items !== null;
  if (forEach !== (ref.item !== null)) {
    return forEach ? `step "${ref.stepId}" runs per item: name the item` : `step "${ref.stepId}" has no items`;
  }
  const unit = state.units[ref.item ?? 0];
  const name = ref.item === null ? `step "${ref.stepId}"` : `item ${ref.item} of step "${ref.stepId}"`;
  if (!unit) return `${name} does not exist`;
  if (unit.phase !== phase) return `${name} is ${unit.phase}, not ${phase}`;
  if ((unit.phase === 'running' || unit.phase === 'retrying') && unit.attempt !== ref.attempt) {
    return `${name} is at attempt ${unit.attempt}, not ${ref.attempt}`;
  }
  return unit;
}

/** Takes in what the rows already say; steps are then reached again from them (schedule.ts). */
function started(d: Draft, event: Extract<LifecycleEvent, { type: 'job_started' }>): string | null {
  const prior = new Map<string, PriorAttempt>();
  for (const attempt of event.attempts ?? []) {
    if (!d.steps.has(attempt.stepId)) return `a prior attempt names no step "${attempt.stepId}"`;
    const key = unitKey(attempt.stepId, attempt.item);
    const known = prior.get(key);
    if (!known || known.attempt < attempt.attempt) prior.set(key, attempt);
  }
  d.prior = prior;
  d.status = 'running';
  for (const step of event.steps ?? []) {
    if (!d.steps.has(step.stepId)) return `a prior step names no step "${step.stepId}"`;
    if (step.status === 'completed') d.setStep(step.stepId, { status: 'completed', output: step.output ?? null });
    else if (step.status === 'skipped') d.setStep(step.stepId, { status: 'skipped' });
    else {
      const error = step.error ?? { code: 'internal_error', message: 'the step failed without a stored error' };
      d.setStep(step.stepId, { status: 'failed', error });
      // The previous worker recorded the failure but died before ending the job.
      if (d.graphStep(step.stepId).onError === 'fail') d.finishJob('failed', { error, failedStep: step.stepId });
    }
  }
  return null;
}
