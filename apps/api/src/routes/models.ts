/** GET /v1/models: every workflow as workflow/… and async/workflow/…, every agent as agent/…. */
import { Router } from 'express';
import { isValidName, MuleError } from '@mule/core';
import { allows, callerOf } from '../access.js';
import type { ApiContext } from '../api-context.js';

export function modelsRouter(ctx: ApiContext): Router {
  const router = Router();
  router.get('/v1/models', async (_req, res) => {
    const caller = callerOf(res);
    const [workflows, agents] = await Promise.all([
      ctx.prisma.workflow.findMany({ select: { name: true, createdAt: true }, orderBy: { name: 'asc' } }),
      ctx.prisma.agent.findMany({ select: { name: true, createdAt: true }, orderBy: { name: 'asc' } }),
    ]);
    const model = (id: string, created: Date) => ({
      id,
      object: 'model' as const,
      created: Math.floor(created.getTime() / 1000),
      owned_by: 'mule',
    });
    const data = [
      ...workflows.flatMap((w) => [model(`workflow/${w.name}`, w.createdAt), model(`async/workflow/${w.name}`, w.createdAt)]),
      ...agents.map((a) => model(`agent/${a.name}`, a.createdAt)),
    ];
    // A scoped key sees the models it may use.
    res.json({ object: 'list', data: data.filter((m) => allows(caller, m.id)) });
  });
  // client.models.retrieve('workflow/x'): model ids hold slashes, so the rest of the path is the id.
  router.get(/^\/v1\/models\/(.+)$/, async (req, res) => {
    const id = String((req.params as Record<string, string>)[0]);
    const target = /^(?:async\/)?workflow\/(.+)$/.exec(id) ?? /^agent\/(.+)$/.exec(id);
    const name = target?.[1] ?? '';
    if (!isValidName(name)) throw new MuleError('model_not_found', `The model \`${id}\` does not exist`, { param: 'model' });
    const row = id.startsWith('agent/')
      ? await ctx.prisma.agent.findUnique({ where: { name }, select: { createdAt: true } })
      : target
        ? await ctx.prisma.workflow.findUnique({ where: { name }, select: { createdAt: true } })
        : null;
    if (!row || !allows(callerOf(res), id)) {
      throw new MuleError('model_not_found', `The model \`${id}\` does not exist`, { param: 'model' });
    }
    res.json({ id, object: 'model', created: Math.floor(row.createdAt.getTime() / 1000), owned_by: 'mule' });
  });
  return router;
}
