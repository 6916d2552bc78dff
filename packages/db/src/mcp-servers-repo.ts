/**
 * MCP server definitions (`kind: mcp_server`). Agents name them in `tools` next to WASM tool modules: a delete locks
 * the row (FOR UPDATE) before looking for agents that name it, and an agent's PUT locks what it names (FOR SHARE,
 * definitions-repo.ts), so a server cannot be deleted from under an agent being written.
 */
import { canonicalJson } from '@mule/core';
import type { Prisma, PrismaClient } from './prisma-client.js';
import type { DeleteOutcome, PutOutcome, SpecRow } from './definitions-repo.js';

export function listMcpServers(prisma: PrismaClient): Promise<SpecRow[]> {
  return prisma.mcpServer.findMany({ orderBy: { name: 'asc' } });
}

export function getMcpServer(prisma: PrismaClient, name: string): Promise<SpecRow | null> {
  return prisma.mcpServer.findUnique({ where: { name } });
}

export async function putMcpServer(prisma: PrismaClient, name: string, spec: unknown): Promise<PutOutcome> {
  return prisma.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`mcp_server/${name}`}, 0))`;
    const existing = await tx.mcpServer.findUnique({ where: { name } });
    if (existing && canonicalJson(existing.spec) === canonicalJson(spec)) return 'unchanged';
    const value = spec as Prisma.InputJsonValue;
    await tx.mcpServer.upsert({
      where: { name },
      create: { name, spec: value },
      update: { spec: value, updatedAt: new Date() },
    });
    return existing ? ('replaced' as const) : ('created' as const);
  });
}

export async function deleteMcpServer(prisma: PrismaClient, name: string): Promise<DeleteOutcome> {
  return prisma.$transaction(async (tx) => {
    const locked = await tx.$queryRaw<{ name: string }[]>`SELECT name FROM mcp_servers WHERE name = ${name} FOR UPDATE`;
    if (locked.length === 0) return { deleted: false, reason: 'not_found' };
    const agents = await tx.$queryRaw<{ name: string }[]>`SELECT name FROM agents WHERE spec->'tools' ? ${name} ORDER BY name`;
    if (agents.length > 0) return { deleted: false, reason: 'referenced', by: agents.map((a) => `agent/${a.name}`) };
    await tx.mcpServer.delete({ where: { name } });
    return { deleted: true };
  });
}
