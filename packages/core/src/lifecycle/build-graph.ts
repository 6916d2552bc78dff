/**
 * From a workflow's step list (already schema-checked) to the graph the lifecycle runs: implicit needs resolved
 * (the step before; none for the first), expressions compiled, defaults applied, and every `steps.<id>` an
 * expression reads checked to be an ancestor, since only a finished step has an output to read.
 */
import { DEFAULT_AGENT_TIMEOUT_MS, DEFAULT_WASM_TIMEOUT_MS } from '../step-limits.js';
import { MuleError } from '../errors.js';
import { compileCondition, parseTemplate, type Condition, type Template } from '../expressions/index.js';
import {
  checkGraph,
  DEFAULT_FOR_EACH_CONCURRENCY,
  DEFAULT_FOR_EACH_MAX_ITEMS,
  DEFAULT_MAX_PARALLEL,
  type GraphStep,
  type GraphStepKind,
  type JobGraph,
  type OnError,
} from './graph.js';

export interface GraphStepSpec {
  id: string;
  kind: GraphStepKind;
  needs?: readonly string[];
  if?: string;
  for_each?: string | { list: string; max_items?: number; concurrency?: number };
  input?: unknown;
  retries?: number;
  on_error?: OnError;
  /** An attempt's limit; for a wait step (required there), how long it waits. */
  timeout_ms?: number;
}

export interface GraphSpec {
  steps: readonly GraphStepSpec[];
  output?: unknown;
  max_parallel?: number;
}

export function buildJobGraph(spec: GraphSpec): JobGraph {
  const steps = spec.steps.map((step, index): GraphStep => {
    const param = `steps.${index}`;
    const needs = step.needs ?? (index === 0 ? [] : [spec.steps[index - 1]!.id]);
    const built: GraphStep = {
      id: step.id,
      index,
      needs: [...needs],
      kind: step.kind,
      retries: step.retries ?? 0,
      onError: step.on_error ?? 'fail',
      timeoutMs: step.timeout_ms ?? defaultTimeout(step, param),
    };
    if (step.if !== undefined) built.if = compileCondition(step.if, `${param}.if`);
    if (step.for_each !== undefined) {
      const each = typeof step.for_each === 'string' ? { list: step.for_each } : step.for_each;
      built.forEach = {
        list: compileCondition(each.list, `${param}.for_each`),
        maxItems: each.max_items ?? DEFAULT_FOR_EACH_MAX_ITEMS,
        concurrency: each.concurrency ?? DEFAULT_FOR_EACH_CONCURRENCY,
      };
    }
    if (step.input !== undefined) built.input = parseTemplate(step.input, `${param}.input`);
    return built;
  });
  const graph: JobGraph = { steps, maxParallel: spec.max_parallel ?? DEFAULT_MAX_PARALLEL };
  if (spec.output !== undefined) graph.output = parseTemplate(spec.output, 'output');
  checkGraph(graph);
  checkReferences(graph);
  return graph;
}

function defaultTimeout(step: GraphStepSpec, param: string): number {
  if (step.kind === 'agent') return DEFAULT_AGENT_TIMEOUT_MS;
  if (step.kind === 'wasm') return DEFAULT_WASM_TIMEOUT_MS;
  throw new MuleError('invalid_request', `${param}.wait.timeout: a wait step needs a timeout`, { param: `${param}.wait.timeout` });
}

/** Each step reads only its ancestors; `item`/`index` only in a for_each step's input; the output reads any step. */
function checkReferences(graph: JobGraph): void {
  const byId = new Map(graph.steps.map((step) => [step.id, step]));
  const ancestors = new Map<string, Set<string>>();
  const ancestorsOf = (id: string): Set<string> => {
    const known = ancestors.get(id);
    if (known) return known;
    const found = new Set<string>();
    for (const need of byId.get(id)!.needs) {
      found.add(need);
      for (const further of ancestorsOf(need)) found.add(further);
    }
    ancestors.set(id, found);
    return found;
  };
  for (const step of graph.steps) {
    const mine = ancestorsOf(step.id);
    const parts: Array<[string, Condition | Template | undefined, boolean]> = [
      ['if', step.if, false],
      ['for_each', step.forEach?.list, false],
      ['input', step.input, step.forEach !== undefined],
    ];
    for (const [field, compiled, itemAllowed] of parts) {
      if (!compiled) continue;
      const param = `steps.${step.index}.${field}`;
      for (const reference of compiled.references) {
        if (!byId.has(reference.stepId)) throw refuse(param, `reads steps.${reference.stepId}, which is not a step`);
        if (!mine.has(reference.stepId)) {
          throw refuse(param, `reads steps.${reference.stepId}, which "${step.id}" does not need (directly or through its needs)`);
        }
      }
      if (!itemAllowed && (compiled.variables.has('item') || compiled.variables.has('index'))) {
        throw refuse(param, 'item and index exist only in the input of a for_each step');
      }
    }
  }
  for (const reference of graph.output?.references ?? []) {
    if (!byId.has(reference.stepId)) throw refuse('output', `reads steps.${reference.stepId}, which is not a step`);
  }
  if (graph.output?.variables.has('item') || graph.output?.variables.has('index')) {
    throw refuse('output', 'item and index exist only in the input of a for_each step');
  }
}

function refuse(param: string, message: string): MuleError {
  return new MuleError('invalid_request', `${param}: ${message}`, { param });
}
