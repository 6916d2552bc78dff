/**
 * Every (job status, event type) pair: the allowed ones (ALLOWED_EVENTS) apply to a state in that status, every
 * other pair is refused with the state unchanged. Then the refusals inside allowed pairs: events naming a unit
 * that is not in the phase they presume.
 */
import { describe, expect, test } from '@jest/globals';
import {
  ALLOWED_EVENTS,
  LIFECYCLE_EVENT_TYPES,
  LIFECYCLE_STATUSES,
  buildJobGraph,
  initialState,
  transition,
  type JobState,
  type LifecycleEvent,
  type LifecycleEventType,
  type LifecycleStatus,
} from './index.js';

/** a: runs (1 retry); w: waits; r: runs (2 retries); all start at once. */
const graph = buildJobGraph({
  steps: [
    { id: 'a', kind: 'wasm', needs: [], retries: 1 },
    { id: 'w', kind: 'wait', needs: [], timeout_ms: 1_000 },
    { id: 'r', kind: 'wasm', needs: [], retries: 2 },
  ],
});

function apply(state: JobState, event: LifecycleEvent): JobState {
  const result = transition(state, event);
  if (!result.ok) throw new Error(result.reason);
  return result.state;
}

const failure = { code: 'provider_error' as const, message: 'down', retryable: true };

/** A state in each status, built only through transitions. */
function stateIn(status: LifecycleStatus): JobState {
  const fresh = initialState(graph, { jobId: 'job', input: null });
  if (status === 'new') return fresh;
  let state = apply(fresh, { type: 'job_started', at: 0 });
  // r failed once and waits for its retry; a still runs: running.
  state = apply(state, { type: 'attempt_failed', at: 1, stepId: 'r', item: null, attempt: 1, error: failure });
  if (status === 'running') return state;
  state = apply(state, { type: 'attempt_succeeded', at: 2, stepId: 'a', item: null, attempt: 1, output: 'A' });
  if (status === 'waiting') return state;
  if (status === 'cancelled') return apply(state, { type: 'job_cancelled', at: 3 });
  if (status === 'failed') return apply(state, { type: 'job_timed_out', at: 3 });
  state = apply(state, { type: 'wait_resumed', at: 3, stepId: 'w', output: 'W' });
  state = apply(state, { type: 'retry_due', at: 4, stepId: 'r', item: null, attempt: 2 });
  return apply(state, { type: 'attempt_succeeded', at: 5, stepId: 'r', item: null, attempt: 2, output: 'R' });
}

/** One event of each type that fits the states above where its pair is allowed. */
const EXEMPLARS: Record<LifecycleEventType, LifecycleEvent> = {
  job_started: { type: 'job_started', at: 10 },
  attempt_succeeded: { type: 'attempt_succeeded', at: 10, stepId: 'a', item: null, attempt: 1, output: 1 },
  attempt_failed: { type: 'attempt_failed', at: 10, stepId: 'a', item: null, attempt: 1, error: failure },
  retry_due: { type: 'retry_due', at: 10, stepId: 'r', item: null, attempt: 2 },
  wait_resumed: { type: 'wait_resumed', at: 10, stepId: 'w', output: 'ok' },
  wait_rejected: { type: 'wait_rejected', at: 10, stepId: 'w', reason: 'no' },
  wait_timed_out: { type: 'wait_timed_out', at: 1_000, stepId: 'w' },
  job_cancelled: { type: 'job_cancelled', at: 10 },
  job_timed_out: { type: 'job_timed_out', at: 10 },
};

describe('every (status, event) pair', () => {
  test('the states are reachable and in the status they claim', () => {
    for (const status of LIFECYCLE_STATUSES) expect(stateIn(status).status).toBe(status);
  });

  const pairs = LIFECYCLE_STATUSES.flatMap((status) => LIFECYCLE_EVENT_TYPES.map((type) => [status, type] as const));

  test('there are 54 pairs, 15 of them allowed', () => {
    expect(pairs).toHaveLength(54);
    expect(pairs.filter(([status, type]) => ALLOWED_EVENTS[status].includes(type))).toHaveLength(15);
  });

  test.each(pairs)('%s + %s', (status, type) => {
    const state = stateIn(status);
    const result = transition(state, EXEMPLARS[type]);
    if (ALLOWED_EVENTS[status].includes(type)) {
      expect(result.ok).toBe(true);
      expect(result.state).not.toBe(state);
      expect(result.commands.length + (result.state.status === state.status ? 0 : 1)).toBeGreaterThan(0);
    } else {
      expect(result).toEqual({ ok: false, state, commands: [], reason: `${type} does not apply to a ${status} job` });
    }
  });
});

describe('allowed pairs refuse events about a unit in another phase', () => {
  const running = stateIn('running');
  test.each<[string, LifecycleEvent, RegExp]>([
    ['a resume for a step that is not a wait', { type: 'wait_resumed', at: 10, stepId: 'a', output: 1 }, /not a wait step/],
    ['a success for a step that is retrying', { type: 'attempt_succeeded', at: 10, stepId: 'r', item: null, attempt: 1, output: 1 }, /retrying, not running/],
    ['a success for an old attempt', { type: 'attempt_failed', at: 10, stepId: 'a', item: null, attempt: 0, error: failure }, /attempt 1, not 0/],
    ['a retry_due for a running step', { type: 'retry_due', at: 10, stepId: 'a', item: null, attempt: 2 }, /running, not retrying/],
    ['an item for a step without for_each', { type: 'attempt_succeeded', at: 10, stepId: 'a', item: 0, attempt: 1, output: 1 }, /has no items/],
    ['an unknown step', { type: 'wait_timed_out', at: 10, stepId: 'nope' }, /no step "nope"/],
  ])('%s', (_, event, reason) => {
    const result = transition(running, event);
    expect(result).toEqual({ ok: false, state: running, commands: [], reason: expect.stringMatching(reason) });
  });

  test('a for_each unit must be named by its item', () => {
    const eachGraph = buildJobGraph({ steps: [{ id: 'e', kind: 'wasm', for_each: '[1, 2]' }] });
    const state = apply(initialState(eachGraph, { jobId: 'j', input: null }), { type: 'job_started', at: 0 });
    const noItem = transition(state, { type: 'attempt_succeeded', at: 1, stepId: 'e', item: null, attempt: 1, output: 1 });
    const pastEnd = transition(state, { type: 'attempt_succeeded', at: 1, stepId: 'e', item: 5, attempt: 1, output: 1 });
    expect(noItem).toMatchObject({ ok: false, reason: expect.stringMatching(/name the item/) });
    expect(pastEnd).toMatchObject({ ok: false, reason: expect.stringMatching(/item 5 of step "e" does not exist/) });
  });
});
