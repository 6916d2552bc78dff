import { describe, expect, test } from '@jest/globals';
import type { JsonValue } from '../expressions/index.js';
import {
  buildJobGraph,
  initialState,
  parkPlan,
  transition,
  type AttemptRef,
  type GraphSpec,
  type JobState,
  type LifecycleCommand,
  type LifecycleEvent,
  type PriorAttempt,
  type PriorStep,
} from './index.js';

type EventBody = LifecycleEvent extends infer E ? (E extends LifecycleEvent ? Omit<E, 'at'> : never) : never;
type StartCommand = Extract<LifecycleCommand, { type: 'start_attempt' }>;

/** The driver's side, in memory: feeds events, keeps every command, knows which attempts are running. */
class Sim {
  state: JobState;
  at = 1_000;
  readonly log: LifecycleCommand[] = [];
  readonly running: StartCommand[] = [];

  constructor(spec: GraphSpec, input: JsonValue = { q: 'hi' }, prior: { steps?: PriorStep[]; attempts?: PriorAttempt[] } = {}) {
    this.state = initialState(buildJobGraph(spec), { jobId: 'job-1', input });
    this.send({ type: 'job_started', ...prior });
  }

  /** Sends an event that must apply; returns the commands it produced. */
  send(body: EventBody): LifecycleCommand[] {
    const result = transition(this.state, { ...body, at: this.at } as LifecycleEvent);
    if (!result.ok) throw new Error(`refused: ${result.reason}`);
    this.state = result.state;
    this.log.push(...result.commands);
    for (const command of result.commands) {
      if (command.type === 'start_attempt') this.running.push(command);
      if (command.type === 'cancel_attempts') for (const ref of command.attempts) this.drop(ref);
    }
    return result.commands;
  }

  refused(body: EventBody): string {
    const result = transition(this.state, { ...body, at: this.at } as LifecycleEvent);
    if (result.ok) throw new Error('expected a refusal');
    expect(result.state).toBe(this.state);
    return result.reason;
  }

  private drop(ref: AttemptRef): void {
    const i = this.running.findIndex((r) => r.stepId === ref.stepId && r.item === ref.item && r.attempt === ref.attempt);
    if (i >= 0) this.running.splice(i, 1);
  }

  private take(stepId: string, item: number | null): StartCommand {
    const found = this.running.find((r) => r.stepId === stepId && r.item === item);
    if (!found) throw new Error(`${stepId}[${item}] is not running (running: ${this.runningIds().join(', ')})`);
    this.drop(found);
    return found;
  }

  succeed(stepId: string, output: JsonValue = `${stepId}-out`, item: number | null = null): LifecycleCommand[] {
    const { attempt } = this.take(stepId, item);
    return this.send({ type: 'attempt_succeeded', stepId, item, attempt, output });
  }

  fail(stepId: string, code: 'provider_error' | 'wasm_trap' | 'invalid_request' = 'provider_error', item: number | null = null): LifecycleCommand[] {
    const { attempt } = this.take(stepId, item);
    const retryable = code !== 'invalid_request';
    return this.send({ type: 'attempt_failed', stepId, item, attempt, error: { code, message: `${stepId} broke`, retryable } });
  }

  /** Answers every running attempt, first started first, until none runs. */
  drain(output: (start: StartCommand) => JsonValue = (s) => `${s.stepId}${s.item === null ? '' : `[${s.item}]`}-out`): void {
    while (this.running.length > 0) {
      const start = this.running[0]!;
      this.succeed(start.stepId, output(start), start.item);
    }
  }

  runningIds(): string[] {
    return this.running.map((r) => (r.item === null ? r.stepId : `${r.stepId}[${r.item}]`));
  }

  starts(stepId?: string): StartCommand[] {
    return this.log.filter((c): c is StartCommand => c.type === 'start_attempt' && (stepId === undefined || c.stepId === stepId));
  }

  of<T extends LifecycleCommand['type']>(type: T): Array<Extract<LifecycleCommand, { type: T }>> {
    return this.log.filter((c): c is Extract<LifecycleCommand, { type: T }> => c.type === type);
  }

  finish(): Extract<LifecycleCommand, { type: 'finish_job' }> | undefined {
    return this.of('finish_job')[0];
  }
}

