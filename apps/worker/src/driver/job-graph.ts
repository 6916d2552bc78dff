/**
 * A job's graph from its plan, rebuilt at every claim (compiling is deterministic) the same way the api's view
 * builds it (core's planGraphSpec), and each runnable step's plan entry for the runners.
 */
import { buildJobGraph, jobPlanSchema, planGraphSpec, type GraphStepKind, type JobGraph } from '@mule/core';
import type { RunnableStep } from '../steps/step-runner.js';

export interface JobProgram {
  graph: JobGraph;
  /** Each step's type as stored on its rows. */
  types: Map<string, GraphStepKind>;
  /** The agent and WASM steps' plan entries, by step id (a wait runs nothing). */
  runnable: Map<string, RunnableStep>;
}

/** `maxParallel`: MULE_JOB_MAX_PARALLEL, the running attempts one job may have. Throws for a plan that cannot run. */
export function jobProgram(rawPlan: unknown, maxParallel: number): JobProgram {
  const plan = jobPlanSchema.parse(rawPlan);
  const graph = buildJobGraph(planGraphSpec(plan, maxParallel));
  const types = new Map<string, GraphStepKind>();
  const runnable = new Map<string, RunnableStep>();
  for (const step of plan.steps) {
    types.set(step.id, step.type);
    if (step.type !== 'wait') runnable.set(step.id, step);
  }
  return { graph, types, runnable };
}
