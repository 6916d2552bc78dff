/**
 * A Server-Sent Events answer. It can start lazily (at the first event), so an error that happens before any
 * output is still a plain HTTP error; a keep-alive comment every 15 s starts it if nothing else has.
 */
import type { Response } from 'express';
import { errorResponse } from './http-errors.js';

export const KEEP_ALIVE_MS = 15_000;

export class SseStream {
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly res: Response,
    keepAliveMs = KEEP_ALIVE_MS,
  ) {
    this.timer = setInterval(() => this.comment('keep-alive'), keepAliveMs);
    res.on('close', () => this.stopTimer());
  }

  get started(): boolean {
    return this.res.headersSent;
  }

  start(): void {
    if (this.res.headersSent) return;
    this.res.status(200);
    this.res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    this.res.setHeader('Cache-Control', 'no-cache, no-transform');
    this.res.setHeader('Connection', 'keep-alive');
    // Reverse proxies (nginx) must pass events through as they come.
    this.res.setHeader('X-Accel-Buffering', 'no');
    this.res.flushHeaders();
  }

  comment(text: string): void {
    if (this.closed) return;
    this.start();
    this.res.write(`: ${text}\n\n`);
  }

  data(event: unknown): void {
    if (this.closed) return;
    this.start();
    this.res.write(`data: ${JSON.stringify(event)}\n\n`);
  }

  /** An error after the stream started: sent as an event, then [DONE]. */
  error(error: unknown): void {
    this.data(errorResponse(error).body);
    this.done();
  }

  /** Named events (`event: <type>` plus the event as JSON `data:`), as OpenAI's Responses API streams them. */
  events(events: { type: string }[]): void {
    if (this.closed) return;
    this.start();
    this.res.write(events.map((event) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`).join(''));
  }

  /** Chat streaming's end: a `[DONE]` line, then the end of the answer. */
  done(): void {
    if (this.closed) return;
    this.start();
    this.res.write('data: [DONE]\n\n');
    this.end();
  }

  /** Ends the answer (the Responses API sends no `[DONE]`). */
  end(): void {
    if (this.closed) return;
    this.start();
    this.closed = true;
    this.stopTimer();
    this.res.end();
  }

  /** Gives up a stream that never started (the caller answers a plain HTTP error instead). */
  dispose(): void {
    this.closed = true;
    this.stopTimer();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
