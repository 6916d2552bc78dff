/** What every step kind implements: input JSON in, output JSON (and token usage) out, or a MuleError. */
import type { PlanStep, TokenUsage } from '@mule/core';
import type { Logger } from '@mule/observability';

export interface StepContext {
  jobId: string;
  step: PlanStep;
  input: unknown;
  /** Aborted on cancel, lost claim, or the step's timeout. */
  signal: AbortSignal;
  log: Logger;
}

export interface StepResult {
  output: unknown;
  usage: TokenUsage | null;
}

export type StepRunner = (context: StepContext) => Promise<StepResult>;
