/**
 * A job's plan: its workflow version's steps resolved at submit time (module names to the sha256 of their
 * bytes then), so a job runs what it was created with even if the workflow or a module changes later.
 */
import { z } from 'zod';
import { stepTarget, stepTimeoutMs, type WorkflowDefinition } from './definitions.js';
import { MuleError } from './errors.js';
import { SHA256_PATTERN } from './names.js';
import { unreachable } from './unreachable.js';

const planStepCommon = { id: z.string(), timeout_ms: z.int(), retries: z.int() };

export const agentPlanStepSchema = z.object({
  ...planStepCommon,
  type: z.literal('agent'),
  /** The agent's name (read when the step runs). */
  name: z.string(),
});

export const wasmPlanStepSchema = z.object({
  ...planStepCommon,
  type: z.literal('wasm'),
  /** The module's name, for people reading the plan. */
  name: z.string(),
  /** The module bytes this job runs. */
  sha256: z.string().regex(SHA256_PATTERN),
});

/** One member per step type, discriminated by `type`: a step type not handled where plans are read fails to compile. */
export const planStepSchema = z.discriminatedUnion('type', [agentPlanStepSchema, wasmPlanStepSchema]);
export type AgentPlanStep = z.infer<typeof agentPlanStepSchema>;
export type WasmPlanStep = z.infer<typeof wasmPlanStepSchema>;
export type PlanStep = z.infer<typeof planStepSchema>;

export const jobPlanSchema = z.object({ steps: z.array(planStepSchema).min(1) });
export type JobPlan = z.infer<typeof jobPlanSchema>;

/** Resolves a workflow's steps against the module hashes current now. */
export function buildPlan(workflow: WorkflowDefinition, moduleSha256: ReadonlyMap<string, string>): JobPlan {
  return {
    steps: workflow.steps.map((step): PlanStep => {
      const base = { id: step.id, timeout_ms: stepTimeoutMs(step), retries: step.retries ?? 0 };
      const target = stepTarget(step);
      switch (target.type) {
        case 'agent':
          return { ...base, type: 'agent', name: target.name };
        case 'wasm': {
          const sha256 = moduleSha256.get(target.name);
          if (!sha256) throw new MuleError('not_found', `step "${step.id}" names wasm module "${target.name}", which does not exist`);
          return { ...base, type: 'wasm', name: target.name, sha256 };
        }
        default:
          return unreachable(target);
      }
    }),
  };
}

/** The queue payload: defined once and validated on both sides of the queue. */
export const jobQueuePayloadSchema = z.strictObject({ jobId: z.uuid() });
export type JobQueuePayload = z.infer<typeof jobQueuePayloadSchema>;
