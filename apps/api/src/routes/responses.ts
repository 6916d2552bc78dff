/**
 * The OpenAI Responses API over Mule's models: `POST /v1/responses` (workflow/…, async/workflow/…, agent/…),
 * `GET /v1/responses/{id}` and `POST /v1/responses/{id}/cancel`. Scopes and ownership are the jobs': a key reads and
 * cancels the responses it created, and another key's response is answered exactly like one that does not exist.
 */
import { Router } from 'express';
import { MuleError } from '@mule/core';
import { cancelJob, CHANNELS, notify } from '@mule/db';
import { callerKeyId, callerOf, requireScope } from '../access.js';
import type { ApiContext } from '../api-context.js';
import { parseIdempotencyKey, parseModel } from '../chat-request.js';
import { createAgentResponse } from '../response-agent.js';
import { responseObject } from '../response-format.js';
import { parseResponseRequest } from '../response-request.js';
import { conversationOf, findResponse, stateOfRow } from '../response-store.js';
import { createWorkflowResponse } from '../response-workflow.js';

export function responsesRouter(ctx: ApiContext): Router {
  const router = Router();

  router.post('/v1/responses', async (req, res) => {
    const request = parseResponseRequest(req.body);
    const target = parseModel(request.model);
    const caller = callerOf(res);
    requireScope(caller, request.model);
    const conversation = await conversationOf(ctx, caller, request);
    if (target.kind === 'agent') {
      await createAgentResponse(ctx, res, { request, conversation, name: target.name, apiKeyId: callerKeyId(caller) });
      return;
    }
    await createWorkflowResponse(ctx, res, {
      request,
      conversation,
      workflow: target.name,
      async: target.async,
      idempotencyKey: parseIdempotencyKey(req.get('Idempotency-Key')),
      apiKeyId: callerKeyId(caller),
    });
  });

  router.get('/v1/responses/:id', async (req, res) => {
    const row = await findResponse(ctx, callerOf(res), req.params['id']!);
    res.json(responseObject(stateOfRow(row)));
  });

  router.post('/v1/responses/:id/cancel', async (req, res) => {
    const id = req.params['id']!;
    const row = await findResponse(ctx, callerOf(res), id);
    if (row.jobId === null) {
      throw new MuleError('conflict', `response ${id} already finished (${row.status ?? 'failed'}); only queued or in-progress responses can be cancelled`);
    }
    // The job's cancel (routes/jobs.ts): waiting callers answer now, a worker running it stops.
    const before = await cancelJob(ctx.pool, row.jobId, { code: 'cancelled', message: 'the response was cancelled' });
    if (before === null) throw new MuleError('not_found', `no response ${id}`, { param: 'id' });
    if (before !== 'queued' && before !== 'running') {
      throw new MuleError('conflict', `response ${id} already finished (${before}); only queued or in-progress responses can be cancelled`);
    }
    if (before === 'queued') await ctx.queue.cancel(row.jobId);
    await notify(ctx.pool, CHANNELS.jobFinished, row.jobId);
    if (before === 'running') await notify(ctx.pool, CHANNELS.jobCancel, row.jobId);
    res.json(responseObject(stateOfRow((await findResponse(ctx, callerOf(res), id)))));
  });

  return router;
}
