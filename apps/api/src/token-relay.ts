/**
 * The api's half of the token relay (the worker's: apps/worker/src/token-relay.ts): `mule_job_tokens` payloads
 * from the LISTEN connection go to the stream(s) waiting on their job, in order.
 *
 * A stream relays one source (one run of the output step under one claim), from its payload 0, with no gap. Any
 * break — a payload missing (a lost NOTIFY, a listener reconnect), a stream that joins a job already streaming
 * (a repeated Idempotency-Key), another source (a retry of the step, a takeover by another worker) — stops the
 * relay for that stream: it sends nothing more until the job ends. Then `rest` gives what completes the answer,
 * the final content minus what was sent, when what was sent is a prefix of it; otherwise the stream cannot be made
 * right and ends with an error event.
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
  private source: string | null = null;
  private next = 0;
  private broken = false;

  constructor(
    private readonly onText: (text: string) => void,
    /** @internal */ readonly onStep?: OnStep,
  ) {}

  /** @internal the relay's route for one payload. */
  receive(source: string, seq: number, text: string): void {
    if (this.broken) return;
    if (seq !== this.next || (this.source !== null && source !== this.source)) {
      this.broken = true;
      return;
    }
    this.source = source;
    this.next++;
    if (text === '') return;
    this.sent += text;
    this.onText(text);
  }

  /** @internal a listener reconnect: payloads may have been lost. */
  interrupt(): void {
    this.broken = true;
  }

  /** True once anything was relayed. */
  get started(): boolean {
    return this.sent !== '';
  }

  /** The part of `content` (the job's final content) not sent yet; throws when what was sent is not its start. */
  rest(content: string, publicId: string): string {
    if (content.startsWith(this.sent)) return content.slice(this.sent.length);
    throw new MuleError(
      'internal_error',
      `the streamed text of job ${publicId} differs from its final output (its output step ran again); read the output at GET /v1/jobs/${publicId}`,
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
