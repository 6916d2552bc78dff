/**
 * Runs one claimed job as a thin driver of the lifecycle (driver/job-driver.ts): claim, rebuild the graph from
 * the plan, tell the lifecycle what the rows say (`job_started`), then perform its commands until the job ends
 * or parks. Then a NOTIFY for the api (after the commit, as its own statement: a NOTIFY holds a global lock
 * through its commit; 16 clients did ~3,800 commits/s with the NOTIFY inside against ~11,000 with it after).
 * Database failures propagate: pg-boss hands the job back and a later claim resumes it from the rows.
 */
import { formatJobId, initialState, toMuleError, type JobGraph, type JobPlan, type JsonValue, type LifecycleEvent } from '@mule/core';
import { claimJob, takeOverRows, writeTransition, type Claim, type ClaimedJob, type StepRowRead, type JobQueue, type NotifyBatcher, type Pool } from '@mule/db';
import type { Logger } from '@mule/observability';
import { contextFromStored, inSpan, metrics, spanContextOf, traceIdOf } from '@mule/observability';
import type { QueueJob } from './claim-loop.js';
import { JobDriver } from './driver/job-driver.js';
import { jobProgram, type JobProgram } from './driver/job-graph.js';
import { priorFromRows } from './driver/prior-rows.js';
import type { RunningJobs } from './running-jobs.js';
import type { StepRunners } from './steps/step-runner.js';
import type { JobProgress } from './job-progress.js';
import type { TokenRelays } from './token-relay.js';

export interface JobRunnerDeps {
  pool: Pool;
  /** Parks jobs (a new queue entry in the same statement as the rows). */
  queue: Pick<JobQueue, 'park' | 'completionCtes'>;
  log: Logger;
  running: RunningJobs;
  /** Announces finished jobs to the api's waiters (coalesced NOTIFY after the commit). */
  finished: NotifyBatcher;
  /** A whole job's time limit, from its first start, time spent in wait steps not counted (MULE_JOB_TIMEOUT_SECONDS). */
  jobTimeoutMs: number;
  /** Running attempts of one job (MULE_JOB_MAX_PARALLEL). */
  maxParallel: number;
  steps: StepRunners;
  logContent: boolean;
  /** Streamed jobs' output steps relay their tokens (the same registry the agent step runner reads). */
  relays?: TokenRelays;
  /** Tells the api's live views that a job runs, parks, or (streamed) that its steps end. */
  progress?: JobProgress;
}

const TAKEN_OVER = {
  code: 'unavailable' as const,
  message: 'the worker running this attempt stopped before it finished; another worker took the job over',
};

/** Resolves 'settled' when the job's final write also completed its queue entry (nothing left to complete). */
export async function runJob(deps: JobRunnerDeps, queued: QueueJob): Promise<'settled' | undefined> {
  // Claimed by the fetch itself (JobQueue.claims with CLAIM_ON_FETCH); claimJob when the fetch did not.
  const job = queued.claimed !== undefined ? queued.claimed : await claimJob(deps.pool, queued.jobId, queued.queueId);
  if (!job) {
    // Finished, cancelled, or carried by another queue entry now. An earlier worker may have died between its
    // commit and its NOTIFY.
    deps.finished.send(queued.jobId);
    return undefined;
  }
  const traceId = traceIdOf(job.traceContext);
  const log = deps.log.child({ job_id: formatJobId(job.id), workflow: job.workflowName, attempt: job.attempts, ...(traceId ? { trace_id: traceId } : {}) });
  // One span per claim, in the trace of the request that submitted the job (stored with it): a takeover's claim
  // is a new span of the same trace, linked to the context it continues.
  const link = job.attempts > 1 ? spanContextOf(job.traceContext) : null;
  const attributes = { 'gen_ai.operation.name': 'invoke_workflow', 'mule.job.id': job.id, 'mule.workflow': job.workflowName, 'mule.job.claim': job.attempts };
  return inSpan(`invoke_workflow ${job.workflowName}`, { attributes, links: link ? [{ context: link }] : [] }, async (span) => {
    const { status, settled } = await driveClaimed(deps, queued, job, log);
    span.setAttribute('mule.job.status', status);
    return settled ? ('settled' as const) : undefined;
  }, contextFromStored(job.traceContext));
}

/**
 * The claimed job's run; returns how this claim ended (a final status, `parked`, or `stopped`), and whether its
 * final write completed the queue entry too.
 */
