/** The public shape of a job, as `GET /v1/jobs/{id}` and `GET /v1/jobs` answer it. */
import { createHash } from 'node:crypto';
import { buildJobGraph, formatJobId, jobPlanSchema, planGraphSpec } from '@mule/core';
import type { JobRow, JobStepRow } from '@mule/db';
import { traceIdOf } from '@mule/observability';
import type { ResumeUrlOf } from './resume-links.js';

const iso = (date: Date | null) => (date ? date.toISOString() : null);

/** A job's public error: `{code, message}` or null (what else is stored is for the api's own answers). */
function errorView(error: unknown): { code: string; message: string } | null {
  if (!error || typeof error !== 'object') return null;
  const { code, message } = error as { code: string; message: string };
  return { code, message };
}

export interface GraphEntry {
  id: string;
  type: string;
  needs: string[];
}

/**
 * The job's graph as its plan says, needs resolved, built the way the worker builds it. A plan the lifecycle
 * cannot build (none is stored that way; the definition was checked when written) still shows its steps, with
 * needs resolved by the list rule: the step before, none for the first.
 */
export function graphView(plan: unknown): GraphEntry[] {
  const parsed = jobPlanSchema.safeParse(plan);
  if (!parsed.success) return [];
  try {
    const graph = buildJobGraph(planGraphSpec(parsed.data));
    return graph.steps.map((step) => ({ id: step.id, type: step.kind, needs: [...step.needs] }));
  } catch {
    const steps = parsed.data.steps;
    return steps.map((step, i) => ({ id: step.id, type: step.type, needs: step.needs ?? (i === 0 ? [] : [steps[i - 1]!.id]) }));
  }
}

function stepView(jobId: string, step: JobStepRow, resumeUrl: ResumeUrlOf | undefined) {
  return {
    id: step.stepId,
    ...(step.item === null ? {} : { item: step.item }),
    type: step.type,
    status: step.status,
    attempt: step.attempt,
    input: step.input ?? null,
    output: step.output ?? null,
    error: errorView(step.error),
    usage: step.usage ?? null,
    started_at: iso(step.startedAt),
    completed_at: iso(step.completedAt),
    duration_ms: step.durationMs === null ? null : Math.round(step.durationMs * 1000) / 1000,
    // A WASM attempt's stderr (its last 16 KiB); null for agent and wait steps.
    logs: step.logs ?? null,
    ...(step.status === 'waiting' && step.item === null
      ? { wait_until: iso(step.waitUntil), ...(resumeUrl ? { resume_url: resumeUrl(jobId, step.stepId, step.attempt) } : {}) }
      : {}),
  };
}

/** Whether a job's view carries a resume URL (then the caller needs `resumeUrl`, which costs the secret's read). */
export function hasWaitingStep(job: JobRow): boolean {
  return job.steps.some((step) => step.status === 'waiting' && step.item === null);
}

/**
 * Graphs by plan: building one compiles its expressions (~5 ms for 20 steps with expressions, measured here),
 * which a list page of 100 jobs would pay 100 times; the jobs of one version share their graph. Keyed by the
 * plan's hash, not by workflow and version: a workflow deleted and written again starts its versions over.
 */
const MAX_CACHED_GRAPHS = 1000;
const graphs = new Map<string, GraphEntry[]>();

function cachedGraph(plan: unknown): GraphEntry[] {
  const key = createHash('sha1').update(JSON.stringify(plan ?? null)).digest('base64');
  let graph = graphs.get(key);
  if (!graph) {
    graph = graphView(plan);
    if (graphs.size >= MAX_CACHED_GRAPHS) graphs.delete(graphs.keys().next().value!);
    graphs.set(key, graph);
  }
  return graph;
}

export function jobView(job: JobRow, resumeUrl?: ResumeUrlOf) {
  return {
    id: formatJobId(job.id),
    object: 'job' as const,
    workflow: job.workflowName,
    workflow_version: job.workflowVersion,
    model: job.model,
    status: job.status,
    input: job.input,
    output: job.output ?? null,
    error: errorView(job.error),
    attempts: job.attempts,
    created_at: iso(job.createdAt),
    started_at: iso(job.startedAt),
    completed_at: iso(job.completedAt),
    replay_of: job.replayOf === null ? null : formatJobId(job.replayOf),
    // The trigger (schedule or webhook) that started the job; null for a job submitted through the API.
    trigger: job.trigger ?? null,
    // The trace of the request that submitted the job (null when tracing was off), which every claim continues.
    trace_id: traceIdOf(job.traceContext),
    graph: cachedGraph(job.plan),
    steps: job.steps.map((step) => stepView(job.id, step, resumeUrl)),
  };
}
