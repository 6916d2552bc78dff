/**
 * A job's graph from its plan, rebuilt at every claim (compiling is deterministic), and each step's plan entry for
 * the runners. The plan is read field by field rather than through the plan schema, so a plan written by a newer
 * api (more step kinds, graph fields) still gives its graph here.
 *
 * TODO(ENG-A's planGraphSpec): replace `graphSpecOf` with core's planGraphSpec(plan) once it lands.
 */
import {
  agentPlanStepSchema,
  buildJobGraph,
  MuleError,
  wasmPlanStepSchema,
  type AgentPlanStep,
  type GraphSpec,
  type GraphStepKind,
  type GraphStepSpec,
  type JobGraph,
  type WasmPlanStep,
} from '@mule/core';

export type RunnablePlanStep = AgentPlanStep | WasmPlanStep;

export interface JobProgram {
  graph: JobGraph;
  /** Each step's type as stored on its rows. */
  types: Map<string, GraphStepKind>;
  /** The agent and WASM steps' plan entries, by step id. */
  runnable: Map<string, RunnablePlanStep>;
}

type RawStep = Record<string, unknown> & { id: string; type: string };

function rawSteps(plan: unknown): RawStep[] {
  const steps = (plan as { steps?: unknown } | null)?.steps;
  if (!Array.isArray(steps) || steps.length === 0) throw new MuleError('internal_error', 'the job plan has no steps');
  return steps as RawStep[];
}

export function graphSpecOf(plan: unknown): GraphSpec {
  const steps = rawSteps(plan).map((step): GraphStepSpec => {
    const spec: GraphStepSpec = { id: step.id, kind: step.type as GraphStepKind };
    if (typeof step['timeout_ms'] === 'number') spec.timeout_ms = step['timeout_ms'];
    if (typeof step['retries'] === 'number') spec.retries = step['retries'];
    if (Array.isArray(step['needs'])) spec.needs = step['needs'] as string[];
    if (step['input'] !== undefined) spec.input = step['input'];
    if (typeof step['if'] === 'string') spec.if = step['if'];
    if (typeof step['for_each'] === 'string') {
      const each: { list: string; max_items?: number; concurrency?: number } = { list: step['for_each'] };
      if (typeof step['max_items'] === 'number') each.max_items = step['max_items'];
      if (typeof step['concurrency'] === 'number') each.concurrency = step['concurrency'];
      spec.for_each = each;
    }
    if (step['on_error'] === 'fail' || step['on_error'] === 'continue') spec.on_error = step['on_error'];
    return spec;
  });
  const output = (plan as { output?: unknown }).output;
  return output === undefined ? { steps } : { steps, output };
}

/** `maxParallel`: MULE_JOB_MAX_PARALLEL, the running attempts one job may have. */
export function jobProgram(plan: unknown, maxParallel: number): JobProgram {
  const graph = buildJobGraph({ ...graphSpecOf(plan), max_parallel: maxParallel });
  const types = new Map<string, GraphStepKind>();
  const runnable = new Map<string, RunnablePlanStep>();
  for (const step of rawSteps(plan)) {
    types.set(step.id, step.type as GraphStepKind);
    if (step.type === 'agent') runnable.set(step.id, agentPlanStepSchema.parse(step));
    else if (step.type === 'wasm') runnable.set(step.id, wasmPlanStepSchema.parse(step));
  }
  return { graph, types, runnable };
}