async function driveClaimed(deps: JobRunnerDeps, queued: QueueJob, job: ClaimedJob, log: Logger): Promise<{ status: string; settled: boolean }> {
  const { pool, running } = deps;
  if (job.attempts === 1) metrics.queueWait.observe((Date.now() - job.createdAt.getTime()) / 1000);
  const controller = running.start(job.id, queued.signal);
  const progress = deps.progress?.claimed(job.id, job.stream === true);
  metrics.busySlots.inc();
  const started = performance.now();
  try {
    // claimJob counted this claim in `attempts`: every write below carries it, and the database refuses a write
    // once the job is running under a newer claim (or is no longer running at all).
    const claim: Claim = { jobId: job.id, claim: job.attempts };
    let program: JobProgram;
    try {
      program = jobProgram(job.plan, deps.maxParallel);
    } catch (error) {
      // A plan the lifecycle refuses can never run: the job fails instead of going back to the queue.
      const failure = toMuleError(error);
      log.warn({ code: failure.code, err: failure.message }, 'the job plan cannot run');
      await writeTransition(pool, claim, { ends: [], starts: [], job: { status: 'failed', error: failure.toJSON() } });
      deps.finished.send(job.id);
      return { status: 'failed', settled: false };
    }
    if (job.stream) deps.relays?.open(job.id, job.attempts, job.plan as JobPlan);
    let startedEvent: LifecycleEvent = { type: 'job_started', at: Date.now() };
    let waited = 0;
    if (job.attempts > 1) {
      const rows = await takeOverRows(pool, claim, TAKEN_OVER);
      if (rows === null) {
        log.info({ reason: stopReason(controller.signal) }, 'job stopped here without finishing it: nothing more is written for this claim');
        deps.finished.send(job.id);
        return { status: 'stopped', settled: false };
      }
      waited = waitedMs(program.graph, rows, startedEvent.at);
      startedEvent = { ...startedEvent, ...priorFromRows(program.graph, rows) };
      log.info({ rows: rows.length }, 'resuming job');
    }
    const state = initialState(program.graph, { jobId: job.id, input: job.input as JsonValue });
    const driver = new JobDriver(
      { pool, queue: deps.queue, steps: deps.steps, log, logContent: deps.logContent, ...(job.stream && progress ? { progress } : {}) },
      {
        claim,
        program,
        state,
        deadline: job.startedAt.getTime() + waited + deps.jobTimeoutMs,
        firstStarted: job.firstStarted,
        entry: { id: queued.queueId, retryCount: queued.retryCount, queue: queued.queue },
      },
      controller.signal,
    );
    running.onWake(job.id, () => driver.checkWaits());
    const status = await driver.run(startedEvent);
    if (status === 'parked') {
      progress?.parked();
      log.info({ ms: Math.round(performance.now() - started) }, 'job handed to a later queue entry');
      return { status: 'parked', settled: false };
    }
    if (status) {
      metrics.jobs.inc({ workflow: job.workflowName, status });
      metrics.jobDuration.observe({ workflow: job.workflowName }, (performance.now() - started) / 1000);
      log.info({ status, ms: Math.round(performance.now() - started) }, 'job finished');
    } else {
      log.info({ reason: stopReason(controller.signal) }, 'job stopped here without finishing it: nothing more is written for this claim');
    }
    if (!driver.announced) deps.finished.send(job.id);
    return { status: status ?? 'stopped', settled: driver.settled };
  } finally {
    progress?.end();
    metrics.busySlots.dec();
    running.finish(job.id);
    deps.relays?.close(job.id);
  }
}

/**
 * How long the job's wait steps have waited (epoch ms, open waits until `now`). A job's time limit counts the time
 * it runs, not the time a person takes to approve: a `wait: {timeout: 24h}` must not end as `job_timeout` after
 * the default hour.
 */
function waitedMs(graph: JobGraph, rows: readonly StepRowRead[], now: number): number {
  const waits = new Set(graph.steps.filter((step) => step.kind === 'wait').map((step) => step.id));
  let total = 0;
  for (const row of rows) if (waits.has(row.stepId)) total += Math.max(0, (row.completedAt ?? now) - row.startedAt);
  return total;
}

/** Why a job stopped without a final state of its own making. */
function stopReason(signal: AbortSignal): string {
  if (!signal.aborted) return 'the job is no longer running under this claim (cancelled, failed or claimed again)';
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason.message : String(reason);
}

