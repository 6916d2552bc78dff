/**
 * The api's half of the token relay (the worker's: apps/worker/src/token-relay.ts): `mule_job_tokens` payloads
 * from the LISTEN connection go to the stream(s) waiting on their job, in order.
 *
 * A stream relays one source at a time (one run of the output step under one claim), each payload once, with no
 * gap. A gap (a lost NOTIFY) or a listener reconnect stops the relay of that source. Another source (a retry of the
 * step, or a takeover after its worker died) is followed from its payload 0 once its text has caught up with what
 * the stream sent: when the new run repeats that text (a deterministic model, a cached answer), the stream goes on
 * with what the new run adds; when it says something else, nothing more is relayed. A stream that joins a job
 * already streaming (a repeated Idempotency-Key) waits likewise for a source that starts after it joined. When
 * the job ends, `rest` gives what completes the answer, the final content minus what was sent, when what was
 * sent is a prefix of it; otherwise the stream cannot be made right and ends with an error event.
 *
 * The same watch hears of the job's steps as they end (`mule_job_progress`, which a worker sends only for streamed
 * jobs), so a stream can show an earlier step's progress while the output step has not begun.
 */
import { MuleError } from '@mule/core';
import { parseJobTokens, progressSteps, type ProgressStepStatus } from '@mule/db';

export type OnStep = (stepId: string, status: ProgressStepStatus) => void;

export class RelayedText {
  /** What this stream has sent of the job's content. */
  private sent = '';
  /** The source relayed now (null: none yet), its next payload number, and whether it lost a payload. */
  private source: string | null = null;
  private next = 0;
  private lost = false;
  /** Another source, followed from its payload 0 until its text covers what was sent. */
  private candidate: { source: string; next: number; text: string } | null = null;

  constructor(
    private readonly onText: (text: string) => void,
    /** @internal */ readonly onStep?: OnStep,
  ) {}

  /** @internal the relay's route for one payload. */
  receive(source: string, seq: number, text: string): void {
    if (source === this.source) {
      if (this.lost) return;
      if (seq !== this.next) {
        this.lost = true;
        return;
      }
      this.next++;
      this.emit(text);
      return;
    }
    let candidate = this.candidate;
    if (candidate?.source !== source) {
      // A source seen from its middle cannot be checked against what was sent: wait for one that starts here.
      if (seq !== 0) return;
      candidate = this.candidate = { source, next: 0, text: '' };
      // A newer run of the output step makes the final content: the one relayed so far (a worker whose claim
      // lapsed, a failed attempt) is not followed any more.
      this.lost = true;
    }
    if (seq !== candidate.next) {
      this.candidate = null;
      return;
    }
    candidate.next++;
    candidate.text += text;
    if (candidate.text.length < this.sent.length) {
      if (!this.sent.startsWith(candidate.text)) this.candidate = null;
      return;
    }
    this.candidate = null;
    if (!candidate.text.startsWith(this.sent)) return;
    // Caught up: this source is the stream's from here on, beginning with what it has beyond what was sent.
    this.source = candidate.source;
    this.next = candidate.next;
    this.lost = false;
    this.emit(candidate.text.slice(this.sent.length));
  }

  private emit(text: string): void {
    if (text === '') return;
    this.sent += text;
    this.onText(text);
  }

  /** @internal a listener reconnect: payloads may have been lost. */
  interrupt(): void {
    this.lost = true;
    this.candidate = null;
  }

  /** True once anything was relayed. */
  get started(): boolean {
    return this.sent !== '';
  }

  /** The part of `content` (the job's final content) not sent yet; throws when what was sent is not its start. */
  rest(content: string, publicId: string): string {
    if (content.startsWith(this.sent)) return content.slice(this.sent.length);
    // Not an internal_error, whose message the api hides: the caller reads why, and where the answer is.
    throw new MuleError(
      'conflict',
      `the streamed text of job ${publicId} differs from its final output (its output step ran again and answered differently); read the output at GET /v1/jobs/${publicId}`,
    );
  }
}

export class TokenRelay {
  private readonly watchers = new Map<string, Set<RelayedText>>();

  /**
   * Relays job `jobId`'s text to `onText`, and its steps' progress to `onStep`, until the returned stop is called.
   * Watch before the job can start.
   */
  watch(jobId: string, onText: (text: string) => void, onStep?: OnStep): { text: RelayedText; stop: () => void } {
    const text = new RelayedText(onText, onStep);
    let set = this.watchers.get(jobId);
    if (!set) this.watchers.set(jobId, (set = new Set()));
    set.add(text);
    const stop = () => {
      set.delete(text);
      if (set.size === 0 && this.watchers.get(jobId) === set) this.watchers.delete(jobId);
    };
    return { text, stop };
  }

  /** A `mule_job_tokens` payload; one for a job nobody here waits on costs a map lookup. */
  onTokens(payload: string): void {
    const comma = payload.indexOf(',');
    const set = comma < 0 ? undefined : this.watchers.get(payload.slice(0, comma));
    if (!set) return;
    const tokens = parseJobTokens(payload);
    if (!tokens) return;
    for (const text of set) text.receive(tokens.source, tokens.seq, tokens.text);
  }

  /** A `mule_job_progress` payload; costs nothing while no stream waits. */
  onProgress(payload: string): void {
    if (this.watchers.size === 0) return;
    for (const step of progressSteps(payload)) {
      const set = this.watchers.get(step.jobId);
      if (set) for (const text of set) text.onStep?.(step.stepId, step.status);
    }
  }

  /** After a listener reconnect every relay in progress may have missed payloads. */
  interruptAll(): void {
    for (const set of this.watchers.values()) for (const text of set) text.interrupt();
  }

  get size(): number {
    return this.watchers.size;
  }
}
