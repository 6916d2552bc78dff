/**
 * A job's lifecycle state: the job's status, and per step either not yet reached, active (its units: one for a
 * plain or wait step, one per item for a for_each step), or finished. Plain data apart from the graph, so a
 * transition copies what it changes and never mutates its input.
 */
import type { ErrorCode } from '../errors.js';
import type { JsonValue } from '../expressions/index.js';
import type { JobGraph } from './graph.js';

/** `new`: before job_started. `waiting`: no attempt running, only waits or retry timers left (see parkPlan). */
export const LIFECYCLE_STATUSES = ['new', 'running', 'waiting', 'completed', 'failed', 'cancelled'] as const;
export type LifecycleStatus = (typeof LIFECYCLE_STATUSES)[number];
export type FinishedJobStatus = 'completed' | 'failed' | 'cancelled';

export interface StepError {
  code: ErrorCode;
  message: string;
  retryable?: boolean;
}

/** One runnable thing: a plain step's attempts, one for_each item's attempts, or a wait. */
export type UnitState =
  /** Not started; `attempt` is the number its next start uses (starts at 1). */
  | { phase: 'ready'; attempt: number }
  | { phase: 'running'; attempt: number }
  /** Failed and retried later: `attempt` is the number the retry uses, once retry_due names it. */
  | { phase: 'retrying'; attempt: number; dueAt: number }
  | { phase: 'waiting'; timeoutAt: number }
  | { phase: 'completed'; output: JsonValue }
  | { phase: 'failed'; error: StepError }
  /** Stopped because its step, or the job, ended first. */
  | { phase: 'cancelled' };

export type StepState =
  | { status: 'pending' }
  /** `items` is null for a step without for_each; otherwise its evaluated list, one unit per item. */
  | { status: 'active'; items: JsonValue[] | null; units: UnitState[] }
  | { status: 'completed'; output: JsonValue }
  | { status: 'failed'; error: StepError }
  | { status: 'skipped' };

export interface JobState {
  readonly graph: JobGraph;
  readonly jobId: string;
  readonly input: JsonValue;
  readonly status: LifecycleStatus;
  readonly steps: ReadonlyMap<string, StepState>;
  /** Set once finished. */
  readonly output?: JsonValue;
  readonly error?: StepError;
  /** The step whose error failed the job. */
  readonly failedStep?: string;
  /** @internal What job_started reported, consulted when a step is reached again after a takeover or a park. */
  readonly prior: ReadonlyMap<string, PriorAttempt>;
}

/** What the rows say of one attempt (the last one a unit made). Key: unitKey(stepId, item). */
export interface PriorAttempt {
  stepId: string;
  item: number | null;
  attempt: number;
  /** A `running` row was left by a dead worker: it counts as failed with `unavailable` (retryable). */
  status: 'running' | 'completed' | 'failed' | 'waiting';
  output?: JsonValue;
  error?: StepError;
  /** When it failed (epoch ms): a retry is due its backoff after this, not after the takeover. */
  finishedAt?: number;
  /** A wait step's deadline. */
  timeoutAt?: number;
}

/** A step whose own row is already final. */
export interface PriorStep {
  stepId: string;
  status: 'completed' | 'failed' | 'skipped';
  output?: JsonValue;
  error?: StepError;
}

export function unitKey(stepId: string, item: number | null): string {
  return item === null ? stepId : `${stepId}\u0000${item}`;
}

/** The state before job_started. */
export function initialState(graph: JobGraph, job: { jobId: string; input: JsonValue }): JobState {
  return {
    graph,
    jobId: job.jobId,
    input: job.input,
    status: 'new',
    steps: new Map(graph.steps.map((step) => [step.id, { status: 'pending' } as StepState])),
    prior: new Map(),
  };
}

export function isFinishedStep(step: StepState): boolean {
  return step.status === 'completed' || step.status === 'failed' || step.status === 'skipped';
}

export function isTerminal(status: LifecycleStatus): status is FinishedJobStatus {
  return status === 'completed' || status === 'failed' || status === 'cancelled';
}