const wasm = (id: string, extra: Partial<GraphSpec['steps'][number]> = {}) => ({ id, kind: 'wasm' as const, ...extra });
const wait = (id: string, extra: Partial<GraphSpec['steps'][number]> = {}) => ({ id, kind: 'wait' as const, timeout_ms: 60_000, ...extra });

describe('a plain list keeps its meaning', () => {
  test('each step gets the previous output, the job the last one', () => {
    const sim = new Sim({ steps: [wasm('a'), wasm('b'), wasm('c')] }, 'start');
    expect(sim.runningIds()).toEqual(['a']);
    expect(sim.starts('a')[0]!.input).toBe('start');
    sim.succeed('a', { n: 1 });
    expect(sim.starts('b')[0]!.input).toEqual({ n: 1 });
    sim.succeed('b', 2);
    sim.succeed('c', 'done');
    expect(sim.finish()).toEqual({ type: 'finish_job', status: 'completed', output: 'done' });
    expect(sim.state.status).toBe('completed');
  });
});

describe('parallel steps and joins', () => {
  const spec: GraphSpec = {
    steps: [wasm('a', { needs: [] }), wasm('b', { needs: [] }), wasm('c', { needs: [] }), wasm('join', { needs: ['a', 'b', 'c'] })],
  };

  test('steps without needs start together; a join with several needs starts exactly once, with all outputs', () => {
    const sim = new Sim(spec);
    expect(sim.runningIds()).toEqual(['a', 'b', 'c']);
    sim.succeed('c', 3);
    sim.succeed('a', 1);
    expect(sim.starts('join')).toHaveLength(0);
    sim.succeed('b', 2);
    expect(sim.starts('join')).toHaveLength(1);
    expect(sim.starts('join')[0]!.input).toEqual({ a: 1, b: 2, c: 3 });
    sim.succeed('join', 'j');
    expect(sim.starts('join')).toHaveLength(1);
    expect(sim.finish()?.output).toBe('j');
  });

  test('a duplicate success for a finished attempt is refused, so the join cannot start twice', () => {
    const sim = new Sim(spec);
    sim.succeed('a');
    sim.succeed('b');
    const late = { type: 'attempt_succeeded' as const, stepId: 'b', item: null, attempt: 1, output: 'again' };
    expect(sim.refused(late)).toMatch(/completed/);
    sim.succeed('c');
    expect(sim.refused(late)).toMatch(/completed/);
    expect(sim.starts('join')).toHaveLength(1);
  });

  test('MAX_PARALLEL bounds running steps; the next in list order starts as one finishes', () => {
    const steps = Array.from({ length: 6 }, (_, i) => wasm(`s${i}`, { needs: [] }));
    const sim = new Sim({ steps, max_parallel: 2 });
    expect(sim.runningIds()).toEqual(['s0', 's1']);
    sim.succeed('s1');
    expect(sim.runningIds()).toEqual(['s0', 's2']);
    sim.drain();
    expect(sim.starts().map((s) => s.stepId)).toEqual(['s0', 's1', 's2', 's3', 's4', 's5']);
    expect(sim.finish()?.status).toBe('completed');
  });

  test('MAX_PARALLEL counts items and steps together; each for_each keeps its own concurrency', () => {
    const sim = new Sim({
      steps: [wasm('each', { needs: [], for_each: { list: '[1,2,3,4,5,6]', concurrency: 2 } }), wasm('other', { needs: [] }), wasm('more', { needs: [] })],
      max_parallel: 3,
    });
    expect(sim.runningIds()).toEqual(['each[0]', 'each[1]', 'other']);
    sim.succeed('other');
    expect(sim.runningIds()).toEqual(['each[0]', 'each[1]', 'more']);
    sim.succeed('each', 'x', 0);
    expect(sim.runningIds()).toEqual(['each[1]', 'more', 'each[2]']);
  });
});

