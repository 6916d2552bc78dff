/**
 * The workflow definition: its steps (an AGENT, WASM or WAIT step each) and the optional fields that make the
 * list a graph (`needs`, `input`, `if`, `for_each`, `output`…). Everything that can be known before a job runs is
 * checked here, when the definition is written: the step fields one by one, then the whole graph through the
 * lifecycle's `buildJobGraph` (unknown or cyclic needs, expressions that do not parse or read a step that is not
 * an ancestor), so a refused definition names the step and field (`steps.2.needs`, `steps.1.if`, `output`).
 */
import { z } from 'zod';
import { descriptionSchema, jsonSchemaObjectSchema, nameSchema } from './definition-fields.js';
import { MuleError } from './errors.js';
import { graphStepSpec, type StepGraphFields } from './graph-spec.js';
import { checkJsonSchema, type JsonSchemaObject } from './json-schema.js';
import { buildJobGraph, type GraphSpec } from './lifecycle/build-graph.js';
import { MAX_FOR_EACH_ITEMS } from './lifecycle/graph.js';
import {
  DEFAULT_AGENT_TIMEOUT_MS,
  DEFAULT_WASM_TIMEOUT_MS,
  MAX_STEP_RETRIES,
  MAX_STEP_TIMEOUT_MS,
  MAX_WORKFLOW_STEPS,
  parseWaitTimeout,
} from './step-limits.js';
import { unreachable } from './unreachable.js';

/** What every step has, whatever it runs. */
interface StepCommon extends StepGraphFields {
  id: string;
  timeout_ms?: number | undefined;
  retries?: number | undefined;
}
/** `agent: <name>` on a step. */
export interface AgentStepDefinition extends StepCommon {
  agent: string;
}
/** `wasm: <module name>` on a step. */
export interface WasmStepDefinition extends StepCommon {
  wasm: string;
}
/** `wait: { timeout, schema? }` on a step: the job waits for a resume (or a reject) of this step. */
export interface WaitStepDefinition extends StepCommon {
  wait: { timeout: string; schema?: JsonSchemaObject | undefined };
}
/** A step as written (`agent: x`, `wasm: y` or `wait: {…}`), parsed to one member per step type. */
export type WorkflowStepDefinition = AgentStepDefinition | WasmStepDefinition | WaitStepDefinition;

/** CEL sources are bounded by the expression compiler (1,000 characters); this only caps what is read first. */
const expressionSchema = z.string().min(1).max(4000);

const waitSchema = z.strictObject({
  timeout: z.string({ error: 'a wait step needs a timeout: "<n>s", "<n>m", "<n>h" or "<n>d"' }).max(32),
  schema: jsonSchemaObjectSchema.optional(),
});

export const workflowStepSchema = z
  .strictObject({
    id: nameSchema,
    agent: nameSchema.optional(),
    wasm: nameSchema.optional(),
    wait: waitSchema.optional(),
    timeout_ms: z.int().min(1).max(MAX_STEP_TIMEOUT_MS).optional(),
    retries: z.int().min(0).max(MAX_STEP_RETRIES).optional(),
    needs: z.array(nameSchema).max(MAX_WORKFLOW_STEPS).optional(),
    input: z.unknown().optional(),
    if: expressionSchema.optional(),
    for_each: expressionSchema.optional(),
    max_items: z.int().min(1).max(MAX_FOR_EACH_ITEMS, `at most ${MAX_FOR_EACH_ITEMS}`).optional(),
    concurrency: z.int().min(1).max(MAX_FOR_EACH_ITEMS).optional(),
    on_error: z.enum(['fail', 'continue']).optional(),
  })
  .transform((value, ctx): WorkflowStepDefinition => {
    const { agent, wasm, wait, ...common } = value;
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: path.split('.'), message });
    const kinds = [agent, wasm, wait].filter((kind) => kind !== undefined).length;
    if (kinds !== 1) {
      issue('agent', 'a step names exactly one of agent, wasm or wait');
      return z.NEVER;
    }
    common.needs?.forEach((need, index) => {
      if (common.needs!.indexOf(need) !== index) issue(`needs.${index}`, `"${need}" is listed twice`);
    });
    if (common.for_each === undefined) {
      if (common.max_items !== undefined) issue('max_items', 'max_items applies only to a step with for_each');
      if (common.concurrency !== undefined) issue('concurrency', 'concurrency applies only to a step with for_each');
    }
    if (wait !== undefined) {
      // A wait runs nothing: its only limit is wait.timeout, and there is no attempt to retry or list to run over.
      if (common.timeout_ms !== undefined) issue('timeout_ms', 'a wait step has no timeout_ms: its limit is wait.timeout');
      if (common.retries !== undefined) issue('retries', 'a wait step is never retried');
      if (common.for_each !== undefined) issue('for_each', 'a wait step cannot have for_each');
      check(() => parseWaitTimeout(wait.timeout, 'wait.timeout'), ctx);
      if (wait.schema !== undefined) check(() => checkJsonSchema(wait.schema!, 'wait.schema'), ctx);
      return { ...common, wait };
    }
    return agent !== undefined ? { ...common, agent } : { ...common, wasm: wasm! };
  });

