/**
 * What the definition routes (definitions.ts, and wasm-modules.ts for module uploads) share: the name in the path,
 * the body as a definition, the status of a PUT and the views a GET answers with.
 */
import type { Request } from 'express';
import { isValidName, MuleError, NAME_PATTERN } from '@mule/core';
import type { ModuleRow, ProviderRow, PutOutcome, SpecRow, TriggerRow, WorkflowRow } from '@mule/db';
import { jsonObjectBody } from '../json-object-body.js';

const READ_ONLY_FIELDS = ['object', 'version', 'created_at', 'updated_at', 'has_api_key', 'size'];

const iso = (date: Date) => date.toISOString();
const spread = (spec: unknown) => (spec && typeof spec === 'object' ? (spec as Record<string, unknown>) : {});

export const views = {
  provider: (row: ProviderRow) => ({
    ...spread(row.spec),
    object: 'provider',
    has_api_key: row.apiKeyCipher !== null,
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  }),
  agent: (row: SpecRow) => ({ ...spread(row.spec), object: 'agent', created_at: iso(row.createdAt), updated_at: iso(row.updatedAt) }),
  mcp_server: (row: SpecRow) => ({ ...spread(row.spec), object: 'mcp_server', created_at: iso(row.createdAt), updated_at: iso(row.updatedAt) }),
  wasm_module: (row: ModuleRow) => ({
    ...spread(row.spec),
    object: 'wasm_module',
    sha256: row.sha256,
    size: row.size,
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  }),
  trigger: (row: TriggerRow) => ({
    ...spread(row.spec),
    object: 'trigger',
    last_fired_at: row.lastFiredAt ? iso(row.lastFiredAt) : null,
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  }),
  workflow: (row: WorkflowRow) => ({
    ...spread(row.spec),
    object: 'workflow',
    version: row.version,
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  }),
};

/** The path's name, checked. */
export function nameParam(req: Request): string {
  const name = String(req.params['name']);
  if (!isValidName(name)) {
    throw new MuleError('invalid_request', `name "${name}" must match ${NAME_PATTERN.source}`, { param: 'name' });
  }
  return name;
}

/** The body as a definition: read-only fields a GET adds are dropped; its `name`, when given, must be the path's. */
export function definitionBody(req: Request, name: string, extraReadOnly: string[] = []): Record<string, unknown> {
  const copy = { ...jsonObjectBody(req.body) };
  for (const field of [...READ_ONLY_FIELDS, ...extraReadOnly]) delete copy[field];
  if (copy['name'] !== undefined && copy['name'] !== name) {
    throw new MuleError('invalid_request', `name "${String(copy['name'])}" in the body differs from "${name}" in the path`, {
      param: 'name',
    });
  }
  copy['name'] = name;
  return copy;
}

export const putStatus = (outcome: PutOutcome) => (outcome === 'created' ? 201 : 200);

