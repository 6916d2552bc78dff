/** Job reads for the jobs routes, through Prisma (not a hot path). */
import type { JobStatus, PlanStep, StepStatus } from '@mule/core';
import type { Job, JobStep } from './generated/prisma/client.js';
import type { PrismaClient } from './prisma-client.js';

export interface JobStepRow {
  stepIndex: number;
  /** A for_each item's index; null for a step's own row. */
  item: number | null;
  attempt: number;
  stepId: string;
  type: PlanStep['type'];
  status: StepStatus;
  input: unknown;
  output: unknown;
  error: unknown;
  usage: unknown;
  startedAt: Date;
  completedAt: Date | null;
  durationMs: number | null;
  /** A waiting step: when it times out. */
  waitUntil: Date | null;
  /** A WASM attempt's stderr, its last 16 KiB; null for agent and wait steps. */
  logs: string | null;
}

export interface JobRow {
  id: string;
  apiKeyId: string | null;
  workflowName: string;
  workflowVersion: number;
  model: string;
  status: JobStatus;
  input: unknown;
  output: unknown;
  error: unknown;
  attempts: number;
  /** The job's frozen copy of its workflow version (core's JobPlan; parsed where it is used). */
  plan: unknown;
  /** The job this one replays (uuid), or null. */
  replayOf: string | null;
  /** The trigger that started the job, or null. */
  trigger: string | null;
  /** The submitting request's W3C trace context (traceparent, newline, tracestate if any), or null. */
  traceContext: string | null;
  createdAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
  steps: JobStepRow[];
}

/** Steps in list order; a for_each step's own row before its items' rows, items in order; attempts in order. */
const STEP_ORDER = [{ stepIndex: 'asc' as const }, { item: { sort: 'asc' as const, nulls: 'first' as const } }, { attempt: 'asc' as const }];

/**
 * Prisma types `status` and `type` as plain strings; the tables' CHECK constraints (and the worker, which writes
 * only its plan's step types) hold them to these values.
 */
const toStepRow = ({ id: _rowId, ...step }: JobStep): JobStepRow => ({
  ...step,
  type: step.type as JobStepRow['type'],
  status: step.status as StepStatus,
});

const toJobRow = ({ steps, ...job }: Job & { steps: JobStep[] }): JobRow => ({
  ...job,
  status: job.status as JobStatus,
  steps: steps.map(toStepRow),
});

export async function getJob(prisma: PrismaClient, id: string): Promise<JobRow | null> {
  const row = await prisma.job.findUnique({ where: { id }, include: { steps: { orderBy: STEP_ORDER } } });
  return row ? toJobRow(row) : null;
}

export interface JobListQuery {
  status?: JobStatus;
  workflow?: string;
  limit: number;
  /** A job id (uuid): list jobs older than it. */
  after?: string;
  /** Only the jobs this API key created (keys that are not admin see only their own). */
  apiKeyId?: string;
}

/** Newest first; `after` continues from a job of the previous page. One extra row tells `hasMore`. */
export async function listJobs(prisma: PrismaClient, query: JobListQuery): Promise<{ jobs: JobRow[]; hasMore: boolean }> {
  let cursor: { createdAt: Date; id: string } | null = null;
  if (query.after) {
    cursor = await prisma.job.findUnique({ where: { id: query.after }, select: { createdAt: true, id: true } });
    if (!cursor) return { jobs: [], hasMore: false };
  }
  const rows = await prisma.job.findMany({
    where: {
      ...(query.status ? { status: query.status } : {}),
      ...(query.workflow ? { workflowName: query.workflow } : {}),
      ...(query.apiKeyId ? { apiKeyId: query.apiKeyId } : {}),
      ...(cursor
        ? { OR: [{ createdAt: { lt: cursor.createdAt } }, { createdAt: cursor.createdAt, id: { lt: cursor.id } }] }
        : {}),
    },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take: query.limit + 1,
    include: { steps: { orderBy: STEP_ORDER } },
  });
  return { jobs: rows.slice(0, query.limit).map(toJobRow), hasMore: rows.length > query.limit };
}

/** What a live view of job statuses needs of a job (no input, output or steps). */
export interface JobStatusRow {
  id: string;
  status: JobStatus;
  workflowName: string;
  apiKeyId: string | null;
}

const STATUS_FIELDS = { id: true, status: true, workflowName: true, apiKeyId: true } as const;

/** The newest `limit` jobs' statuses (of one key's jobs when `apiKeyId` is set), newest first. */
export async function listJobStatuses(prisma: PrismaClient, query: { limit: number; apiKeyId?: string }): Promise<JobStatusRow[]> {
  const rows = await prisma.job.findMany({
    where: query.apiKeyId ? { apiKeyId: query.apiKeyId } : {},
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take: query.limit,
    select: STATUS_FIELDS,
  });
  return rows.map((row) => ({ ...row, status: row.status as JobStatus }));
}

/** The statuses of these jobs (those that exist), in one query. */
export async function jobStatusesByIds(prisma: PrismaClient, ids: readonly string[]): Promise<JobStatusRow[]> {
  if (ids.length === 0) return [];
  const rows = await prisma.job.findMany({ where: { id: { in: [...ids] } }, select: STATUS_FIELDS });
  return rows.map((row) => ({ ...row, status: row.status as JobStatus }));
}