describe('if: a skipped step does not run, its dependents do', () => {
  test('skipped output is null and the dependent can test its status', () => {
    const sim = new Sim({
      steps: [wasm('a'), wasm('maybe', { if: 'steps.a.output == "go"' }), wasm('after', { input: '${{ steps.maybe.status }}' })],
    });
    sim.succeed('a', 'stop');
    expect(sim.of('skip_step')).toEqual([{ type: 'skip_step', stepId: 'maybe' }]);
    expect(sim.starts('after')[0]!.input).toBe('skipped');
    sim.succeed('after');
    expect(sim.starts('maybe')).toHaveLength(0);
  });

  test('the last step skipped gives the job a null output', () => {
    const sim = new Sim({ steps: [wasm('a'), wasm('b', { if: 'false' })] });
    sim.succeed('a');
    expect(sim.finish()).toEqual({ type: 'finish_job', status: 'completed', output: null });
  });

  test('a branch joins again: one side skipped, the join runs once', () => {
    const sim = new Sim({
      steps: [
        wasm('route'),
        wasm('left', { needs: ['route'], if: 'steps.route.output == "left"' }),
        wasm('right', { needs: ['route'], if: 'steps.route.output == "right"' }),
        wasm('join', { needs: ['left', 'right'], input: '${{ steps.left.status == "completed" ? steps.left.output : steps.right.output }}' }),
      ],
    });
    sim.succeed('route', 'right');
    expect(sim.runningIds()).toEqual(['right']);
    sim.succeed('right', 'R');
    expect(sim.starts('join').map((s) => s.input)).toEqual(['R']);
  });

  test('a skipped wait step never parks the job', () => {
    const sim = new Sim({ steps: [wasm('a'), wait('approve', { if: 'steps.a.output.risky' }), wasm('b')] });
    sim.succeed('a', { risky: false });
    expect(sim.of('park_for_wait')).toEqual([]);
    expect(sim.state.status).toBe('running');
    expect(sim.runningIds()).toEqual(['b']);
    expect(parkPlan(sim.state, sim.at).park).toBe(false);
  });

  test('an if that fails to evaluate fails its step with expression_error', () => {
    const sim = new Sim({ steps: [wasm('a'), wasm('b', { if: 'steps.a.output.nope' })] });
    sim.succeed('a', {});
    expect(sim.finish()).toMatchObject({ status: 'failed', failedStep: 'b', error: { code: 'expression_error' } });
  });
});

describe('wait steps', () => {
  const approval: GraphSpec = {
    steps: [wasm('start'), wait('approve', { needs: ['start'] }), wasm('draft', { needs: ['start'] }), wasm('publish', { needs: ['approve', 'draft'] })],
  };

  test('an approval inside a parallel branch cannot be bypassed: the join waits for the resume', () => {
    const sim = new Sim(approval);
    sim.succeed('start');
    expect(sim.of('park_for_wait')).toEqual([{ type: 'park_for_wait', stepId: 'approve', input: 'start-out', timeoutAt: sim.at + 60_000 }]);
    expect(sim.runningIds()).toEqual(['draft']);
    sim.succeed('draft');
    expect(sim.starts('publish')).toHaveLength(0);
    expect(sim.state.status).toBe('waiting');
    expect(sim.finish()).toBeUndefined();
    expect(parkPlan(sim.state, sim.at)).toMatchObject({ park: true, wakeAt: sim.at + 60_000 });
    sim.send({ type: 'wait_resumed', stepId: 'approve', output: { ok: true } });
    expect(sim.starts('publish')[0]!.input).toEqual({ approve: { ok: true }, draft: 'draft-out' });
  });

  test('a rejection fails the step with rejected; with on_error fail the job fails', () => {
    const sim = new Sim(approval);
    sim.succeed('start');
    sim.send({ type: 'wait_rejected', stepId: 'approve', reason: 'no budget' });
    expect(sim.finish()).toEqual({ type: 'finish_job', status: 'failed', failedStep: 'approve', error: { code: 'rejected', message: 'no budget', retryable: false } });
    expect(sim.of('cancel_attempts')).toEqual([{ type: 'cancel_attempts', attempts: [{ stepId: 'draft', item: null, attempt: 1 }] }]);
  });

  test('a timed-out wait with on_error continue lets the join run and see the failure', () => {
    const spec: GraphSpec = { steps: [...approval.steps.slice(0, 1), wait('approve', { needs: ['start'], on_error: 'continue' }), ...approval.steps.slice(2)] };
    const sim = new Sim(spec);
    sim.succeed('start');
    sim.succeed('draft');
    const { timeoutAt } = sim.of('park_for_wait')[0]!;
    // A timer that fires before the deadline is refused and changes nothing.
    sim.at = timeoutAt - 1;
    expect(sim.refused({ type: 'wait_timed_out', stepId: 'approve' })).toMatch(/not due until/);
    sim.at = timeoutAt;
    sim.send({ type: 'wait_timed_out', stepId: 'approve' });
    expect(sim.of('fail_step')[0]).toMatchObject({ stepId: 'approve', error: { code: 'wait_timeout' } });
    expect(sim.starts('publish')[0]!.input).toEqual({ approve: null, draft: 'draft-out' });
  });

  test('a resume for a step that is not waiting is refused', () => {
    const sim = new Sim(approval);
    expect(sim.refused({ type: 'wait_resumed', stepId: 'approve', output: 1 })).toMatch(/pending, not active/);
    expect(sim.refused({ type: 'wait_resumed', stepId: 'start', output: 1 })).toMatch(/not a wait step/);
    sim.succeed('start');
    sim.send({ type: 'wait_resumed', stepId: 'approve', output: 1 });
    expect(sim.refused({ type: 'wait_resumed', stepId: 'approve', output: 2 })).toMatch(/completed/);
  });

  test('cancel while waiting closes the wait and ends the job cancelled', () => {
    const sim = new Sim({ steps: [wait('approve'), wasm('b')] });
    expect(sim.state.status).toBe('waiting');
    sim.send({ type: 'job_cancelled' });
    expect(sim.log.slice(-2)).toEqual([
      { type: 'cancel_attempts', attempts: [{ stepId: 'approve', item: null, attempt: 1 }] },
      { type: 'finish_job', status: 'cancelled' },
    ]);
    expect(sim.refused({ type: 'wait_resumed', stepId: 'approve', output: 1 })).toMatch(/cancelled job/);
  });
});

