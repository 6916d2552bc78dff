/** What every step type implements: input JSON in, output JSON (and token usage) out, or a MuleError. */
import { unreachable, type PlanStep, type TokenUsage } from '@mule/core';
import type { Logger } from '@mule/observability';

export interface StepContext<Step extends PlanStep = PlanStep> {
  jobId: string;
  step: Step;
  input: unknown;
  /** Aborted on cancel, lost claim, or the step's timeout. */
  signal: AbortSignal;
  log: Logger;
}

export interface StepResult {
  output: unknown;
  usage: TokenUsage | null;
}

export type StepRunner<Step extends PlanStep = PlanStep> = (context: StepContext<Step>) => Promise<StepResult>;

/** One runner per step type, each given only steps of its type. */
export type StepRunners = { [Type in PlanStep['type']]: StepRunner<Extract<PlanStep, { type: Type }>> };

/** Hands a step to the runner of its type. */
export function runStep(runners: StepRunners, context: StepContext): Promise<StepResult> {
  const { step } = context;
  switch (step.type) {
    case 'agent':
      return runners.agent({ ...context, step });
    case 'wasm':
      return runners.wasm({ ...context, step });
    default:
      return unreachable(step);
  }
}

/**
 * How long the worker lets a step run before its own timer aborts it. A WASM run enforces the step's timeout
 * itself (and reports wasm_timeout); the worker's timer is a backstop 1 s later, so the sandbox's own, more
 * precise error wins.
 */
export function stepBackstopMs(step: PlanStep): number {
  switch (step.type) {
    case 'agent':
      return step.timeout_ms;
    case 'wasm':
      return step.timeout_ms + 1000;
    default:
      return unreachable(step);
  }
}
