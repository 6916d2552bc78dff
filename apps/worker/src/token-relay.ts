/**
 * The worker's half of the token relay: while a job a stream waits on (`jobs.stream`) runs its output step, that
 * agent step's text goes to the api as it is generated, on `mule_job_tokens` (packages/db/src/job-tokens.ts).
 *
 * The output step (`relayTargetOf`): with no `output` template, the last listed step; with an `output` that is
 * exactly `${{ steps.<id>.output }}` or `${{ steps.<id>.output.prompt }}`, step <id>; in both cases only an agent
 * step without `for_each` (whose output is `{prompt: text}`). Any other output is sent whole when the job ends.
 * What is relayed is the job's chat content as it grows: the text itself, or for `.output.prompt` (a string output,
 * whose content is the string as JSON) its JSON encoding, from the opening quote on; the api sends the closing quote
 * with the rest when the job finishes.
 *
 * Batching: the first text goes out at once (time to first token), then whatever arrived is sent every 15 ms, or
 * at once when 4 KB are waiting; one NOTIFY per job in flight at a time, each its own statement outside any
 * transaction. A fast model thus costs at most ~67 NOTIFYs a second per job, not one per token.
 */
import { storableText, type JobPlan } from '@mule/core';
import { MAX_TOKEN_TEXT_UNITS, notifyJobTokens, type Pool } from '@mule/db';
import type { Logger } from '@mule/observability';

const FLUSH_MS = 15;
const FLUSH_BYTES = 4096;
/** `${{ steps.<id>.output }}` or `${{ steps["<id>"].output.prompt }}` (an id with `-` or `.` needs the brackets). */
const OUTPUT_REFERENCE = /^\$\{\{\s*steps(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*(?:"([^"\\]+)"|'([^'\\]+)')\s*\])\.output(\.prompt)?\s*\}\}$/;

export interface RelayTarget {
  stepId: string;
  /** `json`: the content is the text as a JSON string (an output of `${{ steps.<id>.output.prompt }}`). */
  encoding: 'text' | 'json';
}

/** The step whose text is the job's chat content as it is generated, or null when there is none (see above). */
export function relayTargetOf(plan: JobPlan): RelayTarget | null {
  let target: RelayTarget;
  if (plan.output === undefined) {
    target = { stepId: plan.steps[plan.steps.length - 1]!.id, encoding: 'text' };
  } else {
    const match = typeof plan.output === 'string' ? OUTPUT_REFERENCE.exec(plan.output) : null;
    if (!match) return null;
    target = { stepId: (match[1] ?? match[2] ?? match[3])!, encoding: match[4] ? 'json' : 'text' };
  }
  const step = plan.steps.find((candidate) => candidate.id === target.stepId);
  return step?.type === 'agent' && step.for_each === undefined ? target : null;
}

interface RelayedJob {
  claim: number;
  target: RelayTarget;
  /** Runs of the target step under this claim: each retry is a new source. */
  runs: number;
}

/** The streamed jobs this worker runs now, by id. */
export class TokenRelays {
  private readonly jobs = new Map<string, RelayedJob>();

  constructor(
    private readonly pool: Pick<Pool, 'query'>,
    private readonly log: Logger,
  ) {}

  /** A streamed job was claimed (`claim`: its `attempts`). Does nothing when its plan has no output step to relay. */
  open(jobId: string, claim: number, plan: JobPlan): void {
    const target = relayTargetOf(plan);
    if (target) this.jobs.set(jobId, { claim, target, runs: 0 });
  }

  close(jobId: string): void {
    this.jobs.delete(jobId);
  }

  /** A sink for one run of `stepId`, or null when this step's text is not relayed. */
  sinkFor(jobId: string, stepId: string): TokenSink | null {
    const job = this.jobs.get(jobId);
    if (!job || job.target.stepId !== stepId) return null;
    job.runs++;
    return new TokenSink(this.pool, jobId, `${job.claim}.${job.runs}`, job.target.encoding, (error) =>
      this.log.warn({ err: error.message }, 'could not relay tokens; the stream gets the rest when the job ends'),
    );
  }
}

/** One run's text on its way to the api, coalesced (see the top of this file). */
export class TokenSink {
  private pending = '';
  private seq = 0;
  private timer: NodeJS.Timeout | null = null;
  private sending: Promise<void> | null = null;
  private ended = false;
  private failed = false;

  constructor(
    private readonly db: Pick<Pool, 'query'>,
    private readonly jobId: string,
    private readonly source: string,
    private readonly encoding: RelayTarget['encoding'],
    private readonly onError: (error: Error) => void,
  ) {}

  push(delta: string): void {
    if (this.ended || this.failed || delta === '') return;
    this.pending += delta;
    if (this.sending) return;
    if (this.seq === 0 || Buffer.byteLength(this.pending) >= FLUSH_BYTES) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  /** Sends what is left and resolves once every payload is sent (never rejects). */
  async end(): Promise<void> {
    this.ended = true;
    this.flush();
    while (this.sending) await this.sending;
  }

  /** The run failed: nothing more is sent (the api's stream ends as the job does). */
  dispose(): void {
    this.ended = true;
    this.failed = true;
    this.pending = '';
    this.clearTimer();
  }

  private flush(): void {
    this.clearTimer();
    this.sending ??= this.send().finally(() => {
      this.sending = null;
      if (this.failed || this.pending === '') return;
      if (this.ended || Buffer.byteLength(this.pending) >= FLUSH_BYTES) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
    });
  }

  /** Sends what is pending now, in payloads that fit a NOTIFY; text arriving meanwhile waits for the next flush. */
  private async send(): Promise<void> {
    let batch = this.pending;
    // A surrogate pair split across two batches would reach PostgreSQL as two broken halves: hold the high half back.
    const held = !this.ended && isHighSurrogate(batch.charCodeAt(batch.length - 1)) ? 1 : 0;
    this.pending = batch.slice(batch.length - held);
    batch = storableText(batch.slice(0, batch.length - held));
    if (this.encoding === 'json') batch = (this.seq === 0 ? '"' : '') + JSON.stringify(batch).slice(1, -1);
    for (let start = 0; start < batch.length && !this.failed; ) {
      let end = Math.min(batch.length, start + MAX_TOKEN_TEXT_UNITS);
      if (end < batch.length && isHighSurrogate(batch.charCodeAt(end - 1))) end--;
      try {
        await notifyJobTokens(this.db, { jobId: this.jobId, source: this.source, seq: this.seq, text: batch.slice(start, end) });
        this.seq++;
      } catch (error) {
        // Later payloads would leave a gap: stop here; the api sends the rest from the job's output.
        this.failed = true;
        this.onError(error as Error);
      }
      start = end;
    }
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
