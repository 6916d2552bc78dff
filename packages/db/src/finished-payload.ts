/**
 * The payload of `mule_job_finished`: entries separated by commas, each a job's uuid, optionally followed by
 * `:` and its outcome as base64url JSON (base64url has no commas or colons). A waiter that gets the outcome this
 * way answers without reading the job back, one round trip fewer on the sync path; an entry without one (sent
 * after the commit, under load or by the api) means "read the row". NOTIFY payloads stop at 8,000 bytes, so a
 * large outcome is never carried.
 */
import type { JobOutcome } from './jobs-repo.js';

/** The longest payload a NOTIFY accepts is 7,999 bytes; this leaves room for the uuid and the separator. */
const MAX_CARRIED_BYTES = 7_900;

export interface FinishedEntry {
  id: string;
  outcome: JobOutcome | null;
}

/** One entry: the id, with the outcome when it fits. */
export function finishedEntry(outcome: JobOutcome): string {
  const encoded = Buffer.from(JSON.stringify(outcome)).toString('base64url');
  return encoded.length + outcome.id.length + 1 <= MAX_CARRIED_BYTES ? `${outcome.id}:${encoded}` : outcome.id;
}

/**
 * The entries of a payload (only those `wanted` names, when given: the others' outcomes are not even decoded); an
 * outcome that does not parse is dropped (the waiter reads the row instead).
 */
export function parseFinished(payload: string, wanted?: (id: string) => boolean): FinishedEntry[] {
  const entries: FinishedEntry[] = [];
  for (const part of payload.split(',')) {
    if (part === '') continue;
    const colon = part.indexOf(':');
    const id = colon < 0 ? part : part.slice(0, colon);
    if (wanted && !wanted(id)) continue;
    if (colon < 0) {
      entries.push({ id, outcome: null });
      continue;
    }
    let outcome: JobOutcome | null = null;
    try {
      const parsed = JSON.parse(Buffer.from(part.slice(colon + 1), 'base64url').toString()) as JobOutcome;
      if (parsed && parsed.id === id && typeof parsed.status === 'string') outcome = parsed;
    } catch {
      outcome = null;
    }
    entries.push({ id, outcome });
  }
  return entries;
}

/** The job ids a payload names (for listeners that only need to know which jobs ended). */
export function finishedIds(payload: string): string[] {
  return payload.split(',').filter((part) => part !== '').map((part) => part.split(':', 1)[0]!);
}