describe('for_each', () => {
  test('items run with their own input; the output is the items in item order, whatever order they finish in', () => {
    const sim = new Sim({ steps: [wasm('each', { for_each: 'input.list', input: { n: '${{ item }}', i: '${{ index }}' } }), wasm('after')] }, { list: [10, 20, 30] });
    expect(sim.starts('each').map((s) => s.input)).toEqual([{ n: 10, i: 0 }, { n: 20, i: 1 }, { n: 30, i: 2 }]);
    sim.succeed('each', 'c', 2);
    sim.succeed('each', 'a', 0);
    sim.succeed('each', 'b', 1);
    expect(sim.of('complete_step')[0]).toEqual({ type: 'complete_step', stepId: 'each', output: ['a', 'b', 'c'] });
    expect(sim.starts('after')[0]!.input).toEqual(['a', 'b', 'c']);
  });

  test('without input each item gets the item itself', () => {
    const sim = new Sim({ steps: [wasm('each', { for_each: '${{ ["x", "y"] }}' })] });
    expect(sim.starts().map((s) => s.input)).toEqual(['x', 'y']);
  });

  test('a for_each over 0 items completes at once with []', () => {
    const sim = new Sim({ steps: [wasm('each', { for_each: '[]' }), wasm('after')] });
    expect(sim.of('complete_step')).toEqual([{ type: 'complete_step', stepId: 'each', output: [] }]);
    expect(sim.starts('each')).toHaveLength(0);
    expect(sim.starts('after')[0]!.input).toEqual([]);
  });

  test('a for_each over its bound fails with invalid_request before any item starts', () => {
    const sim = new Sim({ steps: [wasm('each', { for_each: { list: 'input', max_items: 2 } })] }, [1, 2, 3]);
    expect(sim.starts()).toHaveLength(0);
    expect(sim.finish()).toMatchObject({ status: 'failed', failedStep: 'each', error: { code: 'invalid_request' } });
  });

  test('a for_each list that is not a list fails its step with expression_error', () => {
    const sim = new Sim({ steps: [wasm('each', { for_each: 'input' })] }, 'text');
    expect(sim.finish()).toMatchObject({ status: 'failed', error: { code: 'expression_error' } });
  });

  test('retrying one item does not rerun the finished items', () => {
    const sim = new Sim({ steps: [wasm('each', { for_each: '[1, 2, 3]', retries: 2 })] });
    sim.succeed('each', 'A', 0);
    sim.succeed('each', 'C', 2);
    const retry = sim.fail('each', 'provider_error', 1);
    expect(retry).toEqual([expect.objectContaining({ type: 'schedule_retry', stepId: 'each', item: 1, attempt: 2 })]);
    sim.send({ type: 'retry_due', stepId: 'each', item: 1, attempt: 2 });
    expect(sim.starts().map((s) => [s.item, s.attempt])).toEqual([[0, 1], [1, 1], [2, 1], [1, 2]]);
    sim.succeed('each', 'B', 1);
    expect(sim.finish()).toEqual({ type: 'finish_job', status: 'completed', output: ['A', 'B', 'C'] });
  });

  test('an item that fails for good fails the step and cancels its running siblings', () => {
    const sim = new Sim({ steps: [wasm('each', { for_each: '[1, 2, 3]', on_error: 'continue' }), wasm('after', { input: '${{ steps.each.status }}' })] });
    sim.fail('each', 'invalid_request', 1);
    expect(sim.of('cancel_attempts')).toEqual([{ type: 'cancel_attempts', attempts: [{ stepId: 'each', item: 0, attempt: 1 }, { stepId: 'each', item: 2, attempt: 1 }] }]);
    expect(sim.of('fail_step')).toEqual([{ type: 'fail_step', stepId: 'each', error: { code: 'invalid_request', message: 'each broke', retryable: false } }]);
    expect(sim.starts('after')[0]!.input).toBe('failed');
  });

  test('an item whose input fails to evaluate fails the step, not the worker', () => {
    const sim = new Sim({ steps: [wasm('each', { for_each: '[{"a": 1}, {}]', input: '${{ item.a }}' })] });
    expect(sim.finish()).toMatchObject({ status: 'failed', error: { code: 'expression_error' } });
    expect(sim.of('cancel_attempts')[0]!.attempts).toEqual([{ stepId: 'each', item: 0, attempt: 1 }]);
  });
});