/** What a step runs, as a union to `switch` on (a written step names its type by its field). */
export type StepTarget = { type: 'agent'; name: string } | { type: 'wasm'; name: string } | { type: 'wait' };
export type StepType = StepTarget['type'];

export function stepTarget(step: WorkflowStepDefinition): StepTarget {
  if ('agent' in step) return { type: 'agent', name: step.agent };
  if ('wasm' in step) return { type: 'wasm', name: step.wasm };
  if ('wait' in step) return { type: 'wait' };
  return unreachable(step);
}

export const workflowSchema = z
  .strictObject({
    name: nameSchema,
    description: descriptionSchema.optional(),
    /** The job input's JSON Schema, for people and tools (MCP, the dashboard); jobs are not checked against it. */
    input_schema: jsonSchemaObjectSchema.optional(),
    steps: z.array(workflowStepSchema).min(1).max(MAX_WORKFLOW_STEPS),
    /** The job's output (a template); default: the last listed step's output. */
    output: z.unknown().optional(),
  })
  .superRefine((value, ctx) => {
    const seen = new Set<string>();
    value.steps.forEach((step, index) => {
      if (seen.has(step.id)) {
        ctx.addIssue({ code: 'custom', path: ['steps', index, 'id'], message: `duplicate step id "${step.id}"` });
      }
      seen.add(step.id);
    });
    if (seen.size !== value.steps.length) return;
    if (value.input_schema !== undefined) check(() => checkJsonSchema(value.input_schema!, 'input_schema'), ctx);
    check(() => buildJobGraph(workflowGraphSpec(value)), ctx);
  });
export type WorkflowDefinition = z.infer<typeof workflowSchema>;

/** The lifecycle's view of a workflow as written (the check above; a job's is `planGraphSpec` of its plan). */
export function workflowGraphSpec(workflow: Pick<WorkflowDefinition, 'steps' | 'output'>): GraphSpec {
  const spec: GraphSpec = { steps: workflow.steps.map((step) => graphStepSpec(step, stepTarget(step).type, stepTimeoutMs(step))) };
  return workflow.output === undefined ? spec : { ...spec, output: workflow.output };
}

/** Runs a check that throws `invalid_request` with a `param` and reports it as a zod issue at that path. */
function check(run: () => unknown, ctx: z.RefinementCtx): void {
  try {
    run();
  } catch (error) {
    if (!(error instanceof MuleError) || error.code !== 'invalid_request') throw error;
    const param = error.param ?? 'steps';
    const prefix = `${param}: `;
    const message = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
    ctx.addIssue({ code: 'custom', path: param.split('.'), message });
  }
}

/** The timeout a step runs with when its definition gives none; a wait's is its wait.timeout. */
export function stepTimeoutMs(step: WorkflowStepDefinition): number {
  if (step.timeout_ms !== undefined) return step.timeout_ms;
  const target = stepTarget(step);
  switch (target.type) {
    case 'agent':
      return DEFAULT_AGENT_TIMEOUT_MS;
    case 'wasm':
      return DEFAULT_WASM_TIMEOUT_MS;
    case 'wait':
      return parseWaitTimeout((step as WaitStepDefinition).wait.timeout);
    default:
      return unreachable(target);
  }
}

/** Every module and agent a workflow names, for reference checks. */
export function workflowReferences(workflow: WorkflowDefinition): { modules: string[]; agents: string[] } {
  const modules = new Set<string>();
  const agents = new Set<string>();
  for (const step of workflow.steps) {
    const target = stepTarget(step);
    switch (target.type) {
      case 'agent':
        agents.add(target.name);
        break;
      case 'wasm':
        modules.add(target.name);
        break;
      case 'wait':
        break;
      default:
        unreachable(target);
    }
  }
  return { modules: [...modules], agents: [...agents] };
}
