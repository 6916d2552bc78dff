/**
 * Creating, replacing and deleting definitions: shared by the REST routes (`/v1/{providers,agents,workflows,wasm/modules}`) and MULE_DEFINITIONS at
 * start. Validation is whole-definition (core's schemas), references are checked in the write's transaction.
 */
import {
  checkDefinitionEnv,
  checkMcpServerEnv,
  decryptSecret,
  encryptSecret,
  MuleError,
  workflowReferences,
  type AgentDefinition,
  type DefinitionKind,
  type McpServerDefinition,
  type WorkflowDefinition,
  type ProviderDefinition,
  type TriggerDefinition,
  type WasmModuleDefinition,
} from '@mule/core';
import {
  deleteAgent,
  deleteMcpServer,
  deleteModule,
  deleteProvider,
  deleteTrigger,
  deleteWorkflow,
  MissingReferenceError,
  putAgent,
  putMcpServer,
  putModule,
  putProvider,
  putTrigger,
  putWorkflow,
  type DeleteOutcome,
  type PutOutcome,
} from '@mule/db';
import { admitModule } from '@mule/wasm-runner';
import type { ApiContext } from './api-context.js';

export type DefinitionContext = Pick<ApiContext, 'prisma' | 'config'> & { secretKey: Buffer | null };

function referenceError(error: unknown, param: string): never {
  if (error instanceof MissingReferenceError) {
    throw new MuleError('invalid_request', `${error.kind} not found: ${error.names.join(', ')}`, {
      param: error.kind === 'provider' ? 'provider' : param,
    });
  }
  throw error;
}

/**
 * `keepStoredKey`: the body had `has_api_key: true` and no `api_key` (a definition read back): keep the key, unless
 * the provider now points elsewhere (see putProvider). Variables named by `*_env` fields must be in MULE_ENV_ALLOW.
 */
export async function applyProvider(ctx: DefinitionContext, definition: ProviderDefinition, keepStoredKey = false): Promise<PutOutcome> {
  checkDefinitionEnv(definition, ctx.config.MULE_ENV_ALLOW);
  const { api_key: apiKey, ...spec } = definition;
  let cipher: string | null | 'keep' = keepStoredKey && apiKey === undefined && spec.api_key_env === undefined ? 'keep' : null;
  if (apiKey !== undefined) {
    if (!ctx.secretKey) {
      throw new MuleError('invalid_request', 'api_key cannot be stored: MULE_SECRET_KEY is not set; set it or use api_key_env', {
        param: 'api_key',
      });
    }
    cipher = encryptSecret(ctx.secretKey, apiKey);
  }
  const keyUnchanged = (stored: string | null) => {
    if (stored === null || apiKey === undefined) return stored === null && apiKey === undefined;
    try {
      return decryptSecret(ctx.secretKey!, stored) === apiKey;
    } catch {
      return false;
    }
  };
  return putProvider(ctx.prisma, definition.name, spec, cipher, keyUnchanged);
}

export async function applyAgent(ctx: DefinitionContext, definition: AgentDefinition): Promise<PutOutcome> {
  return putAgent(ctx.prisma, definition.name, definition).catch((error) => referenceError(error, 'tools'));
}

/** Stored without contacting the server; the variables `headers_env` names must be in MULE_ENV_ALLOW. */
export async function applyMcpServer(ctx: DefinitionContext, definition: McpServerDefinition): Promise<PutOutcome> {
  checkMcpServerEnv(definition, ctx.config.MULE_ENV_ALLOW);
  return putMcpServer(ctx.prisma, definition.name, definition);
}

export async function applyModule(
  ctx: DefinitionContext,
  definition: Omit<WasmModuleDefinition, 'path' | 'wasm_base64'>,
  bytes: Uint8Array,
  expectedSha256?: string,
): Promise<{ outcome: PutOutcome; sha256: string; size: number }> {
  const maxModuleBytes = ctx.config.MULE_WASM_MAX_MODULE_MB * 1024 * 1024;
  const admitted = admitModule(bytes, { maxModuleBytes, maxMemoryMb: ctx.config.MULE_WASM_MAX_MEMORY_MB });
  if (expectedSha256 !== undefined && expectedSha256 !== admitted.sha256) {
    throw new MuleError('invalid_request', `sha256 ${expectedSha256} does not match the module's bytes (${admitted.sha256})`, {
      param: 'sha256',
    });
  }
  const spec = { name: definition.name, description: definition.description, tool: definition.tool };
  const outcome = await putModule(ctx.prisma, definition.name, spec, { sha256: admitted.sha256, bytes });
  return { outcome, ...admitted };
}

export async function applyWorkflow(
  ctx: DefinitionContext,
  definition: WorkflowDefinition,
): Promise<{ outcome: PutOutcome; version: number }> {
  return putWorkflow(ctx.prisma, definition.name, definition, workflowReferences(definition)).catch((error) =>
    referenceError(error, 'steps'),
  );
}

/** The workflow must exist; the variable `webhook.secret_env` names must be in MULE_ENV_ALLOW. */
export async function applyTrigger(ctx: DefinitionContext, definition: TriggerDefinition): Promise<PutOutcome> {
  if (definition.webhook) {
    try {
      checkDefinitionEnv(definition.webhook, ctx.config.MULE_ENV_ALLOW);
    } catch (error) {
      throw new MuleError('invalid_request', `webhook.${(error as Error).message}`, { param: 'webhook.secret_env' });
    }
  }
  return putTrigger(ctx.prisma, definition.name, definition).catch((error) => referenceError(error, 'workflow'));
}

export function removeDefinition(ctx: DefinitionContext, kind: DefinitionKind, name: string): Promise<DeleteOutcome> {
  switch (kind) {
    case 'provider':
      return deleteProvider(ctx.prisma, name);
    case 'agent':
      return deleteAgent(ctx.prisma, name);
    case 'wasm_module':
      return deleteModule(ctx.prisma, name);
    case 'mcp_server':
      return deleteMcpServer(ctx.prisma, name);
    case 'workflow':
      return deleteWorkflow(ctx.prisma, name);
    case 'trigger':
      return deleteTrigger(ctx.prisma, name).then((deleted): DeleteOutcome => (deleted ? { deleted: true } : { deleted: false, reason: 'not_found' }));
  }
}