describe('retries', () => {
  test('a retryable failure is retried after a backoff, then succeeds', () => {
    const sim = new Sim({ steps: [wasm('a', { retries: 2 })] });
    const [retry] = sim.fail('a') as [Extract<LifecycleCommand, { type: 'schedule_retry' }>];
    expect(retry).toMatchObject({ type: 'schedule_retry', stepId: 'a', item: null, attempt: 2 });
    expect(retry.delayMs).toBeGreaterThanOrEqual(125);
    expect(retry.delayMs).toBeLessThanOrEqual(250);
    expect(sim.state.status).toBe('waiting');
    expect(parkPlan(sim.state, sim.at)).toMatchObject({ park: false, wakeAt: retry.dueAt });
    expect(sim.refused({ type: 'retry_due', stepId: 'a', item: null, attempt: 3 })).toMatch(/attempt 2, not 3/);
    sim.send({ type: 'retry_due', stepId: 'a', item: null, attempt: 2 });
    expect(sim.runningIds()).toEqual(['a']);
    sim.succeed('a', 'ok');
    expect(sim.finish()?.output).toBe('ok');
  });

  test('retries spent: the last error fails the job', () => {
    const sim = new Sim({ steps: [wasm('a', { retries: 1 })] });
    sim.fail('a');
    sim.send({ type: 'retry_due', stepId: 'a', item: null, attempt: 2 });
    sim.fail('a', 'wasm_trap');
    expect(sim.finish()).toMatchObject({ status: 'failed', error: { code: 'wasm_trap' } });
  });

  test('a failure that cannot succeed again is not retried', () => {
    const sim = new Sim({ steps: [wasm('a', { retries: 5 })] });
    sim.fail('a', 'invalid_request');
    expect(sim.of('schedule_retry')).toEqual([]);
    expect(sim.finish()?.status).toBe('failed');
  });

  test('a backoff past 5 s parks the job; the delay is the same for the same job every time', () => {
    const build = () => {
      const sim = new Sim({ steps: [wasm('a', { retries: 8 })] });
      // The 7th failure's backoff is 8 to 16 s (250 ms doubled six times, jitter over the upper half).
      for (let attempt = 1; attempt <= 7; attempt += 1) {
        sim.fail('a');
        if (attempt < 7) sim.send({ type: 'retry_due', stepId: 'a', item: null, attempt: attempt + 1 });
      }
      return sim;
    };
    const sim = build();
    const last = sim.of('schedule_retry').at(-1)!;
    expect(last.delayMs).toBeGreaterThan(5_000);
    expect(parkPlan(sim.state, sim.at)).toMatchObject({ park: true, wakeAt: last.dueAt });
    expect(build().log).toEqual(sim.log);
  });
});

