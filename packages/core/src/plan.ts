/**
 * A job's plan: its workflow version's steps resolved at submit time (module names to the sha256 of their
 * bytes then), so a job runs what it was created with even if the workflow or a module changes later.
 */
import { z } from 'zod';
import { stepTimeoutMs, type WorkflowDefinition } from './definitions.js';
import { MuleError } from './errors.js';

export const planStepSchema = z.object({
  id: z.string(),
  type: z.enum(['agent', 'wasm']),
  /** The agent or module name. */
  name: z.string(),
  /** WASM steps: the module bytes this job runs. */
  sha256: z.string().optional(),
  timeout_ms: z.int(),
  retries: z.int(),
});
export type PlanStep = z.infer<typeof planStepSchema>;

export const jobPlanSchema = z.object({ steps: z.array(planStepSchema).min(1) });
export type JobPlan = z.infer<typeof jobPlanSchema>;

/** Resolves a workflow's steps against the module hashes current now. */
export function buildPlan(workflow: WorkflowDefinition, moduleSha256: ReadonlyMap<string, string>): JobPlan {
  return {
    steps: workflow.steps.map((step) => {
      const base = { id: step.id, timeout_ms: stepTimeoutMs(step), retries: step.retries ?? 0 };
      if (step.wasm !== undefined) {
        const sha256 = moduleSha256.get(step.wasm);
        if (!sha256) throw new MuleError('not_found', `step "${step.id}" names wasm module "${step.wasm}", which does not exist`);
        return { ...base, type: 'wasm' as const, name: step.wasm, sha256 };
      }
      return { ...base, type: 'agent' as const, name: step.agent! };
    }),
  };
}

/** The queue payload: defined once and validated on both sides of the queue. */
export const jobQueuePayloadSchema = z.strictObject({ jobId: z.uuid() });
export type JobQueuePayload = z.infer<typeof jobQueuePayloadSchema>;
