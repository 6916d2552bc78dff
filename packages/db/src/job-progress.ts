/**
 * The `mule_job_progress` channel: what a worker tells the api about a job between its start and its end, which
 * the other channels do not carry. The api's live views read it: `GET /v1/events` (a job now `running` or
 * `waiting`) and a workflow stream (its job's steps as they end).
 *
 * Payload: comma-separated entries, each `<job uuid>` (the job's status changed: read it) or
 * `<job uuid>:<step id>:<status>` (a step of a streamed job reached that status). Step ids are names
 * (`[a-z0-9._-]`), so neither separator can occur inside one.
 */
import type pg from 'pg';
import { CHANNELS } from './listener.js';
import { statement } from './prepared.js';

export type ProgressStepStatus = 'completed' | 'failed' | 'skipped' | 'waiting';

export interface StepProgress {
  jobId: string;
  stepId: string;
  status: ProgressStepStatus;
}

/** One step change, its own statement outside any transaction (a NOTIFY inside a commit holds a global lock). */
export async function notifyStepProgress(db: Pick<pg.Pool, 'query'>, progress: StepProgress): Promise<void> {
  await db.query(statement('SELECT pg_notify($1, $2)', [CHANNELS.jobProgress, `${progress.jobId}:${progress.stepId}:${progress.status}`]));
}

/** The job ids a payload names (each once). */
export function progressJobIds(payload: string): string[] {
  const ids = new Set<string>();
  for (const entry of payload.split(',')) {
    const colon = entry.indexOf(':');
    const id = colon < 0 ? entry : entry.slice(0, colon);
    if (id) ids.add(id);
  }
  return [...ids];
}

/** The step changes a payload carries (entries that are only a job id are left out). */
export function progressSteps(payload: string): StepProgress[] {
  const steps: StepProgress[] = [];
  for (const entry of payload.split(',')) {
    const [jobId, stepId, status, extra] = entry.split(':');
    if (!jobId || !stepId || extra !== undefined) continue;
    if (status !== 'completed' && status !== 'failed' && status !== 'skipped' && status !== 'waiting') continue;
    steps.push({ jobId, stepId, status });
  }
  return steps;
}
