/**
 * The token relay's wire format on the `mule_job_tokens` channel: a worker sends a streamed job's output text as it
 * is generated, the api routes it to the stream(s) waiting on that job (apps/api/src/token-relay.ts).
 *
 * Payload: `<job uuid>,<source>,<seq>,<text>`. `source` names one run of the output step under one claim
 * (`<claim>.<run>`): a retry or a takeover starts a new source, whose text the api must not append to the old one.
 * `seq` counts the source's payloads from 0, so a lost NOTIFY shows as a gap.
 */
import type pg from 'pg';
import { CHANNELS } from './listener.js';
import { statement } from './prepared.js';

/**
 * NOTIFY payloads are limited to 8000 bytes. A UTF-16 unit is at most 3 bytes of UTF-8 (a surrogate pair, two
 * units, is 4), so 2,400 units are at most 7,200 bytes, leaving room for the ~60-byte header.
 */
export const MAX_TOKEN_TEXT_UNITS = 2400;

export interface JobTokens {
  jobId: string;
  source: string;
  seq: number;
  text: string;
}

/** Sends one payload outside any transaction (a NOTIFY inside a commit holds a global lock through it). */
export async function notifyJobTokens(db: Pick<pg.Pool, 'query'>, tokens: JobTokens): Promise<void> {
  if (tokens.text.length > MAX_TOKEN_TEXT_UNITS) throw new Error(`a token payload holds at most ${MAX_TOKEN_TEXT_UNITS} UTF-16 units`);
  await db.query(statement('SELECT pg_notify($1, $2)', [CHANNELS.jobTokens, `${tokens.jobId},${tokens.source},${tokens.seq},${tokens.text}`]));
}

/** Reads a payload; null when it is not one (the text itself may hold commas). */
export function parseJobTokens(payload: string): JobTokens | null {
  const first = payload.indexOf(',');
  const second = first < 0 ? -1 : payload.indexOf(',', first + 1);
  const third = second < 0 ? -1 : payload.indexOf(',', second + 1);
  if (third < 0) return null;
  const seq = Number(payload.slice(second + 1, third));
  if (!Number.isSafeInteger(seq) || seq < 0) return null;
  return { jobId: payload.slice(0, first), source: payload.slice(first + 1, second), seq, text: payload.slice(third + 1) };
}
