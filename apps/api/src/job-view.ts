/** The public shape of a job, as `GET /v1/jobs/{id}` and `GET /v1/jobs` answer it. */
import { formatJobId } from '@mule/core';
import type { JobRow, JobStepRow } from '@mule/db';

const iso = (date: Date | null) => (date ? date.toISOString() : null);

/** A job's public error: `{code, message}` or null (what else is stored is for the api's own answers). */
function errorView(error: unknown): { code: string; message: string } | null {
  if (!error || typeof error !== 'object') return null;
  const { code, message } = error as { code: string; message: string };
  return { code, message };
}

function stepView(step: JobStepRow) {
  return {
    id: step.stepId,
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
  };
}

export function jobView(job: JobRow) {
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
    steps: job.steps.map(stepView),
  };
}
