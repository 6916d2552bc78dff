/**
 * Waits: POST /v1/jobs/{id}/steps/{step}/resume `{"output"}` and …/reject `{"reason"?}`. Authorized by the step's
 * resume token (`?token=`, from the view's `resume_url`: no API key needed) or else by an API key with the
 * workflow's scope (open without keys, as every route). Anything refused changes nothing.
 */
import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { jobPlanSchema, jsonSchemaErrors, MuleError, parseJobId, parseWith, timeOrderedId, type PlanStep } from '@mule/core';
import { getJob, settleWait, type JobRow, type WaitSettlement } from '@mule/db';
import { callerOf, canSeeJob, requireScope } from '../access.js';
import type { ApiContext } from '../api-context.js';
import { jsonObjectBody } from '../json-object-body.js';
import { jobView } from '../job-view.js';
import { resumeSecret, resumeUrlsFor, tokenMatches } from '../resume-links.js';

const resumeSchema = z.strictObject({ output: z.unknown() });
/** A reason is for the people reading the job: 2000 characters is a long paragraph. */
const rejectSchema = z.strictObject({ reason: z.string().max(2000).optional() });

type Action = 'resume' | 'reject';

/**
 * The job and its wait step, once the caller is allowed to act on it. With a token, whatever does not match (no
 * such job, step or attempt, a wrong token) is one 403: a token holder learns nothing about other jobs. With a key,
 * a job the key cannot see is 404, as on GET.
 */
async function authorize(ctx: ApiContext, req: Request, res: Response): Promise<{ job: JobRow; step: PlanStep }> {
  const rawId = String(req.params['id']);
  const stepId = String(req.params['step']);
  const token = res.locals['resumeToken'] as string | undefined;
  const uuid = parseJobId(rawId);
  const job = uuid ? await getJob(ctx.prisma, uuid) : null;
  if (token !== undefined) {
    const row = job?.steps.findLast((step) => step.stepId === stepId && step.item === null);
    if (!job || !row || !tokenMatches(await resumeSecret(ctx.pool), job.id, stepId, row.attempt, token)) {
      throw new MuleError('forbidden', 'the token is not valid for this step (use the resume_url of the job view)', { param: 'token' });
    }
  } else {
    const caller = callerOf(res);
    if (!job || !canSeeJob(caller, job.apiKeyId)) throw new MuleError('not_found', `no job ${rawId}`, { param: 'id' });
    requireScope(caller, `workflow/${job.workflowName}`);
  }
  const plan = jobPlanSchema.safeParse(job.plan);
  const step = plan.success ? plan.data.steps.find((candidate) => candidate.id === stepId) : undefined;
  if (!step || step.type !== 'wait') throw new MuleError('not_found', `job ${rawId} has no wait step "${stepId}"`, { param: 'step' });
  return { job, step };
}

function settlementOf(action: Action, body: unknown, step: PlanStep): WaitSettlement {
  if (action === 'reject') {
    const { reason } = parseWith(rejectSchema, jsonObjectBody(body));
    return { status: 'failed', error: { code: 'rejected', message: reason ? `rejected: ${reason}` : 'the wait step was rejected' } };
  }
  const parsed = parseWith(resumeSchema, jsonObjectBody(body));
  if (!('output' in parsed) || parsed.output === undefined) {
    throw new MuleError('invalid_request', 'output is required: {"output": <the step\'s output>}', { param: 'output' });
  }
  if (step.type === 'wait' && step.schema) {
    const problem = jsonSchemaErrors(step.schema, parsed.output, 'output');
    if (problem) throw new MuleError('invalid_request', `output does not match the wait step's schema: ${problem}`, { param: 'output' });
  }
  return { status: 'completed', output: parsed.output };
}

export function waitsRouter(ctx: ApiContext): Router {
  const router = Router();
  const handle = (action: Action) => async (req: Request, res: Response) => {
    const { job, step } = await authorize(ctx, req, res);
    const settlement = settlementOf(action, req.body, step);
    const label = `step "${step.id}" of job ${String(req.params['id'])}`;
    const row = job.steps.findLast((candidate) => candidate.stepId === step.id && candidate.item === null);
    if (!row || row.status !== 'waiting') {
      throw new MuleError('conflict', `${label} is not waiting (${row ? row.status : 'not reached yet'}); only a waiting step can be resumed or rejected`, { param: 'step' });
    }
    const outcome = await settleWait(ctx.queue, ctx.pool, { jobId: job.id, stepId: step.id, entryId: timeOrderedId(), settlement });
    if (outcome === 'not_waiting') throw new MuleError('conflict', `${label} is no longer waiting; it was resumed, rejected or timed out meanwhile`, { param: 'step' });
    // After the commit, never inside it (see packages/db/src/queue.ts): wakes an idle worker for a queued job,
    // or the worker running the job, which reads the settled row.
    ctx.announceJobs.send(job.id);
    const after = (await getJob(ctx.prisma, job.id))!;
    res.status(202).json(jobView(after, await resumeUrlsFor(ctx, req, res, [after])));
  };
  router.post('/v1/jobs/:id/steps/:step/resume', handle('resume'));
  router.post('/v1/jobs/:id/steps/:step/reject', handle('reject'));
  return router;
}
