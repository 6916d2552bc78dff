/** What /v1/models lists: the workflows and agents that exist, by name, with when each was first created. */
import type { PrismaClient } from './prisma-client.js';

export interface ModelSource {
  kind: 'workflow' | 'agent';
  name: string;
  createdAt: Date;
}

/** Every workflow, then every agent, each by name. */
export async function listModelSources(prisma: PrismaClient): Promise<ModelSource[]> {
  const select = { name: true, createdAt: true } as const;
  const [workflows, agents] = await Promise.all([
    prisma.workflow.findMany({ select, orderBy: { name: 'asc' } }),
    prisma.agent.findMany({ select, orderBy: { name: 'asc' } }),
  ]);
  return [
    ...workflows.map((row) => ({ kind: 'workflow' as const, ...row })),
    ...agents.map((row) => ({ kind: 'agent' as const, ...row })),
  ];
}

/** One workflow or agent, or null when it does not exist. */
export async function findModelSource(prisma: PrismaClient, kind: ModelSource['kind'], name: string): Promise<ModelSource | null> {
  const select = { createdAt: true } as const;
  const row = kind === 'agent'
    ? await prisma.agent.findUnique({ where: { name }, select })
    : await prisma.workflow.findUnique({ where: { name }, select });
  return row ? { kind, name, createdAt: row.createdAt } : null;
}

/** Whether any agent is defined (api and worker load the agent runtime, ~1 s, only then). */
export async function anyAgentDefined(prisma: PrismaClient): Promise<boolean> {
  return (await prisma.agent.findFirst({ select: { name: true } })) !== null;
}
