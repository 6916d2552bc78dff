/**
 * MCP tasks (protocol 2025-11-25) backed by jobs: a workflow tool called with `task` writes its job and answers at
 * once with the task, whose id is the public job id (`job-…`). `tasks/get` reads the job, `tasks/result` waits for
 * it (LISTEN/NOTIFY under a `sync_waiters` slot, as a sync call waits) and answers what `tools/call` would have,
 * `tasks/cancel` cancels it as POST /v1/jobs/{id}/cancel does. Nothing lives in the api process: any replica
 * answers for any task, and a task is visible exactly when its job is (the key that created it, or an admin).
 */
import { McpError, ErrorCode, RELATED_TASK_META_KEY, type CallToolResult, type Task } from '@modelcontextprotocol/sdk/types.js';
import { formatJobId, isFinished, muleErrorFromJSON, MuleError, parseJobId, type JobStatus } from '@mule/core';
import { cancelJob, CHANNELS, getJobTask, notify, type JobTaskRow } from '@mule/db';
import { canSeeJob, type Caller } from './access.js';
import type { ApiContext } from './api-context.js';
import { errorResult, outputResult } from './mcp-call.js';

/**
 * How often a client is told to poll `tasks/get`: one primary-key read per poll. A client that wants the result
 * as soon as it exists calls `tasks/result`, which is woken by the job's finish NOTIFY instead.
 */
export const TASK_POLL_INTERVAL_MS = 1_000;

/** `queued`, `running` and `waiting` (a wait step parked for a resume) are all `working`. */
function taskStatusOf(status: JobStatus): Task['status'] {
  if (status === 'completed' || status === 'failed' || status === 'cancelled') return status;
  return 'working';
}

export function taskOf(job: Pick<JobTaskRow, 'id' | 'status' | 'createdAt' | 'startedAt' | 'completedAt'>): Task {
  return {
    taskId: formatJobId(job.id),
    status: taskStatusOf(job.status),
    // A job lives until MULE_JOB_RETENTION_DAYS deletes it (the workers' setting): no per-task lifetime.
    ttl: null,
    createdAt: job.createdAt.toISOString(),
    lastUpdatedAt: (job.completedAt ?? job.startedAt ?? job.createdAt).toISOString(),
    pollInterval: TASK_POLL_INTERVAL_MS,
    statusMessage: `job ${job.status}`,
  };
}

/** The job behind a task id, or the protocol's "not found" (another key's job is not found either). */
export async function readTaskJob(ctx: ApiContext, caller: Caller, taskId: string): Promise<JobTaskRow> {
  const id = parseJobId(taskId);
  const job = id ? await getJobTask(ctx.prisma, id) : null;
  if (!job || !canSeeJob(caller, job.apiKeyId)) throw new McpError(ErrorCode.InvalidParams, `Task not found: ${taskId}`);
  return job;
}

/** What `tools/call` would have answered for a finished job. */
function finishedResult(job: JobTaskRow): CallToolResult {
  const publicId = formatJobId(job.id);
  if (job.status === 'completed') return outputResult(job.output, publicId);
  if (job.status === 'cancelled') return errorResult(new MuleError('cancelled', `job ${publicId} was cancelled`), publicId);
  const error = muleErrorFromJSON(job.error);
  return errorResult(new MuleError(error.code, `${error.message} (job ${publicId})`), publicId);
}

/** `tasks/result`: waits until the job finishes (at most MULE_SYNC_TIMEOUT_MS), then answers its tool result. */
export async function taskResult(ctx: ApiContext, caller: Caller, taskId: string, signal: AbortSignal): Promise<CallToolResult> {
  let job = await readTaskJob(ctx, caller, taskId);
  if (!isFinished(job.status)) {
    const release = ctx.capacity.syncWaiters.take();
    try {
      const waiting = ctx.waiters.wait(job.id, ctx.config.MULE_SYNC_TIMEOUT_MS, signal);
      // The job existed before we listened: read it once now in case it finished in between.
      ctx.waiters.check([job.id]);
      await waiting;
    } finally {
      release();
    }
    job = await readTaskJob(ctx, caller, taskId);
    if (!isFinished(job.status)) {
      throw new McpError(ErrorCode.RequestTimeout, `task ${taskId} is still ${job.status} after MULE_SYNC_TIMEOUT_MS (${ctx.config.MULE_SYNC_TIMEOUT_MS} ms); ask again`);
    }
  }
  const result = finishedResult(job);
  return { ...result, _meta: { ...result._meta, [RELATED_TASK_META_KEY]: { taskId } } };
}

/** `tasks/cancel`: as POST /v1/jobs/{id}/cancel; a finished task cannot be cancelled. */
export async function cancelTask(ctx: ApiContext, caller: Caller, taskId: string): Promise<Task> {
  const job = await readTaskJob(ctx, caller, taskId);
  const before = await cancelJob(ctx.pool, job.id, { code: 'cancelled', message: 'the job was cancelled' });
  if (before === null) throw new McpError(ErrorCode.InvalidParams, `Task not found: ${taskId}`);
  if (isFinished(before)) throw new McpError(ErrorCode.InvalidParams, `Cannot cancel task in terminal status: ${taskStatusOf(before)}`);
  const after = await readTaskJob(ctx, caller, taskId);
  // The database's cancel decides which statuses it ends; one it left alone is refused, not claimed as done.
  if (after.status !== 'cancelled') throw new McpError(ErrorCode.InvalidParams, `task ${taskId} is ${after.status} and cannot be cancelled now`);
  if (before === 'queued') await ctx.queue.cancel(job.id);
  // Sync callers waiting for it answer now; a worker running it stops.
  await notify(ctx.pool, CHANNELS.jobFinished, job.id);
  if (before === 'running') await notify(ctx.pool, CHANNELS.jobCancel, job.id);
  return taskOf(after);
}
