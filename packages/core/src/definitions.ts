/**
 * The four definition kinds (provider, wasm_module, agent, workflow) and their schemas (a workflow's are in
 * workflow-schema.ts). A definition is validated whole: unknown fields, bad names, duplicate step ids and graphs
 * that could not run are refused with a message that names the field (`param`).
 */
import { z } from 'zod';
import { descriptionSchema, nameSchema } from './definition-fields.js';
import { MuleError } from './errors.js';
import { mcpServerSchema, type McpServerDefinition } from './mcp-server-schema.js';
import { workflowSchema, type WorkflowDefinition } from './workflow-schema.js';
import { triggerSchema, type TriggerDefinition } from './trigger-schema.js';

export * from './step-limits.js';
export * from './workflow-schema.js';
export * from './trigger-schema.js';
export * from './mcp-server-schema.js';

export const DEFINITION_KINDS = ['provider', 'wasm_module', 'mcp_server', 'agent', 'workflow', 'trigger'] as const;
export type DefinitionKind = (typeof DEFINITION_KINDS)[number];

/** Dependency order: what a later kind names must exist first (used by `mule apply` and MULE_DEFINITIONS). */
export const APPLY_ORDER: readonly DefinitionKind[] = ['provider', 'wasm_module', 'mcp_server', 'agent', 'workflow', 'trigger'];

export const DEFAULT_MAX_TOOL_CALLS = 10;

const envNameSchema = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be an environment variable name');
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

export interface DefinitionByKind {
  provider: ProviderDefinition;
  wasm_module: WasmModuleDefinition;
  mcp_server: McpServerDefinition;
  agent: AgentDefinition;
  workflow: WorkflowDefinition;
  trigger: TriggerDefinition;
}

const SCHEMAS: { [K in DefinitionKind]: z.ZodType<DefinitionByKind[K]> } = {
  provider: providerSchema,
  wasm_module: wasmModuleSchema,
  mcp_server: mcpServerSchema,
  agent: agentSchema,
  workflow: workflowSchema,
  trigger: triggerSchema,
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
