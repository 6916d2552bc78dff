/** What every step type implements: input JSON in, output JSON (and token usage) out, or a MuleError. */
import { unreachable, type AgentPlanStep, type TokenUsage, type WasmPlanStep } from '@mule/core';
import type { Logger } from '@mule/observability';

/** The step kinds that run something (a wait step only waits: the driver handles it). */
export type RunnableStep = AgentPlanStep | WasmPlanStep;

export interface StepContext<Step extends RunnableStep = RunnableStep> {
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
  /** What the step wrote to stderr (a WASM module); absent: none (an agent). */
  logs?: string;
}

export type StepRunner<Step extends RunnableStep = RunnableStep> = (context: StepContext<Step>) => Promise<StepResult>;

/** One runner per step type, each given only steps of its type. */
export type StepRunners = { [Type in RunnableStep['type']]: StepRunner<Extract<RunnableStep, { type: Type }>> };

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
export function stepBackstopMs(step: RunnableStep, timeoutMs: number = step.timeout_ms): number {
  switch (step.type) {
    case 'agent':
      return timeoutMs;
    case 'wasm':
      return timeoutMs + 1000;
    default:
      return unreachable(step);
  }
}
