/** GET /v1/models: every workflow as workflow/… and async/workflow/…, every agent as agent/…. */
import { Router } from 'express';
import { isValidName, MuleError } from '@mule/core';
import { findModelSource, listModelSources } from '@mule/db';
import { allows, callerOf } from '../access.js';
import type { ApiContext } from '../api-context.js';

export function modelsRouter(ctx: ApiContext): Router {
  const router = Router();
  router.get('/v1/models', async (_req, res) => {
    const caller = callerOf(res);
    const sources = await listModelSources(ctx.prisma);
    const model = (id: string, created: Date) => ({
      id,
      object: 'model' as const,
      created: Math.floor(created.getTime() / 1000),
      owned_by: 'mule',
    });
    const data = sources.flatMap((source) =>
      source.kind === 'agent'
        ? [model(`agent/${source.name}`, source.createdAt)]
        : [model(`workflow/${source.name}`, source.createdAt), model(`async/workflow/${source.name}`, source.createdAt)],
    );
    // A scoped key sees the models it may use.
    res.json({ object: 'list', data: data.filter((m) => allows(caller, m.id)) });
  });
  // client.models.retrieve('workflow/x'): model ids hold slashes, so the rest of the path is the id.
  router.get(/^\/v1\/models\/(.+)$/, async (req, res) => {
    const id = String((req.params as Record<string, string>)[0]);
    const target = /^(?:async\/)?workflow\/(.+)$/.exec(id) ?? /^agent\/(.+)$/.exec(id);
    const name = target?.[1] ?? '';
    if (!isValidName(name)) throw new MuleError('model_not_found', `The model \`${id}\` does not exist`, { param: 'model' });
    const row = target ? await findModelSource(ctx.prisma, id.startsWith('agent/') ? 'agent' : 'workflow', name) : null;
    if (!row || !allows(callerOf(res), id)) {
      throw new MuleError('model_not_found', `The model \`${id}\` does not exist`, { param: 'model' });
    }
    res.json({ id, object: 'model', created: Math.floor(row.createdAt.getTime() / 1000), owned_by: 'mule' });
  });
  return router;
}
