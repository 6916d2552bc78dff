/**
 * The normalized graph a job runs: what the lifecycle needs of each step, with `needs` already resolved (the
 * list's implicit "the step before") and expressions already compiled. Whoever builds it from a definition checks
 * names and ancestry; `checkGraph` re-checks what the lifecycle itself relies on.
 */
import { MuleError } from '../errors.js';
import type { Condition, Template } from '../expressions/index.js';

export type GraphStepKind = 'agent' | 'wasm' | 'wait';
export type OnError = 'fail' | 'continue';

export const DEFAULT_MAX_PARALLEL = 8;
export const DEFAULT_FOR_EACH_MAX_ITEMS = 100;
export const MAX_FOR_EACH_ITEMS = 1000;
export const DEFAULT_FOR_EACH_CONCURRENCY = 4;

export interface GraphForEach {
  list: Condition;
  /** A longer list fails the step with invalid_request before any item runs (default 100, at most 1000). */
  maxItems: number;
  /** Items of this step running at once (default 4); MAX_PARALLEL still bounds the job. */
  concurrency: number;
}

export interface GraphStep {
  id: string;
  /** Position in the definition's list: the order of every tie (starting, cancelling, the default output). */
  index: number;
  /** Ids of the steps that must finish (completed, failed or skipped) first. */
  needs: readonly string[];
  kind: GraphStepKind;
  if?: Condition;
  forEach?: GraphForEach;
  /** Absent: the job input (no needs), the one need's output, or `{ <id>: output }` of several needs. */
  input?: Template;
  /** Retries after the first attempt, per item for a for_each step; a wait step is never retried. */
  retries: number;
  onError: OnError;
  /** An attempt's time limit; for a wait step, how long it waits. */
  timeoutMs: number;
}

export interface JobGraph {
  /** In list order: `steps[i].index === i`. */
  steps: readonly GraphStep[];
  /** The job's output; absent: the last listed step's output (null if it was skipped or failed). */
  output?: Template;
  /** Running attempts of the whole job, steps and items together. */
  maxParallel: number;
}

/** Refuses a graph the lifecycle could not run to its end: unknown or cyclic needs, a wait with for_each. */
export function checkGraph(graph: JobGraph): void {
  if (graph.steps.length === 0) throw invalid('a workflow has at least one step');
  if (!Number.isInteger(graph.maxParallel) || graph.maxParallel < 1) throw invalid('maxParallel must be at least 1');
  const byId = new Map<string, GraphStep>();
  graph.steps.forEach((step, i) => {
    if (step.index !== i) throw invalid(`step "${step.id}" has index ${step.index}, expected ${i}`);
    if (byId.has(step.id)) throw invalid(`duplicate step id "${step.id}"`, `steps.${i}.id`);
    byId.set(step.id, step);
    if (step.kind === 'wait' && step.forEach) throw invalid(`step "${step.id}": a wait step cannot have for_each`, `steps.${i}.for_each`);
    const each = step.forEach;
    if (each && (each.maxItems < 0 || each.maxItems > MAX_FOR_EACH_ITEMS || each.concurrency < 1)) {
      throw invalid(`step "${step.id}": for_each needs 0..${MAX_FOR_EACH_ITEMS} max items and a concurrency of at least 1`, `steps.${i}.max_items`);
    }
  });
  for (const step of graph.steps) {
    for (const need of step.needs) {
      if (!byId.has(need)) throw invalid(`step "${step.id}" needs "${need}", which is not a step`, `steps.${step.index}.needs`);
    }
  }
  // Kahn's algorithm: every step must become ready once its needs finish.
  const remaining = new Map(graph.steps.map((step) => [step.id, new Set(step.needs)]));
  let progressed = true;
  while (remaining.size > 0 && progressed) {
    progressed = false;
    for (const [id, needs] of remaining) {
      if ([...needs].every((need) => !remaining.has(need))) {
        remaining.delete(id);
        progressed = true;
      }
    }
  }
  if (remaining.size > 0) {
    const first = byId.get(remaining.keys().next().value!)!;
    throw invalid(`steps ${[...remaining.keys()].map((id) => `"${id}"`).join(', ')} need each other in a cycle`, `steps.${first.index}.needs`);
  }
}

/** `param` names the step field at fault (`steps.<index>.<field>`), for errors at definition time. */
function invalid(message: string, param?: string): MuleError {
  return param ? new MuleError('invalid_request', `${param}: ${message}`, { param }) : new MuleError('invalid_request', message);
}