describe('failure and cancellation', () => {
  const wide: GraphSpec = { steps: [wasm('a', { needs: [] }), wasm('b', { needs: [] }), wasm('c', { needs: [] }), wasm('d', { needs: ['a', 'b', 'c'] })] };

  test('on_error fail cancels what still runs and ends the job with that step error', () => {
    const sim = new Sim(wide);
    sim.fail('b', 'invalid_request');
    expect(sim.log.slice(-3)).toEqual([
      { type: 'fail_step', stepId: 'b', error: { code: 'invalid_request', message: 'b broke', retryable: false } },
      { type: 'cancel_attempts', attempts: [{ stepId: 'a', item: null, attempt: 1 }, { stepId: 'c', item: null, attempt: 1 }] },
      { type: 'finish_job', status: 'failed', failedStep: 'b', error: { code: 'invalid_request', message: 'b broke', retryable: false } },
    ]);
    expect(sim.refused({ type: 'attempt_succeeded', stepId: 'a', item: null, attempt: 1, output: 1 })).toMatch(/failed job/);
  });

  test('on_error continue records the step failed with output null and goes on', () => {
    const sim = new Sim({ steps: [wasm('a', { on_error: 'continue' }), wasm('b')] });
    sim.fail('a', 'invalid_request');
    expect(sim.starts('b')[0]!.input).toBeNull();
    sim.succeed('b', 'fine');
    expect(sim.finish()).toEqual({ type: 'finish_job', status: 'completed', output: 'fine' });
  });

  test('cancel stops every running step, retry and wait', () => {
    const sim = new Sim({ steps: [wasm('a', { needs: [] }), wasm('b', { needs: [], retries: 3 }), wait('w', { needs: [] })] });
    sim.fail('b');
    sim.send({ type: 'job_cancelled' });
    expect(sim.log.slice(-2)).toEqual([
      { type: 'cancel_attempts', attempts: [{ stepId: 'a', item: null, attempt: 1 }, { stepId: 'w', item: null, attempt: 1 }] },
      { type: 'finish_job', status: 'cancelled' },
    ]);
    expect(sim.refused({ type: 'retry_due', stepId: 'b', item: null, attempt: 2 })).toMatch(/cancelled job/);
  });

  test('the job time limit fails the job with job_timeout', () => {
    const sim = new Sim(wide);
    sim.send({ type: 'job_timed_out' });
    expect(sim.finish()).toMatchObject({ status: 'failed', error: { code: 'job_timeout' } });
    expect(sim.of('cancel_attempts')[0]!.attempts.map((a) => a.stepId)).toEqual(['a', 'b', 'c']);
  });

  test('an output template that fails to evaluate fails the job with expression_error', () => {
    const sim = new Sim({ steps: [wasm('a')], output: '${{ steps.a.output.missing }}' });
    sim.succeed('a', {});
    expect(sim.finish()).toMatchObject({ status: 'failed', error: { code: 'expression_error' } });
  });

  test('an output template shapes the job output', () => {
    const sim = new Sim({ steps: [wasm('a'), wasm('b', { if: 'false' })], output: { a: '${{ steps.a.output }}', b: '${{ steps.b.status }}' } });
    sim.succeed('a', 1);
    expect(sim.finish()?.output).toEqual({ a: 1, b: 'skipped' });
  });
});

