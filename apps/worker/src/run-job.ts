/**
 * Runs one claimed job: its plan's steps in order, each step's result stored before the next starts, then the
 * job's final state, then a NOTIFY for the api (after the commit, as its own statement: a NOTIFY holds a global
 * lock through its commit; 16 clients did ~3,800 commits/s with the NOTIFY inside against ~11,000 with it after). A job taken over after a crash resumes at its first
 * unfinished step with the stored outputs. Database failures propagate: pg-boss hands the job back and a later
 * claim resumes it; step failures are the job's and are stored.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { formatJobId, jobPlanSchema, MuleError, toMuleError, type PlanStep } from '@mule/core';
import {
  abandonRunningSteps,
  claimJob,
  finishJob,
  finishStep,
  readStepRecords,
  startStep,
  type NotifyBatcher,
  type Pool,
  type Claim,
  type StepEnd,
} from '@mule/db';
import type { Logger } from '@mule/observability';
import { metrics } from '@mule/observability';
import type { QueueJob } from './claim-loop.js';
import type { RunningJobs } from './running-jobs.js';
import { runStep, stepBackstopMs, type StepRunners } from './steps/step-runner.js';

export interface JobRunnerDeps {
  pool: Pool;
  log: Logger;
  running: RunningJobs;
  /** Announces finished jobs to the api's waiters (coalesced NOTIFY after the commit). */
  finished: NotifyBatcher;
  /** A whole job's time limit, from its first start (MULE_JOB_TIMEOUT_SECONDS). */
  jobTimeoutMs: number;
  steps: StepRunners;
  logContent: boolean;
}

