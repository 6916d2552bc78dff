/**
 * A step's graph fields as a definition and a plan both hold them, turned into the lifecycle's `GraphStepSpec`:
 * one mapping, so the check at write time and the graph a worker runs are built the same way.
 */
import type { GraphStepKind, OnError } from './lifecycle/graph.js';
import type { GraphStepSpec } from './lifecycle/build-graph.js';

/** The optional fields that make a step list a graph, named as written. */
export interface StepGraphFields {
  needs?: string[] | undefined;
  input?: unknown;
  if?: string | undefined;
  for_each?: string | undefined;
  max_items?: number | undefined;
  concurrency?: number | undefined;
  on_error?: OnError | undefined;
}

export function graphStepSpec(
  step: StepGraphFields & { id: string; retries?: number | undefined },
  kind: GraphStepKind,
  timeoutMs: number,
): GraphStepSpec {
  const spec: GraphStepSpec = { id: step.id, kind, timeout_ms: timeoutMs, retries: step.retries ?? 0 };
  if (step.needs !== undefined) spec.needs = step.needs;
  if (step.input !== undefined) spec.input = step.input;
  if (step.if !== undefined) spec.if = step.if;
  if (step.for_each !== undefined) {
    const each: { list: string; max_items?: number; concurrency?: number } = { list: step.for_each };
    if (step.max_items !== undefined) each.max_items = step.max_items;
    if (step.concurrency !== undefined) each.concurrency = step.concurrency;
    spec.for_each = each;
  }
  if (step.on_error !== undefined) spec.on_error = step.on_error;
  return spec;
}

/** Copies the graph fields a step has (and only those), so a plain list's plan keeps its old shape. */
export function copyGraphFields(step: StepGraphFields): StepGraphFields {
  const copy: StepGraphFields = {};
  for (const key of GRAPH_FIELDS) if (step[key] !== undefined) (copy as Record<string, unknown>)[key] = step[key];
  return copy;
}

const GRAPH_FIELDS = ['needs', 'input', 'if', 'for_each', 'max_items', 'concurrency', 'on_error'] as const satisfies ReadonlyArray<keyof StepGraphFields>;
