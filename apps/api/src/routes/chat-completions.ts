/** POST /v1/chat/completions (SPEC 5.1): workflow/…, async/workflow/…, and (later) agent/…. */
import { randomUUID } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import { completionContentOf, formatJobId, MuleError, muleErrorFromJSON, ZERO_USAGE } from '@mule/core';
import type { JobOutcome } from '@mule/db';
import type { ApiContext } from '../api-context.js';
import { parseChatRequest, parseIdempotencyKey, parseModel, type ChatRequest } from '../chat-request.js';
import { submitJob } from '../submit-job.js';

export function chatCompletionsRouter(ctx: ApiContext): Router {
  const router = Router();
  router.post('/v1/chat/completions', async (req, res) => {
    const request = parseChatRequest(req.body);
    const target = parseModel(request.model);
    if (target.kind === 'agent') {
      throw new MuleError('model_not_found', `The model \`${request.model}\` does not exist`, { param: 'model' });
    }
    if (request.stream) {
      throw new MuleError('invalid_request', 'stream: true is not supported yet; send the request without stream', {
        param: 'stream',
      });
    }
    const idempotencyKey = parseIdempotencyKey(req.get('Idempotency-Key'));
    if (target.async) {
      const submitted = await submitJob(ctx.pool, ctx.queue, {
        id: randomUUID(),
        workflow: target.name,
        model: request.model,
        messages: request.messages,
        idempotencyKey,
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
      return;
    }
    await runSync(ctx, req, res, request, target.name, idempotencyKey);
  });
  return router;
}

async function runSync(
  ctx: ApiContext,
  req: Request,
  res: Response,
  request: ChatRequest,
  workflow: string,
  idempotencyKey: string | null,
): Promise<void> {
  const started = Date.now();
  const gone = new AbortController();
  res.on('close', () => gone.abort());
  const id = randomUUID();
  // Wait before the job exists: it cannot finish before we listen for it.
  const waitNew = ctx.waiters.wait(id, ctx.config.MULE_SYNC_TIMEOUT_MS, gone.signal);
  let submitted;
  try {
    submitted = await submitJob(ctx.pool, ctx.queue, {
      id,
      workflow,
      model: request.model,
      messages: request.messages,
      idempotencyKey,
    });
  } catch (error) {
    gone.abort();
    throw error;
  }
  res.setHeader('X-Mule-Job-Id', formatJobId(submitted.id));
  let result;
  if (submitted.existing) {
    const remaining = Math.max(1, ctx.config.MULE_SYNC_TIMEOUT_MS - (Date.now() - started));
    const waitExisting = ctx.waiters.wait(submitted.id, remaining, gone.signal);
    ctx.waiters.check([submitted.id]);
    result = await waitExisting;
  } else {
    result = await waitNew;
  }
  if (result.kind === 'aborted') return;
  const publicId = formatJobId(submitted.id);
  if (result.kind === 'timeout') {
    throw new MuleError(
      'workflow_timeout',
      `job ${publicId} did not finish within ${ctx.config.MULE_SYNC_TIMEOUT_MS} ms; it goes on: read it at GET /v1/jobs/${publicId}`,
    );
  }
  res.json(completionOf(result.outcome, request.model, publicId, submitted.createdAt));
}

function completionOf(outcome: JobOutcome, model: string, publicId: string, createdAt: Date) {
  if (outcome.status === 'cancelled') {
    throw new MuleError('cancelled', `job ${publicId} was cancelled`);
  }
  if (outcome.status !== 'completed') {
    const error = muleErrorFromJSON(outcome.error);
    throw new MuleError(error.code, `${error.message} (job ${publicId})`, { details: error.details });
  }
  return {
    id: publicId,
    object: 'chat.completion',
    created: Math.floor(createdAt.getTime() / 1000),
    model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: completionContentOf(outcome.output), refusal: null },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: outcome.usage ?? ZERO_USAGE,
    system_fingerprint: null,
  };
}
