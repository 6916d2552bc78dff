/**
 * The Server-Sent Events of a streamed response: each event is `event: <type>` plus its JSON `data:` (the Responses
 * API names its events; chat streaming sends bare `data:` lines, see sse.ts). Like sse.ts it starts lazily, so an
 * error before any event is still a plain HTTP error, and sends a `: keep-alive` comment every 15 s.
 */
import type { Response } from 'express';
import { KEEP_ALIVE_MS } from './sse.js';

export class ResponseSse {
  private timer: NodeJS.Timeout | null;
  private closed = false;

  constructor(private readonly res: Response) {
    this.timer = setInterval(() => this.comment('keep-alive'), KEEP_ALIVE_MS);
    res.on('close', () => this.stopTimer());
  }

  get started(): boolean {
    return this.res.headersSent;
  }

  private start(): void {
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

  send(events: { type: string }[]): void {
    if (this.closed) return;
    this.start();
    this.res.write(events.map((event) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`).join(''));
  }

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
