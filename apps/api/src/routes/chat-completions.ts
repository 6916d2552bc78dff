/** POST /v1/chat/completions: workflow/…, async/workflow/… and agent/…. */
import { Router } from 'express';
import { formatJobId, timeOrderedId } from '@mule/core';
import { runAgentCall } from '../agent-call.js';
import { callerKeyId, callerOf, requireScope } from '../access.js';
import type { ApiContext } from '../api-context.js';
import { parseChatRequest, parseIdempotencyKey, parseModel } from '../chat-request.js';
import { submitJob } from '../submit-job.js';
import { runWorkflowCall } from '../workflow-call.js';

export function chatCompletionsRouter(ctx: ApiContext): Router {
  const router = Router();
  router.post('/v1/chat/completions', async (req, res) => {
    const request = parseChatRequest(req.body);
    const target = parseModel(request.model);
    const caller = callerOf(res);
    requireScope(caller, request.model);
    if (target.kind === 'agent') {
      await runAgentCall(ctx, req, res, request, target.name);
      return;
    }
    const idempotencyKey = parseIdempotencyKey(req.get('Idempotency-Key'));
    if (!target.async) {
      await runWorkflowCall(ctx, res, request, target.name, idempotencyKey, callerKeyId(caller));
      return;
    }
    const submitted = await submitJob(ctx, {
      id: timeOrderedId(),
      workflow: target.name,
      model: request.model,
      messages: request.messages,
      idempotencyKey,
      apiKeyId: callerKeyId(caller),
    });
    res.setHeader('X-Mule-Job-Id', formatJobId(submitted.id));
    res.status(202).json({
      id: formatJobId(submitted.id),
      object: 'job',
      status: submitted.status,
      message: 'The workflow has been started',
      model: request.model,
      created: Math.floor(submitted.createdAt.getTime() / 1000),
    });
  });
  return router;
}
