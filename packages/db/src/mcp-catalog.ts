/**
 * What the api's MCP server (`/mcp`) reads: the workflows (their current version's description and input_schema)
 * and agents it offers as tools, and the few columns of a job that an MCP task shows.
 */
import type { JobStatus } from '@mule/core';
import type { PrismaClient } from './prisma-client.js';

export interface ToolSource {
  kind: 'workflow' | 'agent';
  name: string;
  description: string | null;
  /** A workflow's `input_schema` as stored (a JSON Schema object), or null when it has none. */
  inputSchema: Record<string, unknown> | null;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** Reads only the fields a tool shows; the spec was validated when it was written. */
function toolSource(kind: ToolSource['kind'], name: string, spec: unknown): ToolSource {
  const fields = isObject(spec) ? spec : {};
  return {
    kind,
    name,
    description: typeof fields['description'] === 'string' ? fields['description'] : null,
    inputSchema: kind === 'workflow' && isObject(fields['input_schema']) ? fields['input_schema'] : null,
  };
}

/** Every workflow (at its current version), then every agent, each by name. */
export async function listToolSources(prisma: PrismaClient): Promise<ToolSource[]> {
  const [workflows, agents] = await Promise.all([
    // Only each workflow's current version: a workflow may have many.
    prisma.$queryRaw<{ name: string; spec: unknown }[]>`
      SELECT w.name, v.spec FROM workflows w
        JOIN workflow_versions v ON v.workflow_name = w.name AND v.version = w.version
       ORDER BY w.name`,
    prisma.agent.findMany({ select: { name: true, spec: true }, orderBy: { name: 'asc' } }),
  ]);
  return [
    ...workflows.map((row) => toolSource('workflow', row.name, row.spec)),
    ...agents.map((row) => toolSource('agent', row.name, row.spec)),
  ];
}

/** One workflow (at its current version) or agent, or null when it does not exist. */
export async function findToolSource(prisma: PrismaClient, kind: ToolSource['kind'], name: string): Promise<ToolSource | null> {
  if (kind === 'agent') {
    const agent = await prisma.agent.findUnique({ where: { name }, select: { spec: true } });
    return agent ? toolSource(kind, name, agent.spec) : null;
  }
  const rows = await prisma.$queryRaw<{ spec: unknown }[]>`
    SELECT v.spec FROM workflows w
      JOIN workflow_versions v ON v.workflow_name = w.name AND v.version = w.version
     WHERE w.name = ${name}`;
  return rows[0] ? toolSource(kind, name, rows[0].spec) : null;
}

export interface JobTaskRow {
  id: string;
  apiKeyId: string | null;
  status: JobStatus;
  output: unknown;
  error: unknown;
  createdAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
}

/** A job's status and result, without its steps (an MCP client polls this). */
export async function getJobTask(prisma: PrismaClient, id: string): Promise<JobTaskRow | null> {
  const row = await prisma.job.findUnique({
    where: { id },
    select: { id: true, apiKeyId: true, status: true, output: true, error: true, createdAt: true, startedAt: true, completedAt: true },
  });
  return row ? { ...row, status: row.status as JobStatus } : null;
}
