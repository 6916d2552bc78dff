/**
 * Stored responses (`POST /v1/responses`, table `responses`). A workflow response's status, output, error and usage
 * are its job's, read in the same statement; an agent response holds its own. Plain SQL, one round trip per call.
 */
import type { JobStatus, TokenUsage } from '@mule/core';
import type { Queryable } from './pool.js';
import { statement } from './prepared.js';

export type StoredResponseStatus = 'completed' | 'failed' | 'cancelled';

export interface NewStoredResponse {
  id: string;
  apiKeyId: string | null;
  model: string;
  /** The workflow response's job; null for an agent response. */
  jobId: string | null;
  previousResponseId: string | null;
  instructions: string | null;
  /** The conversation before this response's output: previous turns, then this request's input. */
  messages: unknown[];
  metadata: Record<string, string>;
  /** Answered at once, before the job ran. */
  background: boolean;
  /** Agent responses: their outcome (null for a workflow response: its job decides). */
  status: StoredResponseStatus | null;
  outputText: string | null;
  error: unknown;
  usage: TokenUsage | null;
}

export interface StoredResponseRow extends NewStoredResponse {
  createdAt: Date;
  completedAt: Date | null;
  /** The job's state, when `jobId` is set (null if the job is gone). */
  job: { status: JobStatus; output: unknown; error: unknown; usage: TokenUsage | null; completedAt: Date | null } | null;
}

/** Writes a response; a second write of the same id (a repeated Idempotency-Key names the same job) changes nothing. */
export async function insertStoredResponse(db: Queryable, row: NewStoredResponse): Promise<void> {
  await db.query(statement(
    `INSERT INTO responses (id, api_key_id, model, job_id, previous_response_id, instructions, messages, metadata,
                            background, status, output_text, error, usage, completed_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, CASE WHEN $10::text IS NULL THEN NULL ELSE now() END)
     ON CONFLICT (id) DO NOTHING`,
    [
      row.id,
      row.apiKeyId,
      row.model,
      row.jobId,
      row.previousResponseId,
      row.instructions,
      JSON.stringify(row.messages),
      JSON.stringify(row.metadata),
      row.background,
      row.status,
      row.outputText,
      row.error === null || row.error === undefined ? null : JSON.stringify(row.error),
      row.usage === null ? null : JSON.stringify(row.usage),
    ],
  ));
}

export async function readStoredResponse(db: Queryable, id: string): Promise<StoredResponseRow | null> {
  const { rows } = await db.query<StoredResponseRow>(statement(
    `SELECT r.id, r.api_key_id AS "apiKeyId", r.model, r.job_id AS "jobId", r.previous_response_id AS "previousResponseId",
            r.instructions, r.messages, r.metadata, r.background, r.status, r.output_text AS "outputText", r.error, r.usage,
            r.created_at AS "createdAt", r.completed_at AS "completedAt",
            CASE WHEN j.id IS NULL THEN NULL ELSE jsonb_build_object(
              'status', j.status, 'output', j.output, 'error', j.error, 'completedAt', j.completed_at,
              'usage', (SELECT CASE WHEN count(s.usage) = 0 THEN NULL ELSE jsonb_build_object(
                          'prompt_tokens', sum((s.usage->>'prompt_tokens')::int),
                          'completion_tokens', sum((s.usage->>'completion_tokens')::int),
                          'total_tokens', sum((s.usage->>'total_tokens')::int)) END
                          FROM job_steps s WHERE s.job_id = j.id AND s.status = 'completed')) END AS job
       FROM responses r LEFT JOIN jobs j ON j.id = r.job_id
      WHERE r.id = $1`,
    [id],
  ));
  const row = rows[0];
  if (!row) return null;
  if (row.job && typeof row.job.completedAt === 'string') row.job.completedAt = new Date(row.job.completedAt);
  return row;
}

/**
 * Retention: responses created more than `retentionDays` ago, a batch at a time (a workflow response also goes
 * with its job, by the foreign key's cascade). Returns how many were deleted.
 */
export async function deleteExpiredResponses(db: Queryable, retentionDays: number, batch = 1000): Promise<number> {
  let deleted = 0;
  for (;;) {
    const { rowCount } = await db.query(
      `DELETE FROM responses WHERE id IN (
         SELECT id FROM responses WHERE created_at < now() - $1 * interval '1 day' LIMIT ${batch})`,
      [retentionDays],
    );
    deleted += rowCount ?? 0;
    if ((rowCount ?? 0) < batch) return deleted;
  }
}
