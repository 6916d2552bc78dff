/** API keys: POST /v1/keys (the key is shown once), GET /v1/keys, DELETE /v1/keys/{id}. Admin only. */
import { Router } from 'express';
import { z } from 'zod';
import { MuleError, parseWith, SCOPE_PATTERN } from '@mule/core';
import { createApiKey, listApiKeys, revokeApiKey, type ApiKeyRecord } from '@mule/db';
import { callerOf, requireAdmin } from '../access.js';
import type { ApiContext } from '../api-context.js';
import { jsonObjectBody } from '../json-object-body.js';

const createSchema = z.strictObject({
  name: z.string().min(1).max(100),
  scopes: z.array(z.string().regex(SCOPE_PATTERN, 'a scope is a model pattern like workflow/x, workflow/summarize-* or agent/*')).max(100).default([]),
  rpm: z.int().min(1).max(1_000_000).nullable().optional(),
  admin: z.boolean().optional(),
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function view(key: ApiKeyRecord) {
  return {
    id: key.id,
    object: 'api_key' as const,
    name: key.name,
    key_prefix: key.keyPrefix,
    scopes: key.scopes,
    rpm: key.rpm,
    admin: key.admin,
    created_at: key.createdAt.toISOString(),
    revoked_at: key.revokedAt?.toISOString() ?? null,
  };
}

export function keysRouter(ctx: ApiContext): Router {
  const router = Router();
  router.post('/v1/keys', async (req, res) => {
    requireAdmin(callerOf(res));
    const input = parseWith(createSchema, jsonObjectBody(req.body));
    const created = await createApiKey(ctx.pool, { name: input.name, scopes: input.scopes, rpm: input.rpm ?? null, admin: input.admin ?? false });
    ctx.keysChanged();
    const { key, ...record } = created;
    res.status(201).json({ ...view(record), key });
  });
  router.get('/v1/keys', async (_req, res) => {
    requireAdmin(callerOf(res));
    res.json({ object: 'list', data: (await listApiKeys(ctx.pool)).map(view) });
  });
  router.delete('/v1/keys/:id', async (req, res) => {
    requireAdmin(callerOf(res));
    const id = String(req.params['id']).toLowerCase();
    const outcome = UUID.test(id) ? await revokeApiKey(ctx.pool, id, ctx.config.MULE_API_KEYS.length > 0) : 'not_found';
    if (outcome === 'not_found') throw new MuleError('not_found', `no active API key ${req.params['id']}`, { param: 'id' });
    if (outcome === 'last_admin') {
      // Keys are required for good once one existed: without an admin key nobody could manage them over the API.
      throw new MuleError('conflict', 'this is the last active admin key: create another admin key first (or set MULE_API_KEYS)', { param: 'id' });
    }
    ctx.keysChanged();
    res.json({ id, object: 'api_key', deleted: true });
  });
  return router;
}