/** Retry delay: exponential from 250 ms, capped at 30 s, with full jitter over its upper half. */
export function retryDelayMs(attempt: number): number {
  const ceiling = Math.min(30_000, 250 * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

interface ResumePoint {
  index: number;
  input: unknown;
  /** Attempts already made, per step index. */
  attempts: Map<number, number>;
  /** The first claim already started step 0's first attempt (claimJob does it in the same statement). */
  firstStepStarted: boolean;
}

/**
 * Where a job continues after a takeover: the first step without a completed attempt. Null when the job is no
 * longer running under this claim (claimed again, or cancelled, meanwhile).
 */
async function resumePoint(pool: Pool, claim: Claim, jobInput: unknown): Promise<ResumePoint | null> {
  const owned = await abandonRunningSteps(pool, claim, {
    code: 'unavailable',
    message: 'the worker running this attempt stopped before it finished; another worker took the job over',
  });
  if (!owned) return null;
  const records = await readStepRecords(pool, claim.jobId);
  const attempts = new Map<number, number>();
  const outputs = new Map<number, unknown>();
  for (const record of records) {
    attempts.set(record.stepIndex, Math.max(attempts.get(record.stepIndex) ?? 0, record.attempt));
    if (record.status === 'completed') outputs.set(record.stepIndex, record.output);
  }
  let index = 0;
  let input = jobInput;
  while (outputs.has(index)) {
    input = outputs.get(index);
    index++;
  }
  return { index, input, attempts, firstStepStarted: false };
}

export async function runJob(deps: JobRunnerDeps, queued: QueueJob): Promise<void> {
  const { pool, running } = deps;
  const job = await claimJob(pool, queued.jobId);
  if (!job) {
    // Finished or cancelled already. An earlier worker may have died between its commit and its NOTIFY.
    deps.finished.send(queued.jobId);
    return;
  }
  const log = deps.log.child({ job_id: formatJobId(job.id), workflow: job.workflowName, attempt: job.attempts });
  if (job.attempts === 1) metrics.queueWait.observe((Date.now() - job.createdAt.getTime()) / 1000);
  const plan = jobPlanSchema.parse(job.plan);
  const controller = running.start(job.id, queued.signal);
  const remainingMs = job.startedAt.getTime() + deps.jobTimeoutMs - Date.now();
  const jobTimer = setTimeout(
    () => controller.abort(new MuleError('job_timeout', `the job ran longer than its limit of ${Math.round(deps.jobTimeoutMs / 1000)} s`)),
    Math.max(0, remainingMs),
  );
  metrics.busySlots.inc();
  const started = performance.now();
  try {
    // claimJob counted this claim in `attempts`: every write below carries it, and the database refuses a write
    // once the job is running under a newer claim (or is no longer running at all).
    const claim: Claim = { jobId: job.id, claim: job.attempts };
    const resume =
      job.attempts > 1
        ? await resumePoint(pool, claim, job.input)
        : { index: 0, input: job.input, attempts: new Map<number, number>(), firstStepStarted: true };
    if (resume && job.attempts > 1) log.info({ resume_at: plan.steps[resume.index]?.id }, 'resuming job');
    const status = resume ? await runSteps(deps, log, claim, plan.steps, resume, controller.signal) : null;
    if (status) {
      metrics.jobs.inc({ workflow: job.workflowName, status });
      metrics.jobDuration.observe({ workflow: job.workflowName }, (performance.now() - started) / 1000);
      log.info({ status, ms: Math.round(performance.now() - started) }, 'job finished');
    } else {
      log.info({ reason: stopReason(controller.signal) }, 'job stopped here without finishing it: nothing more is written for this claim');
    }
    deps.finished.send(job.id);
  } finally {
    clearTimeout(jobTimer);
    metrics.busySlots.dec();
    running.finish(job.id);
  }
}

/** The job's own time limit, when that is why its signal was aborted. */
function jobTimeout(signal: AbortSignal): MuleError | null {
  const reason: unknown = signal.reason;
  return signal.aborted && reason instanceof MuleError && reason.code === 'job_timeout' ? reason : null;
}

/** Why a job stopped without a final state of its own making. */
function stopReason(signal: AbortSignal): string {
  if (!signal.aborted) return 'the job is no longer running under this claim (cancelled, failed or claimed again)';
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason.message : String(reason);
}

/** Ends a job that ran out of time (the step attempt in `end`, if any, is stored with it). */
async function failForTimeout(pool: Pool, claim: Claim, error: MuleError, end: StepEnd | null): Promise<'failed' | null> {
  const stored = error.toJSON();
  const job = { id: claim.jobId, claim: claim.claim, status: 'failed' as const, error: stored };
  return (await finishJob(pool, end ? { ...end, status: 'failed', error: stored } : null, job)) ? 'failed' : null;
}

/**
 * Runs steps from the resume point; returns the job's final status, or null when it was cancelled or claimed
 * again meanwhile (a write was refused, or the signal aborted): nothing more is written then.
 */
async function runSteps(
  deps: JobRunnerDeps,
  jobLog: Logger,
  claim: Claim,
  steps: PlanStep[],
  resume: ResumePoint,
  signal: AbortSignal,
): Promise<'completed' | 'failed' | null> {
  const { pool } = deps;
  const { jobId } = claim;
  let input = resume.input;
  let started = resume.firstStepStarted;
  for (let index = resume.index; index < steps.length; index++) {
    const step = steps[index]!;
    // Until the graph driver runs plans: a wait step has no runner here.
    if (step.type === 'wait') throw new MuleError('internal_error', `step "${step.id}" is a wait step, which this worker cannot run`);
    const last = index === steps.length - 1;
    let attempt = resume.attempts.get(index) ?? 0;
    for (;;) {
      attempt++;
      const expired = jobTimeout(signal);
      if (expired) return failForTimeout(pool, claim, expired, null);
      if (!started && !(await startStep(pool, { ...claim, index, attempt, stepId: step.id, type: step.type, input }))) return null;
      started = false;
      const stepStarted = performance.now();
      const deadline = stepDeadline(signal, stepBackstopMs(step));
      const stepSignal = deadline.signal;
      const log = jobLog.child({ step_id: step.id, step_attempt: attempt });
      let end: StepEnd;
      let error: MuleError | null = null;
      try {
        const result = await runStep(deps.steps, { jobId, step, input, signal: stepSignal, log });
        end = { ...claim, index, attempt, status: 'completed', output: result.output, usage: result.usage, durationMs: performance.now() - stepStarted };
        input = result.output;
      } catch (thrown) {
        error = stepError(thrown, step, stepSignal, signal);
        end = { ...claim, index, attempt, status: 'failed', error: error.toJSON(), durationMs: performance.now() - stepStarted };
      } finally {
        deadline.clear();
      }
      metrics.steps.inc({ type: step.type, status: end.status });
      if (error) metrics.stepFailures.inc({ type: step.type, code: error.code });
      metrics.stepDuration.observe({ type: step.type }, end.durationMs / 1000);
      const expiredDuring = jobTimeout(signal);
      if (expiredDuring) return failForTimeout(pool, claim, expiredDuring, end);
      if (signal.aborted) return null; // cancelled or claim lost: the api or the next claim owns the rows now
      if (!error) {
        log.info({ ms: Math.round(end.durationMs), ...(deps.logContent ? { output: end.output } : {}) }, 'step completed');
        if (last) return (await finishJob(pool, end, { id: jobId, claim: claim.claim, status: 'completed', output: end.output })) ? 'completed' : null;
        if (!(await finishStep(pool, end))) return null;
        break;
      }
      const retry = error.retryable && attempt <= step.retries;
      log.warn({ code: error.code, err: error.message, retry }, 'step failed');
      if (!retry) {
        return (await finishJob(pool, end, { id: jobId, claim: claim.claim, status: 'failed', error: error.toJSON() })) ? 'failed' : null;
      }
      if (!(await finishStep(pool, end))) return null;
      await sleep(retryDelayMs(attempt), undefined, { signal }).catch(() => {});
      const expiredWaiting = jobTimeout(signal);
      if (expiredWaiting) return failForTimeout(pool, claim, expiredWaiting, null);
      if (signal.aborted) return null;
    }
  }
  return 'completed';
}

/**
 * A step's signal: aborted with the job's, or when the step's time is up. One controller and one timer, cleared
 * when the step ends (AbortSignal.any + AbortSignal.timeout cost ~5% of a worker's CPU at ~500 jobs/s).
 */
function stepDeadline(parent: AbortSignal, timeoutMs: number): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const onParent = () => controller.abort(parent.reason);
  if (parent.aborted) onParent();
  else parent.addEventListener('abort', onParent, { once: true });
  const timer = setTimeout(() => controller.abort(new MuleError('step_timeout', `step ran longer than ${timeoutMs} ms`)), timeoutMs);
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer);
      parent.removeEventListener('abort', onParent);
    },
  };
}

/** The error a step attempt ended with; an abort by the step's own timer is a step_timeout. */
function stepError(thrown: unknown, step: PlanStep, stepSignal: AbortSignal, jobSignal: AbortSignal): MuleError {
  if (stepSignal.aborted && !jobSignal.aborted && !(thrown instanceof MuleError && thrown.code === 'wasm_timeout')) {
    return new MuleError('step_timeout', `step "${step.id}" ran longer than its timeout of ${step.timeout_ms} ms`);
  }
  return toMuleError(thrown);
}
