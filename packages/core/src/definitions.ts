/**
 * The four definition kinds (provider, wasm_module, agent, workflow) and their schemas. A definition is validated
 * whole: unknown fields, bad names and duplicate step ids are refused with a message that names the field (`param`).
 */
import { z } from 'zod';
import { MuleError } from './errors.js';
import { NAME_PATTERN } from './names.js';
import { unreachable } from './unreachable.js';

export const DEFINITION_KINDS = ['provider', 'wasm_module', 'agent', 'workflow'] as const;
export type DefinitionKind = (typeof DEFINITION_KINDS)[number];

/** Dependency order: what a later kind names must exist first (used by `mule apply` and MULE_DEFINITIONS). */
export const APPLY_ORDER: readonly DefinitionKind[] = ['provider', 'wasm_module', 'agent', 'workflow'];

export const DEFAULT_AGENT_TIMEOUT_MS = 30_000;
export const DEFAULT_WASM_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_TOOL_CALLS = 10;
/** Upper bounds that keep one definition from asking for absurd resources. */
export const MAX_STEP_TIMEOUT_MS = 3_600_000;
export const MAX_STEP_RETRIES = 10;
export const MAX_WORKFLOW_STEPS = 100;

const nameSchema = z
  .string()
  .regex(NAME_PATTERN, `must match ${NAME_PATTERN.source} (lower case letters, digits, ".", "_", "-")`);
const envNameSchema = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be an environment variable name');
const descriptionSchema = z.string().max(4000);
const httpUrlSchema = z
  .string()
  .max(2000)
  .refine((value) => /^https?:\/\//i.test(value) && URL.canParse(value), 'must be an http(s) URL');

export const providerSchema = z
  .strictObject({
    name: nameSchema,
    type: z.enum(['openai', 'gemini']),
    description: descriptionSchema.optional(),
    base_url: httpUrlSchema.optional(),
    base_url_env: envNameSchema.optional(),
    api_key: z.string().min(1).max(8192).optional(),
    api_key_env: envNameSchema.optional(),
  })
  .superRefine((value, ctx) => {
    if (value.base_url !== undefined && value.base_url_env !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['base_url_env'], message: 'give base_url or base_url_env, not both' });
    }
    if (value.api_key !== undefined && value.api_key_env !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['api_key_env'], message: 'give api_key or api_key_env, not both' });
    }
  });
export type ProviderDefinition = z.infer<typeof providerSchema>;

/** A JSON Schema object for a tool's parameters: kept as given, checked to be an object schema. */
const toolParametersSchema = z
  .record(z.string(), z.unknown())
  .refine((value) => value['type'] === undefined || value['type'] === 'object', 'must be a JSON Schema of type object');

export const wasmToolSchema = z.strictObject({
  description: descriptionSchema,
  parameters: toolParametersSchema.optional(),
});

export const wasmModuleSchema = z.strictObject({
  name: nameSchema,
  description: descriptionSchema.optional(),
  /** Files only: the module's path, relative to the definition file. */
  path: z.string().min(1).max(4096).optional(),
  /** API only: the module's bytes. */
  wasm_base64: z.string().min(1).optional(),
  tool: wasmToolSchema.optional(),
});
export type WasmModuleDefinition = z.infer<typeof wasmModuleSchema>;

export const agentSchema = z
  .strictObject({
    name: nameSchema,
    description: descriptionSchema.optional(),
    provider: nameSchema,
    model: z.string().min(1).max(256),
    instruction: z.string().max(100_000).optional(),
    tools: z.array(nameSchema).max(64).optional(),
    temperature: z.number().min(0).max(2).optional(),
    top_p: z.number().min(0).max(1).optional(),
    max_tokens: z.int().min(1).max(1_000_000).optional(),
    max_tool_calls: z.int().min(0).max(1000).optional(),
  })
  .superRefine((value, ctx) => {
    const seen = new Set<string>();
    value.tools?.forEach((tool, index) => {
      if (seen.has(tool)) ctx.addIssue({ code: 'custom', path: ['tools', index], message: `duplicate tool "${tool}"` });
      seen.add(tool);
    });
  });
export type AgentDefinition = z.infer<typeof agentSchema>;

