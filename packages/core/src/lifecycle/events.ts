/**
 * What the driver tells the lifecycle (events) and what the lifecycle asks of the driver (commands). Every event
 * carries `at` (epoch ms), so deadlines are computed here and the transition stays a pure function.
 */
import type { JsonValue } from '../expressions/index.js';
import type { FinishedJobStatus, JobState, PriorAttempt, PriorStep, StepError } from './state.js';

/** `item` is the for_each item's index, null for a step without for_each. */
export interface UnitRef {
  stepId: string;
  item: number | null;
}
export interface AttemptRef extends UnitRef {
  attempt: number;
}

export type LifecycleEvent =
  /** The first claim, a takeover, or a resume from a park: what the rows already say. */
  | { type: 'job_started'; at: number; steps?: readonly PriorStep[]; attempts?: readonly PriorAttempt[] }
  | ({ type: 'attempt_succeeded'; at: number; output: JsonValue } & AttemptRef)
  | ({ type: 'attempt_failed'; at: number; error: StepError & { retryable: boolean } } & AttemptRef)
  | ({ type: 'retry_due'; at: number } & AttemptRef)
  | { type: 'wait_resumed'; at: number; stepId: string; output: JsonValue }
  | { type: 'wait_rejected'; at: number; stepId: string; reason: string }
  | { type: 'wait_timed_out'; at: number; stepId: string }
  | { type: 'job_cancelled'; at: number }
  | { type: 'job_timed_out'; at: number };

export type LifecycleEventType = LifecycleEvent['type'];
export const LIFECYCLE_EVENT_TYPES: readonly LifecycleEventType[] = [
  'job_started',
  'attempt_succeeded',
  'attempt_failed',
  'retry_due',
  'wait_resumed',
  'wait_rejected',
  'wait_timed_out',
  'job_cancelled',
  'job_timed_out',
];

export type LifecycleCommand =
  /** Run one attempt (its row is written running) with this input and time limit. */
  | ({ type: 'start_attempt'; input: JsonValue; timeoutMs: number } & AttemptRef)
  /** Send retry_due for this attempt after `delayMs` (at `dueAt`); over 5 s the driver parks the job meanwhile. */
  | ({ type: 'schedule_retry'; delayMs: number; dueAt: number } & AttemptRef)
  /** Record the wait (its input is what the approver sees) and its deadline; send wait_timed_out at `timeoutAt`. */
  | { type: 'park_for_wait'; stepId: string; input: JsonValue; timeoutAt: number }
  | { type: 'skip_step'; stepId: string }
  | { type: 'complete_step'; stepId: string; output: JsonValue }
  | { type: 'fail_step'; stepId: string; error: StepError }
  /** Abort these attempts (and close these waits, as attempt 1) and record them cancelled. */
  | { type: 'cancel_attempts'; attempts: AttemptRef[] }
  | { type: 'finish_job'; status: FinishedJobStatus; output?: JsonValue; error?: StepError; failedStep?: string };

export type LifecycleCommandType = LifecycleCommand['type'];

export type TransitionResult =
  | { ok: true; state: JobState; commands: LifecycleCommand[] }
  /** The event does not apply to this state; the state is returned unchanged and nothing is to be done. */
  | { ok: false; state: JobState; commands: []; reason: string };
