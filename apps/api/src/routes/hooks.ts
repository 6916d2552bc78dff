/**
 * `POST /v1/hooks/<trigger>`: a webhook delivery starts the trigger's workflow (docs/triggers.md). No API key: the
 * signature is the authentication, checked over the raw body bytes before anything else reads them. Everything
 * the sender controls is bad input until then, and bounded after: MULE_MAX_BODY_BYTES, JSON depth, storable text.
 * Answers: 202 with the job (as an async call answers), 204 when `filter` says no, 401 for a bad signature.
 */
import express, { Router, type Request } from 'express';
import {
  envVarAllowed,
  evaluateCondition,
  evaluateTemplate,
  formatJobId,
  isValidName,
  MuleError,
  timeOrderedId,
  type TriggerDefinition,
} from '@mule/core';
import { getTrigger, insertJob } from '@mule/db';
import { currentTraceContext, metrics } from '@mule/observability';
import type { ApiContext } from '../api-context.js';
import { bodyProblem } from '../json-body-check.js';
import { keepingContext } from '../request-context.js';
import { preparedTrigger } from '../trigger-cache.js';
import { verifySignature } from '../trigger-signatures.js';

/** A delivery id longer than this is not an id (GitHub's are 36 characters, Stripe's ~30). */
const MAX_DELIVERY_ID = 200;

function lowerCaseHeaders(req: Request): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

function parseBody(raw: Buffer): Record<string, unknown> {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch (error) {
    throw new MuleError('invalid_request', `the request body is not valid JSON: ${(error as Error).message}`);
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new MuleError('invalid_request', 'a webhook body must be a JSON object');
  }
  const problem = bodyProblem(body);
  if (problem) throw new MuleError('invalid_request', problem);
  return body as Record<string, unknown>;
}

/** The delivery's id, which makes a redelivery return the job of the first delivery. */
function deliveryId(definition: TriggerDefinition, headers: Record<string, string>, body: Record<string, unknown>): string | null {
  let id: unknown = headers['idempotency-key'] ?? null;
  if (definition.webhook?.signature === 'github') id = headers['x-github-delivery'] ?? id;
  if (definition.webhook?.signature === 'stripe' && typeof body['id'] === 'string') id = body['id'];
  if (id === null) return null;
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_DELIVERY_ID) {
    throw new MuleError('invalid_request', `the delivery id must be 1 to ${MAX_DELIVERY_ID} characters`, { param: 'Idempotency-Key' });
  }
  return id;
}

/** The trigger's secret, read where it is used and checked against MULE_ENV_ALLOW again (a definition may predate the rule). */
function secretOf(ctx: ApiContext, definition: TriggerDefinition): string | null {
  const name = definition.webhook?.secret_env;
  if (name === undefined || !envVarAllowed(name, ctx.config.MULE_ENV_ALLOW)) return null;
  // The api's environment, as providers' *_env fields are read (main.ts hands process.env to the agents).
  return process.env[name] ?? null;
}

export function hooksRouter(ctx: ApiContext): Router {
  const router = Router();
  // The raw bytes are what is signed; this route's own parser keeps them (mounted before the JSON parser, app.ts).
  const raw = keepingContext(express.raw({ type: () => true, limit: ctx.config.MULE_MAX_BODY_BYTES }));

  router.post('/v1/hooks/:name', raw, async (req, res) => {
    const name = String(req.params['name']);
    const row = isValidName(name) ? await getTrigger(ctx.prisma, name) : null;
    const prepared = row ? preparedTrigger(row) : null;
    if (!prepared?.definition.webhook) throw new MuleError('not_found', `no webhook trigger "${name}"`);
    const { definition, compiled } = prepared;
    const count = (outcome: string) => metrics.triggerFires.inc({ trigger: name, outcome });

    const rawBody = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const headers = lowerCaseHeaders(req);
    try {
      verifySignature(definition.webhook!.signature, secretOf(ctx, definition), headers, rawBody);
    } catch (error) {
      count('bad_signature');
      throw error;
    }
    const body = parseBody(rawBody);
    const delivery = deliveryId(definition, headers, body);
    const context = { input: null, steps: {}, body, headers };
    if (compiled.filter && !evaluateCondition(compiled.filter, context)) {
      count('filtered');
      res.status(204).end();
      return;
    }
    const input = compiled.input ? evaluateTemplate(compiled.input, context) : body;
    const model = `workflow/${definition.workflow}`;
    const target = await ctx.targets.get(definition.workflow);
    if (!target) throw new MuleError('not_found', `the workflow "${definition.workflow}" of trigger "${name}" does not exist`);
    const id = timeOrderedId();
    const result = await insertJob(ctx.queue, ctx.pool, {
      id,
      workflow: definition.workflow,
      version: target.version,
      model,
      input,
      plan: target.plan,
      // Scoped to the trigger, in the keyless namespace of the idempotency index (hooks carry no API key). The
      // spaces keep it apart from every Idempotency-Key a caller can send (visible ASCII only, no space), so a
      // keyless api's caller cannot take a delivery's place by sending the same key first.
      idempotencyKey: delivery === null ? null : `hook ${name} ${delivery}`,
      apiKeyId: null,
      trigger: name,
      traceContext: currentTraceContext(),
    });
    const job =
      result.kind === 'created'
        ? { id, status: 'queued', createdAt: new Date() }
        : { id: result.existing.id, status: result.existing.status, createdAt: result.existing.createdAt };
    if (result.kind === 'created') ctx.announceJobs.send();
    count(result.kind === 'created' ? 'started' : 'duplicate');
    res.setHeader('X-Mule-Job-Id', formatJobId(job.id));
    res.status(202).json({
      id: formatJobId(job.id),
      object: 'job',
      status: job.status,
      message: result.kind === 'created' ? 'The workflow has been started' : 'This delivery already started the job',
      model,
      trigger: name,
      created: Math.floor(job.createdAt.getTime() / 1000),
    });
  });
  return router;
}
