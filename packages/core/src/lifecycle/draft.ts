/**
 * The working copy one transition changes: a copy of the step map (units copied when touched) plus the commands
 * it emits. Also the step-level rules every event shares: how a unit's end settles its step, how a step's
 * failure follows its on_error, and how the job ends.
 */
import { MuleError, toMuleError } from '../errors.js';
import { evaluateTemplate, type ExpressionContext, type JsonValue } from '../expressions/index.js';
import type { AttemptRef, LifecycleCommand } from './events.js';
import type { GraphStep } from './graph.js';
import { isFinishedStep, type FinishedJobStatus, type JobState, type LifecycleStatus, type StepError, type StepState, type UnitState } from './state.js';

export class Draft {
  readonly steps: Map<string, StepState>;
  readonly commands: LifecycleCommand[] = [];
  status: LifecycleStatus;
  output: JsonValue | undefined;
  error: StepError | undefined;
  failedStep: string | undefined;
  prior: JobState['prior'];

  constructor(
    readonly base: JobState,
    readonly at: number,
  ) {
    this.steps = new Map(base.steps);
    this.status = base.status;
    this.output = base.output;
    this.error = base.error;
    this.failedStep = base.failedStep;
    this.prior = base.prior;
  }

  get graph(): JobState['graph'] {
    return this.base.graph;
  }

  get finished(): boolean {
    return this.status === 'completed' || this.status === 'failed' || this.status === 'cancelled';
  }

  step(id: string): StepState {
    const state = this.steps.get(id);
    if (!state) throw new Error(`no step "${id}" in the state`);
    return state;
  }

  graphStep(id: string): GraphStep {
    const step = this.graph.steps.find((candidate) => candidate.id === id);
    if (!step) throw new Error(`no step "${id}" in the graph`);
    return step;
  }

  /** Replaces one unit of an active step (the step's unit list is copied, never changed in place). */
  setUnit(stepId: string, item: number | null, unit: UnitState): void {
    const state = this.step(stepId);
    if (state.status !== 'active') throw new Error(`step "${stepId}" is not active`);
    const units = [...state.units];
    units[item ?? 0] = unit;
    this.setStep(stepId, { ...state, units });
  }

  /** Counts changes, so the scheduler knows when a pass did nothing. */
  changes = 0;

  setStep(stepId: string, state: StepState): void {
    this.steps.set(stepId, state);
    this.changes += 1;
  }

  emit(command: LifecycleCommand): void {
    this.commands.push(command);
  }

  /** What expressions see: the job input and every finished step. */
  context(extra: { item?: JsonValue; index?: number } = {}): ExpressionContext {
    const steps: Record<string, { output: unknown; status: 'completed' | 'failed' | 'skipped' }> = {};
    for (const [id, state] of this.steps) {
      if (state.status === 'completed') steps[id] = { output: state.output, status: 'completed' };
      else if (state.status === 'failed') steps[id] = { output: null, status: 'failed' };
      else if (state.status === 'skipped') steps[id] = { output: null, status: 'skipped' };
    }
    return { input: this.base.input, steps, ...extra };
  }

  /** After a unit ended: a final failure fails the step (its other units cancelled); all done completes it. */
  settle(stepId: string): void {
    const state = this.step(stepId);
    if (state.status !== 'active') return;
    const failed = state.units.find((unit) => unit.phase === 'failed');
    if (failed?.phase === 'failed') {
      this.cancelUnits([stepId]);
      this.failStep(stepId, failed.error);
      return;
    }
    if (!state.units.every((unit) => unit.phase === 'completed')) return;
    const outputs = state.units.map((unit) => (unit.phase === 'completed' ? unit.output : null));
    this.completeStep(stepId, state.items === null ? outputs[0]! : outputs);
  }

  completeStep(stepId: string, output: JsonValue): void {
    this.setStep(stepId, { status: 'completed', output });
    this.emit({ type: 'complete_step', stepId, output });
  }

  skipStep(stepId: string): void {
    this.setStep(stepId, { status: 'skipped' });
    this.emit({ type: 'skip_step', stepId });
  }

  /** A step failed for good: recorded failed (output null); with on_error fail the job fails with its error. */
  failStep(stepId: string, error: StepError): void {
    this.setStep(stepId, { status: 'failed', error });
    this.emit({ type: 'fail_step', stepId, error });
    if (this.graphStep(stepId).onError === 'fail') this.finishJob('failed', { error, failedStep: stepId });
  }

  /** Running attempts and open waits of these steps (all steps if none given) are cancelled, in graph order. */
  cancelUnits(stepIds?: readonly string[]): void {
    const refs: AttemptRef[] = [];
    for (const step of this.graph.steps) {
      if (stepIds && !stepIds.includes(step.id)) continue;
      const state = this.step(step.id);
      if (state.status !== 'active') continue;
      const units = state.units.map((unit, index): UnitState => {
        const item = state.items === null ? null : index;
        if (unit.phase === 'running') refs.push({ stepId: step.id, item, attempt: unit.attempt });
        else if (unit.phase === 'waiting') refs.push({ stepId: step.id, item, attempt: 1 });
        else if (unit.phase !== 'ready' && unit.phase !== 'retrying') return unit;
        return { phase: 'cancelled' };
      });
      this.setStep(step.id, { ...state, units });
    }
    if (refs.length > 0) this.emit({ type: 'cancel_attempts', attempts: refs });
  }

  finishJob(status: FinishedJobStatus, end: { output?: JsonValue; error?: StepError; failedStep?: string }): void {
    if (this.finished) return;
    if (status !== 'completed') this.cancelUnits();
    this.status = status;
    this.output = end.output;
    this.error = end.error;
    this.failedStep = end.failedStep;
    this.emit({ type: 'finish_job', status, ...end });
  }

  /** Every step finished: the job completes with its output (a failing output template fails it instead). */
  finishIfDone(): void {
    if (this.finished || ![...this.steps.values()].every(isFinishedStep)) return;
    const template = this.graph.output;
    if (template === undefined) {
      const last = this.step(this.graph.steps[this.graph.steps.length - 1]!.id);
      this.finishJob('completed', { output: last.status === 'completed' ? last.output : null });
      return;
    }
    try {
      this.finishJob('completed', { output: evaluateTemplate(template, this.context()) });
    } catch (error) {
      this.finishJob('failed', { error: stepError(error) });
    }
  }

  toState(): JobState {
    return {
      graph: this.graph,
      jobId: this.base.jobId,
      input: this.base.input,
      status: this.status,
      steps: this.steps,
      prior: this.prior,
      ...(this.output !== undefined ? { output: this.output } : {}),
      ...(this.error !== undefined ? { error: this.error } : {}),
      ...(this.failedStep !== undefined ? { failedStep: this.failedStep } : {}),
    };
  }
}

/** A thrown error as a step's error: MuleErrors keep their code, anything else is internal_error. */
export function stepError(error: unknown): StepError {
  const mule = error instanceof MuleError ? error : toMuleError(error);
  return { code: mule.code, message: mule.message, retryable: mule.retryable };
}
