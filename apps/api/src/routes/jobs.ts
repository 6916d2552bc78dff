/** Jobs: read one, list, cancel, replay; a key sees only the jobs it created (README "API keys"). */
import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { formatJobId, JOB_STATUSES, jobPlanSchema, MuleError, NAME_PATTERN, parseJobId, parseWith, timeOrderedId, type JobPlan } from '@mule/core';
import { cancelJob, CHANNELS, getJob, insertJob, listJobs, notify, type JobRow } from '@mule/db';
import { currentTraceContext } from '@mule/observability';
import { callerKeyId, callerOf, canSeeJob, jobOwnerFilter, requireScope } from '../access.js';
import type { ApiContext } from '../api-context.js';
import { jobView } from '../job-view.js';
import { jsonObjectBody } from '../json-object-body.js';
import { resumeUrlsFor } from '../resume-links.js';

const listQuerySchema = z.strictObject({
  status: z.enum(JOB_STATUSES).optional(),
  workflow: z.string().regex(NAME_PATTERN, 'must be a workflow name').optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  after: z.string().max(100).optional(),
});

const replaySchema = z.strictObject({
  input: z.unknown().optional(),
  version: z.enum(['pinned', 'latest']).default('pinned'),
});

function jobUuid(value: string, param = 'id'): string {
  const uuid = parseJobId(value);
  if (!uuid) throw new MuleError('not_found', `no job ${value}`, { param });
  return uuid;
}

/** The job if the caller may see it; another key's job is "no job" too: a 403 would tell that it exists. */
async function visibleJob(ctx: ApiContext, res: Response, rawId: string): Promise<JobRow> {
  const job = await getJob(ctx.prisma, jobUuid(rawId));
  if (!job || !canSeeJob(callerOf(res), job.apiKeyId)) throw new MuleError('not_found', `no job ${rawId}`, { param: 'id' });
  return job;
}

async function answerJob(ctx: ApiContext, req: Request, res: Response, job: JobRow, status = 200): Promise<void> {
  res.status(status).json(jobView(job, await resumeUrlsFor(ctx, req, res, [job])));
}

/** A replay's input: a JSON object, as every job input is (the body's storability and size are checked for all routes). */
function replayInput(input: unknown): Record<string, unknown> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new MuleError('invalid_request', 'input must be a JSON object (a job input, as GET /v1/jobs/{id} shows it)', { param: 'input' });
  }
  return input as Record<string, unknown>;
}

export function jobsRouter(ctx: ApiContext): Router {
  const router = Router();

  router.get('/v1/jobs/:id', async (req, res) => {
    await answerJob(ctx, req, res, await visibleJob(ctx, res, req.params['id']!));
  });

  router.get('/v1/jobs', async (req, res) => {
    const query = parseWith(listQuerySchema, req.query);
    let after: string | undefined;
    if (query.after !== undefined) {
      after = parseJobId(query.after) ?? undefined;
      if (!after) throw new MuleError('invalid_request', 'after must be a job id (job-…)', { param: 'after' });
    }
    const { jobs, hasMore } = await listJobs(ctx.prisma, { ...query, after, apiKeyId: jobOwnerFilter(callerOf(res)) });
    const resumeUrl = await resumeUrlsFor(ctx, req, res, jobs);
    res.json({ object: 'list', data: jobs.map((job) => jobView(job, resumeUrl)), has_more: hasMore });
  });

  router.post('/v1/jobs/:id/cancel', async (req, res) => {
    const id = (await visibleJob(ctx, res, req.params['id']!)).id;
    const before = await cancelJob(ctx.pool, id, { code: 'cancelled', message: 'the job was cancelled' });
    if (before === null) throw new MuleError('not_found', `no job ${req.params['id']}`, { param: 'id' });
    if (before !== 'queued' && before !== 'running' && before !== 'waiting') {
      throw new MuleError('conflict', `job ${formatJobId(id)} already finished (${before}); only queued, running or waiting jobs can be cancelled`);
    }
    const job = (await getJob(ctx.prisma, id))!;
    // The database's cancel decides which statuses it ends; one it left alone is refused, not claimed as done.
    if (job.status !== 'cancelled') throw new MuleError('conflict', `job ${formatJobId(id)} is ${job.status} and cannot be cancelled now`);
    if (before === 'queued') await ctx.queue.cancel(id);
    // Sync callers waiting for it answer now; a worker running it stops. A waiting job's timeout entry finds it
    // cancelled and changes nothing.
    await notify(ctx.pool, CHANNELS.jobFinished, id);
    if (before === 'running') await notify(ctx.pool, CHANNELS.jobCancel, id);
    await answerJob(ctx, req, res, job);
  });

  /**
   * A new job of the old one's workflow: by default its input and its plan as they were (`pinned`: the same
   * version and module bytes), or the workflow's current version (`latest`). The workflow must still exist (409
   * otherwise: the job is there, what it ran is gone); the caller needs the scope that calling it needs.
   */
  router.post('/v1/jobs/:id/replay', async (req, res) => {
    const old = await visibleJob(ctx, res, req.params['id']!);
    const caller = callerOf(res);
    const model = `workflow/${old.workflowName}`;
    requireScope(caller, model);
    const body = parseWith(replaySchema, jsonObjectBody(req.body ?? {}));
    const input = body.input === undefined ? old.input : replayInput(body.input);
    const current = await ctx.targets.get(old.workflowName);
    if (!current) {
      throw new MuleError('conflict', `workflow "${old.workflowName}" no longer exists; job ${formatJobId(old.id)} cannot be replayed`, { param: 'id' });
    }
    let target: { version: number; plan: JobPlan };
    if (body.version === 'latest') {
      target = current;
    } else {
      const pinned = jobPlanSchema.safeParse(old.plan);
      if (!pinned.success) throw new MuleError('internal_error', `job ${formatJobId(old.id)} has a plan that does not parse`);
      // The stored plan as is, not its parse: a plan is the job's frozen copy and must run byte for byte the same.
      target = { version: old.workflowVersion, plan: old.plan as JobPlan };
    }
    const id = timeOrderedId();
    await insertJob(ctx.queue, ctx.pool, {
      id,
      workflow: old.workflowName,
      version: target.version,
      model: old.model,
      input,
      plan: target.plan,
      idempotencyKey: null,
      apiKeyId: callerKeyId(caller),
      replayOf: old.id,
      traceContext: currentTraceContext(),
    });
    ctx.announceJobs.send();
    res.setHeader('X-Mule-Job-Id', formatJobId(id));
    res.status(202).json({
      id: formatJobId(id),
      object: 'job',
      status: 'queued',
      message: 'The workflow has been started',
      model: old.model,
      created: Math.floor(Date.now() / 1000),
      workflow: old.workflowName,
      workflow_version: target.version,
      replay_of: formatJobId(old.id),
    });
  });

  return router;
}
