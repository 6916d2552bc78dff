/** The agents package's view of definitions (agents, providers, tool modules, MCP servers), read from the database. */
import { agentSchema, mcpServerSchema, providerSchema, wasmToolSchema, type AgentDefinition, type McpServerDefinition, type ProviderDefinition } from '@mule/core';
import type { PrismaClient } from './prisma-client.js';

export interface ToolModuleRow {
  name: string;
  description: string;
  parameters?: Record<string, unknown>;
  sha256: string;
}

export function agentCatalog(prisma: PrismaClient) {
  return {
    async agent(name: string): Promise<AgentDefinition | null> {
      const row = await prisma.agent.findUnique({ where: { name }, select: { spec: true } });
      return row ? agentSchema.parse(row.spec) : null;
    },
    async provider(name: string): Promise<{ definition: Omit<ProviderDefinition, 'api_key'>; apiKeyCipher: string | null } | null> {
      const row = await prisma.provider.findUnique({ where: { name }, select: { spec: true, apiKeyCipher: true } });
      return row ? { definition: providerSchema.parse(row.spec), apiKeyCipher: row.apiKeyCipher } : null;
    },
    async tools(names: string[]): Promise<ToolModuleRow[]> {
      if (names.length === 0) return [];
      const rows = await prisma.wasmModule.findMany({ where: { name: { in: names } }, select: { name: true, sha256: true, spec: true } });
      return rows.flatMap((row) => {
        const tool = (row.spec as { tool?: unknown }).tool;
        if (!tool) return [];
        const parsed = wasmToolSchema.parse(tool);
        return [{ name: row.name, sha256: row.sha256, description: parsed.description, ...(parsed.parameters ? { parameters: parsed.parameters } : {}) }];
      });
    },
    /** The MCP servers among `names`; every one when `names` is not given (to close sessions of removed ones). */
    async mcpServers(names?: string[]): Promise<McpServerDefinition[]> {
      if (names?.length === 0) return [];
      const rows = await prisma.mcpServer.findMany({ ...(names ? { where: { name: { in: names } } } : {}), select: { spec: true } });
      return rows.map((row) => mcpServerSchema.parse(row.spec));
    },
  };
}
