/**
 * A job's plan: its workflow version's steps resolved at submit time (module names to the sha256 of their
 * bytes then), so a job runs what it was created with even if the workflow or a module changes later. A step
 * carries its graph fields (`needs`, `input`, `if`, `for_each`…) exactly as written, and only those it has, so a
 * plain list's plan has the shape plans had before graphs (and plans stored then parse unchanged).
 */
import { z } from 'zod';
import { stepTarget, stepTimeoutMs, type WorkflowDefinition } from './definitions.js';
import { MuleError } from './errors.js';
import { copyGraphFields, graphStepSpec } from './graph-spec.js';
import type { GraphSpec } from './lifecycle/build-graph.js';
import { SHA256_PATTERN } from './names.js';
import { unreachable } from './unreachable.js';

const planStepCommon = {
  id: z.string(),
  /** An attempt's limit; for a wait step, how long it waits. */
  timeout_ms: z.int(),
  retries: z.int(),
  needs: z.array(z.string()).optional(),
  /** A template (any JSON). */
  input: z.unknown().optional(),
  if: z.string().optional(),
  for_each: z.string().optional(),
  max_items: z.int().optional(),
  concurrency: z.int().optional(),
  on_error: z.enum(['fail', 'continue']).optional(),
};

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

export const waitPlanStepSchema = z.object({
  ...planStepCommon,
  type: z.literal('wait'),
  /** The JSON Schema a resume body's `output` must match. */
  schema: z.record(z.string(), z.unknown()).optional(),
});

/** One member per step type, discriminated by `type`: a step type not handled where plans are read fails to compile. */
export const planStepSchema = z.discriminatedUnion('type', [agentPlanStepSchema, wasmPlanStepSchema, waitPlanStepSchema]);
export type AgentPlanStep = z.infer<typeof agentPlanStepSchema>;
export type WasmPlanStep = z.infer<typeof wasmPlanStepSchema>;
export type WaitPlanStep = z.infer<typeof waitPlanStepSchema>;
export type PlanStep = z.infer<typeof planStepSchema>;

export const jobPlanSchema = z.object({
  steps: z.array(planStepSchema).min(1),
  /** The job's output template; absent: the last listed step's output. */
  output: z.unknown().optional(),
});
export type JobPlan = z.infer<typeof jobPlanSchema>;

/** Resolves a workflow's steps against the module hashes current now. */
export function buildPlan(workflow: WorkflowDefinition, moduleSha256: ReadonlyMap<string, string>): JobPlan {
  const plan: JobPlan = {
    steps: workflow.steps.map((step): PlanStep => {
      const base = { id: step.id, timeout_ms: stepTimeoutMs(step), retries: step.retries ?? 0, ...copyGraphFields(step) };
      const target = stepTarget(step);
      switch (target.type) {
        case 'agent':
          return { ...base, type: 'agent', name: target.name };
        case 'wasm': {
          const sha256 = moduleSha256.get(target.name);
          if (!sha256) throw new MuleError('not_found', `step "${step.id}" names wasm module "${target.name}", which does not exist`);
          return { ...base, type: 'wasm', name: target.name, sha256 };
        }
        case 'wait': {
          const schema = 'wait' in step ? step.wait.schema : undefined;
          return schema === undefined ? { ...base, type: 'wait' } : { ...base, type: 'wait', schema };
        }
        default:
          return unreachable(target);
      }
    }),
  };
  if (workflow.output !== undefined) plan.output = workflow.output;
  return plan;
}

/**
 * The lifecycle's spec of a job's graph, from its plan: `buildJobGraph(planGraphSpec(plan))` is the graph the
 * worker runs and the job view shows. `maxParallel`: MULE_JOB_MAX_PARALLEL (the lifecycle's default otherwise).
 */
export function planGraphSpec(plan: JobPlan, maxParallel?: number): GraphSpec {
  const spec: GraphSpec = { steps: plan.steps.map((step) => graphStepSpec(step, step.type, step.timeout_ms)) };
  return {
    ...spec,
    ...(plan.output !== undefined ? { output: plan.output } : {}),
    ...(maxParallel !== undefined ? { max_parallel: maxParallel } : {}),
  };
}

/** The queue payload: defined once and validated on both sides of the queue. */
export const jobQueuePayloadSchema = z.strictObject({ jobId: z.uuid() });
export type JobQueuePayload = z.infer<typeof jobQueuePayloadSchema>;
