/**
 * A queued job's row, written by one INSERT whatever submits it (an api request, a webhook, a schedule, a
 * replay): the rows of one or more jobs as a CTE over a JSON recordset, which JobQueue.sendMany puts in front of
 * pg-boss's insert of their queue entries, so jobs and entries commit together or not at all.
 */
import type { JobPlan } from '@mule/core';

export interface NewJob {
  id: string;
  workflow: string;
  version: number;
  model: string;
  input: unknown;
  plan: JobPlan;
  idempotencyKey: string | null;
  /** The API key that submits it (null without keys). */
  apiKeyId: string | null;
  /** The job this one replays (POST /v1/jobs/{id}/replay). */
  replayOf?: string | null;
  /** The trigger (schedule or webhook) that starts it. */
  trigger?: string | null;
  /** A stream waits on it: the worker relays the output step's tokens (token-relay.ts). */
  stream?: boolean;
  /** The submitting request's W3C trace context (traceparent, newline, tracestate if any): the worker continues it. */
  traceContext?: string | null;
}

/** The statement's CTE (`mule_rows`) and its one value, for `jobs`. */
export function jobRowsStatement(jobs: readonly NewJob[]): { ctes: string; values: unknown[] } {
  return { ctes: ROWS_CTE, values: [JSON.stringify(jobs.map(jobRow))] };
}

const ROWS_CTE = `mule_rows AS (
   INSERT INTO jobs (id, workflow_name, workflow_version, model, status, input, plan, idempotency_key, api_key_id, replay_of, trigger, stream, trace_context)
   SELECT r.id, r.workflow_name, r.workflow_version, r.model, 'queued', r.input, r.plan, r.idempotency_key, r.api_key_id, r.replay_of, r.trigger,
          r.stream, r.trace_context
     FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, workflow_name text, workflow_version int, model text, input jsonb, plan jsonb,
          idempotency_key text, api_key_id uuid, replay_of uuid, trigger text, stream boolean, trace_context text)
 )`;

/** A job as one element of the recordset (column names as in the table). */
function jobRow(job: NewJob) {
  return {
    id: job.id,
    workflow_name: job.workflow,
    workflow_version: job.version,
    model: job.model,
    input: job.input,
    plan: job.plan,
    idempotency_key: job.idempotencyKey,
    api_key_id: job.apiKeyId,
    replay_of: job.replayOf ?? null,
    trigger: job.trigger ?? null,
    stream: job.stream ?? false,
    trace_context: job.traceContext ?? null,
  };
}