/** What every step has, whatever it runs. */
interface StepCommon {
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
/** A step as written (`agent: x` or `wasm: y`), parsed to one member per step type. */
export type WorkflowStepDefinition = AgentStepDefinition | WasmStepDefinition;

export const workflowStepSchema = z
  .strictObject({
    id: nameSchema,
    agent: nameSchema.optional(),
    wasm: nameSchema.optional(),
    timeout_ms: z.int().min(1).max(MAX_STEP_TIMEOUT_MS).optional(),
    retries: z.int().min(0).max(MAX_STEP_RETRIES).optional(),
  })
  .transform((value, ctx): WorkflowStepDefinition => {
    const { agent, wasm, ...common } = value;
    if (agent !== undefined && wasm === undefined) return { ...common, agent };
    if (wasm !== undefined && agent === undefined) return { ...common, wasm };
    ctx.addIssue({ code: 'custom', path: ['agent'], message: 'a step names exactly one of agent or wasm' });
    return z.NEVER;
  });

/** What a step runs, as a union to `switch` on (a written step names its type by its field: `agent:` or `wasm:`). */
export type StepTarget = { type: 'agent'; name: string } | { type: 'wasm'; name: string };
export type StepType = StepTarget['type'];

export function stepTarget(step: WorkflowStepDefinition): StepTarget {
  if ('agent' in step) return { type: 'agent', name: step.agent };
  if ('wasm' in step) return { type: 'wasm', name: step.wasm };
  return unreachable(step);
}

export const workflowSchema = z
  .strictObject({
    name: nameSchema,
    description: descriptionSchema.optional(),
    steps: z.array(workflowStepSchema).min(1).max(MAX_WORKFLOW_STEPS),
  })
  .superRefine((value, ctx) => {
    const seen = new Set<string>();
    value.steps.forEach((step, index) => {
      if (seen.has(step.id)) {
        ctx.addIssue({ code: 'custom', path: ['steps', index, 'id'], message: `duplicate step id "${step.id}"` });
      }
      seen.add(step.id);
    });
  });
export type WorkflowDefinition = z.infer<typeof workflowSchema>;

export interface DefinitionByKind {
  provider: ProviderDefinition;
  wasm_module: WasmModuleDefinition;
  agent: AgentDefinition;
  workflow: WorkflowDefinition;
}

const SCHEMAS: { [K in DefinitionKind]: z.ZodType<DefinitionByKind[K]> } = {
  provider: providerSchema,
  wasm_module: wasmModuleSchema,
  agent: agentSchema,
  workflow: workflowSchema,
};

/**
 * Validates one definition body. `prefix` is prepended to `param` (e.g. the document's position in a file).
 * Throws `invalid_request` naming the first offending field.
 */
export function parseDefinition<K extends DefinitionKind>(kind: K, body: unknown, prefix = ''): DefinitionByKind[K] {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new MuleError('invalid_request', `a ${kind} definition must be a JSON object`, { param: prefix || null });
  }
  return parseWith(SCHEMAS[kind], body, prefix);
}

/** Runs a zod schema and turns its first issue into `invalid_request` with the field's path as `param`. */
export function parseWith<T>(schema: z.ZodType<T>, value: unknown, prefix = ''): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = [...issue.path];
  if (issue.code === 'unrecognized_keys') path.push(issue.keys[0] ?? '');
  const param = [prefix, ...path.map(String)].filter((part) => part !== '').join('.') || null;
  const message =
    issue.code === 'unrecognized_keys' ? `unknown field "${issue.keys.join('", "')}"` : issue.message;
  throw new MuleError('invalid_request', param ? `${param}: ${message}` : message, { param });
}

/** The timeout a step runs with when its definition gives none. */
export function stepTimeoutMs(step: WorkflowStepDefinition): number {
  if (step.timeout_ms !== undefined) return step.timeout_ms;
  const target = stepTarget(step);
  switch (target.type) {
    case 'agent':
      return DEFAULT_AGENT_TIMEOUT_MS;
    case 'wasm':
      return DEFAULT_WASM_TIMEOUT_MS;
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
      default:
        unreachable(target);
    }
  }
  return { modules: [...modules], agents: [...agents] };
}

/** JSON with object keys sorted, so two equal definitions compare equal as text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([k, v]) => [k, sortKeys(v)]));
  }
  return value;
}
