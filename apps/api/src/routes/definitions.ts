/**
 * Definitions over REST (`/v1/{providers,agents,workflows,wasm/modules}`): GET list, GET one, PUT (create 201 /
 * replace or unchanged 200), DELETE (409 while referenced); a workflow's versions at
 * `/v1/workflows/{name}/versions`. Bodies are the definitions of core's schemas without `kind`; read-only fields a
 * GET adds (version, sha256, timestamps…) are accepted back and ignored, so a definition read can be PUT again as
 * is (definition-http.ts).
 */
import { Router, type Request } from 'express';
import { MuleError, parseDefinition, type DefinitionKind } from '@mule/core';
import {
  getAgent,
  getMcpServer,
  getModule,
  getProvider,
  getTrigger,
  getWorkflow,
  listAgents,
  listMcpServers,
  listModules,
  listProviders,
  listTriggers,
  listWorkflows,
  listWorkflowVersions,
  type PutOutcome,
} from '@mule/db';
import { callerOf, requireAdmin } from '../access.js';
import type { ApiContext } from '../api-context.js';
import {
  applyAgent,
  applyMcpServer,
  applyProvider,
  applyTrigger,
  applyWorkflow,
  removeDefinition,
  type DefinitionContext,
} from '../definitions-service.js';
import { definitionBody, nameParam, putStatus, views } from './definition-http.js';
import { moduleUploadHandler } from './wasm-modules.js';

function notFound(kind: DefinitionKind, name: string): MuleError {
  return new MuleError('not_found', `no ${kind.replace('_', ' ')} "${name}"`, { param: 'name' });
}

export function definitionsRouter(ctx: ApiContext, defs: DefinitionContext): Router {
  const router = Router();
  // Definitions are admin business, reads included.
  for (const path of ['/v1/providers', '/v1/agents', '/v1/workflows', '/v1/wasm/modules', '/v1/mcp_servers', '/v1/triggers']) {
    router.use(path, (_req, res, next) => {
      requireAdmin(callerOf(res));
      next();
    });
  }

  const crud = <Row>(
    path: string,
    kind: DefinitionKind,
    list: () => Promise<Row[]>,
    get: (name: string) => Promise<Row | null>,
    view: (row: Row) => unknown,
    put?: (name: string, req: Request) => Promise<PutOutcome>,
  ) => {
    router.get(path, async (_req, res) => {
      res.json({ object: 'list', data: (await list()).map(view) });
    });
    router.get(`${path}/:name`, async (req, res) => {
      const name = nameParam(req);
      const row = await get(name);
      if (!row) throw notFound(kind, name);
      res.json(view(row));
    });
    if (put) {
      router.put(`${path}/:name`, async (req, res) => {
        const name = nameParam(req);
        const outcome = await put(name, req);
        if (outcome !== 'unchanged') ctx.definitionsChanged();
        res.status(putStatus(outcome)).json(view((await get(name))!));
      });
    }
    router.delete(`${path}/:name`, async (req, res) => {
      const name = nameParam(req);
      const result = await removeDefinition(defs, kind, name);
      if (result.deleted) ctx.definitionsChanged();
      if (!result.deleted && result.reason === 'not_found') throw notFound(kind, name);
      if (!result.deleted && result.reason === 'referenced') {
        throw new MuleError('conflict', `${kind.replace('_', ' ')} "${name}" is still used by ${result.by.join(', ')}`);
      }
      res.json({ name, object: kind, deleted: true });
    });
  };

  crud('/v1/providers', 'provider', () => listProviders(ctx.prisma), (n) => getProvider(ctx.prisma, n), views.provider, (name, req) => {
    const keepStoredKey = (req.body as { has_api_key?: unknown } | undefined)?.has_api_key === true;
    return applyProvider(defs, parseDefinition('provider', definitionBody(req, name)), keepStoredKey);
  });
  crud('/v1/mcp_servers', 'mcp_server', () => listMcpServers(ctx.prisma), (n) => getMcpServer(ctx.prisma, n), views.mcp_server, (name, req) =>
    applyMcpServer(defs, parseDefinition('mcp_server', definitionBody(req, name))),
  );
  crud('/v1/agents', 'agent', () => listAgents(ctx.prisma), (n) => getAgent(ctx.prisma, n), views.agent, (name, req) =>
    applyAgent(defs, parseDefinition('agent', definitionBody(req, name))),
  );
  crud('/v1/workflows', 'workflow', () => listWorkflows(ctx.prisma), (n) => getWorkflow(ctx.prisma, n), views.workflow, async (name, req) =>
    (await applyWorkflow(defs, parseDefinition('workflow', definitionBody(req, name)))).outcome,
  );
  // Every version a workflow has had, newest first; each as GET /v1/workflows/{name} answered while it was current.
  router.get('/v1/workflows/:name/versions', async (req, res) => {
    const name = nameParam(req);
    const found = await listWorkflowVersions(ctx.prisma, name);
    if (!found) throw notFound('workflow', name);
    res.json({
      object: 'list',
      data: found.versions.map((row) => ({
        version: row.version,
        created_at: row.createdAt.toISOString(),
        definition: views.workflow({ name, version: row.version, spec: row.spec, createdAt: found.workflowCreatedAt, updatedAt: row.createdAt }),
      })),
    });
  });
  crud('/v1/triggers', 'trigger', () => listTriggers(ctx.prisma), (n) => getTrigger(ctx.prisma, n), views.trigger, (name, req) =>
    applyTrigger(defs, parseDefinition('trigger', definitionBody(req, name, ['last_fired_at']))),
  );
  // Modules: PUT takes raw bytes or JSON with wasm_base64 (wasm-modules.ts); the rest is shared.
  router.put('/v1/wasm/modules/:name', moduleUploadHandler(ctx, defs));
  crud('/v1/wasm/modules', 'wasm_module', () => listModules(ctx.prisma), (n) => getModule(ctx.prisma, n), views.wasm_module);
  return router;
}