describe('takeover and resume: job_started with what the rows say', () => {
  test('completed steps are not run again; an attempt a dead worker left is run again at once, spending no retry', () => {
    const sim = new Sim({ steps: [wasm('a'), wasm('b'), wasm('c')] }, 'in', {
      steps: [{ stepId: 'a', status: 'completed', output: 'A' }],
      attempts: [
        { stepId: 'a', item: null, attempt: 1, status: 'completed', output: 'A' },
        { stepId: 'b', item: null, attempt: 1, status: 'failed', error: { code: 'unavailable', message: 'worker died', retryable: true }, finishedAt: 900 },
      ],
    });
    expect(sim.of('schedule_retry')).toEqual([]);
    expect(sim.starts('b')).toEqual([expect.objectContaining({ attempt: 2, input: 'A' })]);
    sim.fail('b', 'wasm_trap');
    // retries: 0, so a failure of its own ends the step.
    expect(sim.finish()).toMatchObject({ status: 'failed', error: { code: 'wasm_trap' } });
  });

  test('a row still marked running is run again as the next attempt, even without retries', () => {
    const sim = new Sim({ steps: [wasm('a')] }, 'in', { attempts: [{ stepId: 'a', item: null, attempt: 1, status: 'running' }] });
    expect(sim.starts('a')).toEqual([expect.objectContaining({ attempt: 2 })]);
    sim.succeed('a', 'A');
    expect(sim.finish()).toMatchObject({ status: 'completed', output: 'A' });
  });

  test('a failure of its own is retried with backoff from when it failed, not from the takeover', () => {
    const sim = new Sim({ steps: [wasm('a'), wasm('b', { retries: 1 })] }, 'in', {
      steps: [{ stepId: 'a', status: 'completed', output: 'A' }],
      attempts: [
        { stepId: 'a', item: null, attempt: 1, status: 'completed', output: 'A' },
        { stepId: 'b', item: null, attempt: 1, status: 'failed', error: { code: 'wasm_trap', message: 'trap', retryable: true }, finishedAt: 900 },
      ],
    });
    expect(sim.starts()).toEqual([]);
    expect(sim.of('schedule_retry')).toEqual([expect.objectContaining({ stepId: 'b', attempt: 2 })]);
    expect(sim.of('schedule_retry')[0]!.dueAt).toBeLessThan(900 + 251);
    sim.send({ type: 'retry_due', stepId: 'b', item: null, attempt: 2 });
    expect(sim.starts('b')[0]).toMatchObject({ attempt: 2, input: 'A' });
  });

  test('a completed attempt whose step row was not yet written completes the step without running it', () => {
    const sim = new Sim({ steps: [wasm('a'), wasm('b')] }, 'in', { attempts: [{ stepId: 'a', item: null, attempt: 1, status: 'completed', output: 'A' }] });
    expect(sim.of('complete_step')).toEqual([{ type: 'complete_step', stepId: 'a', output: 'A' }]);
    expect(sim.runningIds()).toEqual(['b']);
  });

  test('after some items finished only the others run, and the output keeps item order', () => {
    const sim = new Sim({ steps: [wasm('each', { for_each: '[1, 2, 3, 4]', retries: 1 })] }, null, {
      attempts: [
        { stepId: 'each', item: 0, attempt: 1, status: 'completed', output: 'A' },
        { stepId: 'each', item: 2, attempt: 1, status: 'completed', output: 'C' },
        { stepId: 'each', item: 3, attempt: 1, status: 'running' },
      ],
    });
    // Item 3 was interrupted: it runs again at once as attempt 2, beside item 1's first attempt.
    expect(sim.runningIds()).toEqual(['each[1]', 'each[3]']);
    expect(sim.of('schedule_retry')).toEqual([]);
    sim.succeed('each', 'B', 1);
    sim.succeed('each', 'D', 3);
    expect(sim.finish()?.output).toEqual(['A', 'B', 'C', 'D']);
    expect(sim.starts().map((s) => [s.item, s.attempt])).toEqual([[1, 1], [3, 2]]);
  });

  test('a parked wait re-arms with its stored deadline; a wait the api already resumed continues', () => {
    const spec: GraphSpec = { steps: [wasm('a'), wait('approve'), wasm('b')] };
    const waiting = new Sim(spec, 'in', {
      steps: [{ stepId: 'a', status: 'completed', output: 'A' }],
      attempts: [{ stepId: 'approve', item: null, attempt: 1, status: 'waiting', timeoutAt: 5_000 }],
    });
    expect(waiting.of('park_for_wait')).toEqual([{ type: 'park_for_wait', stepId: 'approve', input: 'A', timeoutAt: 5_000 }]);
    expect(waiting.state.status).toBe('waiting');
    const resumed = new Sim(spec, 'in', {
      steps: [{ stepId: 'a', status: 'completed', output: 'A' }],
      attempts: [{ stepId: 'approve', item: null, attempt: 1, status: 'completed', output: { yes: true } }],
    });
    expect(resumed.of('park_for_wait')).toEqual([]);
    expect(resumed.starts('b')[0]!.input).toEqual({ yes: true });
  });

  test('a step row already failed under on_error fail ends the job at once', () => {
    const sim = new Sim({ steps: [wasm('a'), wasm('b')] }, 'in', { steps: [{ stepId: 'a', status: 'failed', error: { code: 'wasm_trap', message: 'trap' } }] });
    expect(sim.log).toEqual([{ type: 'finish_job', status: 'failed', failedStep: 'a', error: { code: 'wasm_trap', message: 'trap' } }]);
  });

  test('rows naming a step the graph does not have are refused', () => {
    const state = initialState(buildJobGraph({ steps: [wasm('a')] }), { jobId: 'j', input: null });
    const result = transition(state, { type: 'job_started', at: 0, steps: [{ stepId: 'zz', status: 'skipped' }] });
    expect(result).toMatchObject({ ok: false, reason: expect.stringMatching(/no step "zz"/) });
  });
});

