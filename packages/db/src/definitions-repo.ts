/**
 * Definitions (providers, agents, wasm modules, workflows) through Prisma. Writes that depend on other
 * definitions lock what they name (FOR SHARE) and deletes lock their row (FOR UPDATE) before checking who refers
 * to it, so a concurrent PUT and DELETE can never leave a dangling reference.
 */
import { canonicalJson, MuleError, SHA256_PATTERN } from '@mule/core';
import { Prisma, type PrismaClient } from './prisma-client.js';

export type PutOutcome = 'created' | 'replaced' | 'unchanged';
export type DeleteOutcome = { deleted: true } | { deleted: false; reason: 'not_found' } | { deleted: false; reason: 'referenced'; by: string[] };

type Tx = Prisma.TransactionClient;
const json = (value: unknown) => value as Prisma.InputJsonValue;

/**
 * Serializes writes of one definition (kind + name) for the rest of the transaction, so two first PUTs of one
 * name cannot both "create" it: the second waits and then sees the first's row (200, not a second 201).
 */
async function lockName(tx: Tx, kind: string, name: string): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`${kind}/${name}`}, 0))`;
}

function sameSpec(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/** Names among `names` that do not exist in `table`, locking the ones that do until the transaction ends. */
async function missingLocked(tx: Tx, table: 'providers' | 'agents' | 'wasm_modules', names: string[]): Promise<string[]> {
  if (names.length === 0) return [];
  const rows = await tx.$queryRawUnsafe<{ name: string }[]>(
    `SELECT name FROM ${table} WHERE name = ANY($1::text[]) FOR SHARE`,
    names,
  );
  const found = new Set(rows.map((row) => row.name));
  return names.filter((name) => !found.has(name));
}

/** Names among `names` that exist in `table`, locked until the transaction ends. */
async function lockedNames(tx: Tx, table: 'mcp_servers', names: string[]): Promise<string[]> {
  const rows = await tx.$queryRawUnsafe<{ name: string }[]>(`SELECT name FROM ${table} WHERE name = ANY($1::text[]) FOR SHARE`, names);
  return rows.map((row) => row.name);
}

export class MissingReferenceError extends Error {
  constructor(readonly kind: string, readonly names: string[]) {
    super(`${kind} not found: ${names.join(', ')}`);
  }
}

// ---- providers ----

export interface ProviderRow {
  name: string;
  spec: unknown;
  apiKeyCipher: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export function listProviders(prisma: PrismaClient): Promise<ProviderRow[]> {
  return prisma.provider.findMany({ orderBy: { name: 'asc' } });
}

export function getProvider(prisma: PrismaClient, name: string): Promise<ProviderRow | null> {
  return prisma.provider.findUnique({ where: { name } });
}

/**
 * Where a provider's requests (and so its key) go: its type (each has its own default endpoint), base_url and
 * base_url_env. A stored key is kept only while these stay the same: a key given for one endpoint must not be
 * sent to another by a later PUT that does not give the key again.
 */
function sameDestination(a: unknown, b: unknown): boolean {
  const destination = (spec: unknown) => {
    const { type, base_url: baseUrl, base_url_env: baseUrlEnv } = (spec ?? {}) as Record<string, unknown>;
    return canonicalJson({ type, baseUrl, baseUrlEnv });
  };
  return destination(a) === destination(b);
}

/**
 * `apiKeyCipher: 'keep'` keeps the stored key (a definition read back with `has_api_key: true` and no key), unless
 * the provider's destination changes: then the key is dropped.
 * `keyUnchanged` says whether the stored key equals the new one (the caller can decrypt; we cannot).
 */
export async function putProvider(
  prisma: PrismaClient,
  name: string,
  spec: unknown,
  newCipher: string | null | 'keep',
  keyUnchanged: (stored: string | null) => boolean,
): Promise<PutOutcome> {
  return prisma.$transaction(async (tx) => {
    await lockName(tx, 'provider', name);
    const existing = await tx.provider.findUnique({ where: { name } });
    const stored = existing?.apiKeyCipher ?? null;
    const kept = newCipher === 'keep' && existing !== null && sameDestination(existing.spec, spec) ? stored : null;
    const apiKeyCipher = newCipher === 'keep' ? kept : newCipher;
    const sameKey = newCipher === 'keep' ? kept === stored : keyUnchanged(stored);
    if (existing && sameSpec(existing.spec, spec) && sameKey) return 'unchanged';
    await tx.provider.upsert({
      where: { name },
      create: { name, spec: json(spec), apiKeyCipher },
      update: { spec: json(spec), apiKeyCipher, updatedAt: new Date() },
    });
    return existing ? ('replaced' as const) : ('created' as const);
  });
}

export async function deleteProvider(prisma: PrismaClient, name: string): Promise<DeleteOutcome> {
  return prisma.$transaction(async (tx) => {
    const locked = await tx.$queryRaw<{ name: string }[]>`SELECT name FROM providers WHERE name = ${name} FOR UPDATE`;
    if (locked.length === 0) return { deleted: false, reason: 'not_found' };
    const agents = await tx.$queryRaw<{ name: string }[]>`SELECT name FROM agents WHERE spec->>'provider' = ${name}`;
    if (agents.length > 0) return { deleted: false, reason: 'referenced', by: agents.map((a) => `agent/${a.name}`) };
    await tx.provider.delete({ where: { name } });
    return { deleted: true };
  });
}

// ---- agents ----

export interface SpecRow {
  name: string;
  spec: unknown;
  createdAt: Date;
  updatedAt: Date;
}

export function listAgents(prisma: PrismaClient): Promise<SpecRow[]> {
  return prisma.agent.findMany({ orderBy: { name: 'asc' } });
}

export function getAgent(prisma: PrismaClient, name: string): Promise<SpecRow | null> {
  return prisma.agent.findUnique({ where: { name } });
}

export async function putAgent(
  prisma: PrismaClient,
  name: string,
  spec: { provider: string; tools?: string[] },
): Promise<PutOutcome> {
  return prisma.$transaction(async (tx) => {
    await lockName(tx, 'agent', name);
    const missingProvider = await missingLocked(tx, 'providers', [spec.provider]);
    if (missingProvider.length > 0) throw new MissingReferenceError('provider', missingProvider);
    // A tool is a WASM module that declares `tool` or an MCP server; both are locked until the agent is written.
    const tools = spec.tools ?? [];
    const servers = new Set(tools.length > 0 ? await lockedNames(tx, 'mcp_servers', tools) : []);
    const moduleTools = tools.filter((tool) => !servers.has(tool));
    const missingTools = await missingLocked(tx, 'wasm_modules', moduleTools);
    if (missingTools.length > 0) throw new MissingReferenceError('wasm module or mcp server', missingTools);
    if (moduleTools.length > 0) {
      const notTools = await tx.$queryRaw<{ name: string }[]>`
        SELECT name FROM wasm_modules WHERE name = ANY(${moduleTools}::text[]) AND NOT (spec ? 'tool')`;
      if (notTools.length > 0) throw new MissingReferenceError('tool (a wasm module that declares `tool`)', notTools.map((r) => r.name));
    }
    const existing = await tx.agent.findUnique({ where: { name } });
    if (existing && sameSpec(existing.spec, spec)) return 'unchanged';
    await tx.agent.upsert({
      where: { name },
      create: { name, spec: json(spec) },
      update: { spec: json(spec), updatedAt: new Date() },
    });
    return existing ? ('replaced' as const) : ('created' as const);
  });
}

/** Workflows whose current version names `agent` or `wasm` `name` in a step. */
async function workflowsReferring(tx: Tx, field: 'agent' | 'wasm', name: string): Promise<string[]> {
  const rows = await tx.$queryRaw<{ name: string }[]>`
    SELECT w.name FROM workflows w
      JOIN workflow_versions v ON v.workflow_name = w.name AND v.version = w.version
     WHERE v.spec->'steps' @> ${JSON.stringify([{ [field]: name }])}::jsonb`;
  return rows.map((row) => `workflow/${row.name}`);
}

export async function deleteAgent(prisma: PrismaClient, name: string): Promise<DeleteOutcome> {
  return prisma.$transaction(async (tx) => {
    const locked = await tx.$queryRaw<{ name: string }[]>`SELECT name FROM agents WHERE name = ${name} FOR UPDATE`;
    if (locked.length === 0) return { deleted: false, reason: 'not_found' };
    const by = await workflowsReferring(tx, 'agent', name);
    if (by.length > 0) return { deleted: false, reason: 'referenced', by };
    await tx.agent.delete({ where: { name } });
    return { deleted: true };
  });
}

// ---- wasm modules ----

export interface ModuleRow {
  name: string;
  sha256: string;
  size: number;
  spec: unknown;
  createdAt: Date;
  updatedAt: Date;
}

const MODULE_SELECT = {
  name: true,
  sha256: true,
  spec: true,
  createdAt: true,
  updatedAt: true,
  blob: { select: { size: true } },
} as const;

type ModuleWithBlob = Omit<ModuleRow, 'size'> & { blob: { size: number } };
const toModuleRow = ({ blob, ...row }: ModuleWithBlob): ModuleRow => ({ ...row, size: blob.size });

export async function listModules(prisma: PrismaClient): Promise<ModuleRow[]> {
  const rows = await prisma.wasmModule.findMany({ orderBy: { name: 'asc' }, select: MODULE_SELECT });
  return rows.map(toModuleRow);
}

export async function getModule(prisma: PrismaClient, name: string): Promise<ModuleRow | null> {
  const row = await prisma.wasmModule.findUnique({ where: { name }, select: MODULE_SELECT });
  return row ? toModuleRow(row) : null;
}

export async function putModule(
  prisma: PrismaClient,
  name: string,
  spec: unknown,
  module: { sha256: string; bytes: Uint8Array },
): Promise<PutOutcome> {
  return prisma.$transaction(async (tx) => {
    await lockName(tx, 'wasm_module', name);
    const existing = await tx.wasmModule.findUnique({ where: { name } });
    if (existing && existing.sha256 === module.sha256 && sameSpec(existing.spec, spec)) return 'unchanged';
    await tx.$executeRaw`
      INSERT INTO wasm_blobs (sha256, bytes, size) VALUES (${module.sha256}, ${Buffer.from(module.bytes)}, ${module.bytes.byteLength})
      ON CONFLICT (sha256) DO NOTHING`;
    await tx.wasmModule.upsert({
      where: { name },
      create: { name, sha256: module.sha256, spec: json(spec) },
      update: { sha256: module.sha256, spec: json(spec), updatedAt: new Date() },
    });
    return existing ? ('replaced' as const) : ('created' as const);
  });
}

export async function deleteModule(prisma: PrismaClient, name: string): Promise<DeleteOutcome> {
  return prisma.$transaction(async (tx) => {
    const locked = await tx.$queryRaw<{ name: string }[]>`SELECT name FROM wasm_modules WHERE name = ${name} FOR UPDATE`;
    if (locked.length === 0) return { deleted: false, reason: 'not_found' };
    const workflows = await workflowsReferring(tx, 'wasm', name);
    const agents = await tx.$queryRaw<{ name: string }[]>`SELECT name FROM agents WHERE spec->'tools' ? ${name}`;
    const by = [...workflows, ...agents.map((a) => `agent/${a.name}`)];
    if (by.length > 0) return { deleted: false, reason: 'referenced', by };
    // The bytes stay in wasm_blobs: queued jobs name them by sha256.
    await tx.wasmModule.delete({ where: { name } });
    return { deleted: true };
  });
}

/** Module bytes by content hash (workers load them once per process, on a compiled-cache miss). */
export async function readModuleBytes(prisma: PrismaClient, sha256: string): Promise<Uint8Array | null> {
  const row = await prisma.wasmBlob.findUnique({ where: { sha256 }, select: { bytes: true } });
  return row ? new Uint8Array(row.bytes) : null;
}

/** The WASM runner's `loadBytes`: module bytes by sha256, or `not_found`. */
export function moduleBytesLoader(prisma: PrismaClient): (sha256: string) => Promise<Uint8Array> {
  return async (sha256) => {
    const bytes = await readModuleBytes(prisma, sha256);
    if (!bytes) throw new MuleError('not_found', `no stored module bytes with sha256 ${sha256}`);
    return bytes;
  };
}

/**
 * Resolves `/v1/wasm/execute`'s `module`: a module name, or the sha256 of stored bytes. `names` are the modules
 * that have those bytes (the one named, or every module holding the sha256; none for bytes kept only for jobs):
 * scopes are checked on names, never on the string the caller sent.
 */
export async function resolveModuleRef(prisma: PrismaClient, ref: string): Promise<{ sha256: string; names: string[] } | null> {
  const byName = await prisma.wasmModule.findUnique({ where: { name: ref }, select: { sha256: true } });
  if (byName) return { sha256: byName.sha256, names: [ref] };
  if (SHA256_PATTERN.test(ref)) {
    const blob = await prisma.wasmBlob.findUnique({ where: { sha256: ref }, select: { sha256: true } });
    if (!blob) return null;
    const modules = await prisma.wasmModule.findMany({ where: { sha256: ref }, select: { name: true }, orderBy: { name: 'asc' } });
    return { sha256: blob.sha256, names: modules.map((module) => module.name) };
  }
  return null;
}

// ---- workflows ----

export interface WorkflowRow {
  name: string;
  version: number;
  spec: unknown;
  createdAt: Date;
  updatedAt: Date;
}

export async function listWorkflows(prisma: PrismaClient): Promise<WorkflowRow[]> {
  return prisma.$queryRaw<WorkflowRow[]>`
    SELECT w.name, w.version, v.spec, w.created_at AS "createdAt", w.updated_at AS "updatedAt"
      FROM workflows w JOIN workflow_versions v ON v.workflow_name = w.name AND v.version = w.version
     ORDER BY w.name`;
}

export async function getWorkflow(prisma: PrismaClient, name: string): Promise<WorkflowRow | null> {
  const rows = await prisma.$queryRaw<WorkflowRow[]>`
    SELECT w.name, w.version, v.spec, w.created_at AS "createdAt", w.updated_at AS "updatedAt"
      FROM workflows w JOIN workflow_versions v ON v.workflow_name = w.name AND v.version = w.version
     WHERE w.name = ${name}`;
  return rows[0] ?? null;
}

export interface WorkflowVersionRow {
  version: number;
  spec: unknown;
  /** When this version was written. */
  createdAt: Date;
}

/**
 * Every stored version of a workflow, newest first, with the workflow's own creation time; null when no workflow
 * has that name. One statement, so the list and the workflow's row are read from one snapshot.
 */
export async function listWorkflowVersions(
  prisma: PrismaClient,
  name: string,
): Promise<{ workflowCreatedAt: Date; versions: WorkflowVersionRow[] } | null> {
  const rows = await prisma.$queryRaw<(WorkflowVersionRow & { workflowCreatedAt: Date })[]>`
    SELECT v.version, v.spec, v.created_at AS "createdAt", w.created_at AS "workflowCreatedAt"
      FROM workflows w JOIN workflow_versions v ON v.workflow_name = w.name
     WHERE w.name = ${name}
     ORDER BY v.version DESC`;
  const first = rows[0];
  if (!first) return null;
  return { workflowCreatedAt: first.workflowCreatedAt, versions: rows.map(({ version, spec, createdAt }) => ({ version, spec, createdAt })) };
}

/** Creates the workflow or adds a version when the definition changed; versions are never edited. */
export async function putWorkflow(
  prisma: PrismaClient,
  name: string,
  spec: unknown,
  references: { modules: string[]; agents: string[] },
): Promise<{ outcome: PutOutcome; version: number }> {
  return prisma.$transaction(async (tx) => {
    await lockName(tx, 'workflow', name);
    const missingModules = await missingLocked(tx, 'wasm_modules', references.modules);
    if (missingModules.length > 0) throw new MissingReferenceError('wasm module', missingModules);
    const missingAgents = await missingLocked(tx, 'agents', references.agents);
    if (missingAgents.length > 0) throw new MissingReferenceError('agent', missingAgents);
    const current = await tx.$queryRaw<{ version: number; spec: unknown }[]>`
      SELECT w.version, v.spec FROM workflows w
        JOIN workflow_versions v ON v.workflow_name = w.name AND v.version = w.version
       WHERE w.name = ${name} FOR UPDATE OF w`;
    const existing = current[0];
    if (existing && sameSpec(existing.spec, spec)) return { outcome: 'unchanged' as const, version: existing.version };
    const version = (existing?.version ?? 0) + 1;
    if (existing) {
      await tx.workflow.update({ where: { name }, data: { version, updatedAt: new Date() } });
    } else {
      await tx.workflow.create({ data: { name, version } });
    }
    await tx.workflowVersion.create({ data: { workflowName: name, version, spec: json(spec) } });
    return { outcome: existing ? ('replaced' as const) : ('created' as const), version };
  });
}

export async function deleteWorkflow(prisma: PrismaClient, name: string): Promise<DeleteOutcome> {
  return prisma.$transaction(async (tx) => {
    const locked = await tx.$queryRaw<{ name: string }[]>`SELECT name FROM workflows WHERE name = ${name} FOR UPDATE`;
    if (locked.length === 0) return { deleted: false, reason: 'not_found' };
    // A trigger PUT locks its workflow FOR SHARE (triggers-repo.ts), so none can appear between this read and the delete.
    const triggers = await tx.$queryRaw<{ name: string }[]>`SELECT name FROM triggers WHERE workflow_name = ${name} ORDER BY name`;
    if (triggers.length > 0) return { deleted: false, reason: 'referenced', by: triggers.map((t) => `trigger/${t.name}`) };
    await tx.workflow.delete({ where: { name } });
    return { deleted: true };
  });
}
