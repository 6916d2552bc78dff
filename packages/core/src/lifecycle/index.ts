export {
  DEFAULT_FOR_EACH_CONCURRENCY,
  DEFAULT_FOR_EACH_MAX_ITEMS,
  DEFAULT_MAX_PARALLEL,
  MAX_FOR_EACH_ITEMS,
  checkGraph,
} from './graph.js';
export type { GraphForEach, GraphStep, GraphStepKind, JobGraph, OnError } from './graph.js';
export { LIFECYCLE_STATUSES, initialState, isTerminal, unitKey } from './state.js';
export type {
  FinishedJobStatus,
  JobState,
  LifecycleStatus,
  PriorAttempt,
  PriorStep,
  StepError,
  StepState,
  UnitState,
} from './state.js';
export { LIFECYCLE_EVENT_TYPES } from './events.js';
export type {
  AttemptRef,
  LifecycleCommand,
  LifecycleCommandType,
  LifecycleEvent,
  LifecycleEventType,
  TransitionResult,
  UnitRef,
} from './events.js';
export { ALLOWED_EVENTS, transition } from './transition.js';
export { PARK_RETRY_AFTER_MS, retryDelayMs } from './retry.js';
export { parkPlan } from './park.js';
export { buildJobGraph } from './build-graph.js';
export type { GraphSpec, GraphStepSpec } from './build-graph.js';
export type { ParkPlan } from './park.js';