describe('scale and determinism', () => {
  test('a 200-step graph (a chain of fan-outs and joins) runs every step exactly once, within MAX_PARALLEL', () => {
    const steps: GraphSpec['steps'][number][] = [];
    for (let group = 0; group < 40; group += 1) {
      const prev = group === 0 ? [] : [`join${group - 1}`];
      for (let k = 0; k < 4; k += 1) steps.push(wasm(`g${group}s${k}`, { needs: prev }));
      steps.push(wasm(`join${group}`, { needs: [0, 1, 2, 3].map((k) => `g${group}s${k}`) }));
    }
    const sim = new Sim({ steps, max_parallel: 3 });
    let peak = 0;
    while (sim.running.length > 0) {
      peak = Math.max(peak, sim.running.length);
      const next = sim.running[sim.running.length - 1]!;
      sim.succeed(next.stepId);
    }
    expect(steps).toHaveLength(200);
    expect(peak).toBe(3);
    const started = sim.starts().map((s) => s.stepId);
    expect(new Set(started).size).toBe(200);
    expect(started).toHaveLength(200);
    expect(sim.finish()).toEqual({ type: 'finish_job', status: 'completed', output: 'join39-out' });
  });

  test('the same events give the same commands and states', () => {
    const play = () => {
      const sim = new Sim({ steps: [wasm('a', { needs: [], retries: 2 }), wasm('each', { needs: [], for_each: '[1,2,3]' }), wasm('j', { needs: ['a', 'each'] })] });
      sim.fail('a');
      sim.send({ type: 'retry_due', stepId: 'a', item: null, attempt: 2 });
      sim.drain();
      return sim;
    };
    const first = play();
    expect(play().log).toEqual(first.log);
    expect(first.finish()?.status).toBe('completed');
  });

  test('a transition never changes the state it was given', () => {
    const sim = new Sim({ steps: [wasm('each', { for_each: '[1,2]' })] });
    const before = sim.state;
    const snapshot = JSON.stringify([...before.steps]);
    sim.succeed('each', 'x', 0);
    expect(JSON.stringify([...before.steps])).toBe(snapshot);
    expect(sim.state).not.toBe(before);
  });
});

describe('buildJobGraph refuses graphs that could not run (invalid_request)', () => {
  test.each<[string, GraphSpec]>([
    ['an unknown need', { steps: [wasm('a', { needs: ['nope'] })] }],
    ['a cycle', { steps: [wasm('a', { needs: ['b'] }), wasm('b', { needs: ['a'] })] }],
    ['a duplicate id', { steps: [wasm('a'), wasm('a')] }],
    ['a read of a step that is not an ancestor', { steps: [wasm('a', { needs: [] }), wasm('b', { needs: [], input: '${{ steps.a.output }}' })] }],
    ['a read of a later step', { steps: [wasm('a', { if: 'steps.b.status == "completed"' }), wasm('b')] }],
    ['item outside a for_each', { steps: [wasm('a', { input: '${{ item }}' })] }],
    ['item in a for_each list', { steps: [wasm('a', { for_each: '[item]' })] }],
    ['a wait with for_each', { steps: [wait('w', { for_each: '[1]' })] }],
    ['a wait without a timeout', { steps: [{ id: 'w', kind: 'wait' }] }],
    ['max_items over 1000', { steps: [wasm('a', { for_each: { list: '[]', max_items: 1001 } })] }],
    ['a bad expression', { steps: [wasm('a', { input: '${{ 1 + }}' })] }],
  ])('%s', (_, spec) => {
    expect(() => buildJobGraph(spec)).toThrow(expect.objectContaining({ code: 'invalid_request' }));
  });

  test('reads through a chain of needs are ancestors', () => {
    expect(() => buildJobGraph({ steps: [wasm('a'), wasm('b'), wasm('c', { input: '${{ steps.a.output }}' })] })).not.toThrow();
  });
});
