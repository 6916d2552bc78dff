/** Jobs: read one, list, cancel; a key sees only the jobs it created (README "API keys"). */
import { Router } from 'express';
import { z } from 'zod';
import { formatJobId, JOB_STATUSES, MuleError, NAME_PATTERN, parseJobId, parseWith } from '@mule/core';
import { cancelJob, CHANNELS, getJob, listJobs, notify } from '@mule/db';
import { callerOf, canSeeJob, jobOwnerFilter } from '../access.js';
import type { ApiContext } from '../api-context.js';
import { jobView } from '../job-view.js';

const listQuerySchema = z.strictObject({
  status: z.enum(JOB_STATUSES).optional(),
  workflow: z.string().regex(NAME_PATTERN, 'must be a workflow name').optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  after: z.string().max(100).optional(),
});

function jobUuid(value: string, param = 'id'): string {
  const uuid = parseJobId(value);
  if (!uuid) throw new MuleError('not_found', `no job ${value}`, { param });
  return uuid;
}

export function jobsRouter(ctx: ApiContext): Router {
  const router = Router();

  router.get('/v1/jobs/:id', async (req, res) => {
    const job = await getJob(ctx.prisma, jobUuid(req.params['id']!));
    // Another key's job is "no job" too: a 403 would tell that it exists.
    if (!job || !canSeeJob(callerOf(res), job.apiKeyId)) throw new MuleError('not_found', `no job ${req.params['id']}`, { param: 'id' });
    res.json(jobView(job));
  });

  router.get('/v1/jobs', async (req, res) => {
    const query = parseWith(listQuerySchema, req.query);
    let after: string | undefined;
    if (query.after !== undefined) {
      after = parseJobId(query.after) ?? undefined;
      if (!after) throw new MuleError('invalid_request', 'after must be a job id (job-…)', { param: 'after' });
    }
    const { jobs, hasMore } = await listJobs(ctx.prisma, { ...query, after, apiKeyId: jobOwnerFilter(callerOf(res)) });
    res.json({ object: 'list', data: jobs.map(jobView), has_more: hasMore });
  });

  router.post('/v1/jobs/:id/cancel', async (req, res) => {
    const id = jobUuid(req.params['id']!);
    const owner = await getJob(ctx.prisma, id);
    if (!owner || !canSeeJob(callerOf(res), owner.apiKeyId)) throw new MuleError('not_found', `no job ${req.params['id']}`, { param: 'id' });
    const before = await cancelJob(ctx.pool, id, { code: 'cancelled', message: 'the job was cancelled' });
    if (before === null) throw new MuleError('not_found', `no job ${req.params['id']}`, { param: 'id' });
    if (before !== 'queued' && before !== 'running') {
      throw new MuleError('conflict', `job ${formatJobId(id)} already finished (${before}); only queued or running jobs can be cancelled`);
    }
    if (before === 'queued') await ctx.queue.cancel(id);
    // Sync callers waiting for it answer now; a worker running it stops.
    await notify(ctx.pool, CHANNELS.jobFinished, id);
    if (before === 'running') await notify(ctx.pool, CHANNELS.jobCancel, id);
    const job = await getJob(ctx.prisma, id);
    res.json(jobView(job!));
  });

  return router;
}
