/** An AGENT step. Agents arrive with packages/agents (issue 4); until then such a step fails clearly. */
import { MuleError } from '@mule/core';
import type { StepRunner } from './step-runner.js';

export function agentStep(): StepRunner {
  return async ({ step }) => {
    throw new MuleError('internal_error', `agent steps are not available in this build (step "${step.id}")`, { retryable: false });
  };
}
