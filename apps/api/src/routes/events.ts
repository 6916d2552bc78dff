/**
 * `GET /v1/events`: Server-Sent Events of job changes the caller may see (`{type: 'job', id, status, workflow}`:
 * a new job, or a status change), for live dashboards.
 *
 * Fed by the NOTIFYs the api's one LISTEN connection already receives: `mule_job_queued` (new jobs, resumes and
 * rejections of waits), `mule_job_finished` (ends, cancels) and `mule_job_progress` (a job still running a moment
 * after its claim, a job parked at a wait or for a retry: apps/worker/src/job-progress.ts). Every status change
 * thus comes with a NOTIFY, and nothing is read on a timer. A burst of them becomes one read per group of watchers
 * (admins and open mode share one; each non-admin key has its own, since it sees only its own jobs): the newest 50
 * jobs of that group plus the ids named, diffed against the statuses seen before. NOTIFYs sent while the listener
 * was reconnecting are lost: every group is read again after a reconnect (`reread`), and a read that failed is
 * tried again a second later. With no watcher nothing is read at all. Each stream takes a slot of the api's stream
 * limit (MULE_MAX_STREAMS).
 */
import { Router, type Response } from 'express';
import { formatJobId } from '@mule/core';
import { CHANNELS, finishedIds, jobStatusesByIds, listJobStatuses, progressJobIds, type JobStatusRow } from '@mule/db';
import { callerOf, jobOwnerFilter } from '../access.js';
import type { ApiContext } from '../api-context.js';

/** Newest jobs read per burst: a dashboard shows 20–100 rows; older jobs change by finishing, which names them. */
const WINDOW = 50;
/** Named jobs outside that window read per burst at most, in one query (a burst of more is rare: a cancel-all). */
const MAX_NAMED_READS = 50;
/** A NOTIFY burst (a batch of submits) coalesces into one read. */
const COALESCE_MS = 50;
/** A read that failed (the database away) is tried again after this while anyone watches. */
const RETRY_MS = 1_000;
const KEEP_ALIVE_MS = 15_000;

export interface JobEvent {
  type: 'job';
  id: string;
  status: string;
  workflow: string;
}

interface Group {
  /** The key id whose jobs this group sees; undefined: every job. */
  owner: string | undefined;
  subscribers: Set<Response>;
  /** Job uuid → status as last read; null until the first read. */
  known: Map<string, string> | null;
}

export class JobEvents {
  private ctx: ApiContext | null = null;
  private readonly groups = new Map<string, Group>();
  /** Jobs the NOTIFYs named (finished, parked, running): read even when older than the window. */
  private readonly named = new Set<string>();
  private pending: NodeJS.Timeout | null = null;
  private retry: NodeJS.Timeout | null = null;
  private reading: Promise<void> | null = null;
  private again = false;

  bind(ctx: ApiContext): void {
    this.ctx = ctx;
  }

  get watchers(): number {
    let count = 0;
    for (const group of this.groups.values()) count += group.subscribers.size;
    return count;
  }

  /** From the api's listener: costs nothing while nobody watches. */
  notified(channel: string, payload: string): void {
    if (this.groups.size === 0) return;
    if (channel === CHANNELS.jobFinished) {
      for (const id of finishedIds(payload)) this.named.add(id);
    } else if (channel === CHANNELS.jobProgress) {
      for (const id of progressJobIds(payload)) this.named.add(id);
    } else if (channel !== CHANNELS.jobQueued) {
      return;
    }
    this.schedule(COALESCE_MS);
  }

  /** The listener reconnected: NOTIFYs may have been lost meanwhile, so every group is read again. */
  reread(): void {
    if (this.groups.size > 0) this.schedule(0);
  }

  /** Ends every stream (the api is stopping: open streams would hold its shutdown for the whole grace period). */
  endAll(): void {
    for (const group of this.groups.values()) for (const res of group.subscribers) res.end();
  }

  private schedule(delayMs: number): void {
    this.pending ??= setTimeout(() => {
      this.pending = null;
      void this.refresh();
    }, delayMs);
  }

  /** Adds a watcher; resolves once its group's statuses are known, so what changes after that is sent. */
  async subscribe(res: Response, owner: string | undefined): Promise<void> {
    const key = owner ?? '*';
    let group = this.groups.get(key);
    if (!group) {
      group = { owner, subscribers: new Set(), known: null };
      this.groups.set(key, group);
    }
    group.subscribers.add(res);
    if (group.known === null) await this.refresh();
  }

  unsubscribe(res: Response, owner: string | undefined): void {
    const key = owner ?? '*';
    const group = this.groups.get(key);
    if (!group) return;
    group.subscribers.delete(res);
    if (group.subscribers.size === 0) this.groups.delete(key);
    if (this.groups.size === 0) {
      if (this.retry) clearTimeout(this.retry);
      this.retry = null;
      this.named.clear();
    }
  }

  /** One read per group; a read asked for while one runs runs once more after it. */
  private refresh(): Promise<void> {
    if (this.reading) {
      this.again = true;
      return this.reading;
    }
    this.reading = (async () => {
      do {
        this.again = false;
        const named = [...this.named].slice(0, MAX_NAMED_READS);
        for (const id of named) this.named.delete(id);
        let failed = false;
        for (const group of [...this.groups.values()]) {
          try {
            await this.readGroup(group, named);
          } catch (error) {
            failed = true;
            this.ctx?.log.warn({ err: (error as Error).message }, 'job events: could not read job statuses; trying again in a second');
          }
        }
        if (failed) {
          // The ids this read took are named again, so the retry reads them too.
          for (const id of named) this.named.add(id);
          this.retry ??= setTimeout(() => {
            this.retry = null;
            if (this.groups.size > 0) void this.refresh();
          }, RETRY_MS);
        }
      } while (this.again && this.groups.size > 0);
    })().finally(() => {
      this.reading = null;
    });
    return this.reading;
  }

  private async readGroup(group: Group, named: string[]): Promise<void> {
    const ctx = this.ctx;
    if (!ctx) return;
    // Statuses only (no input, output or steps), and the named jobs outside the window in one query.
    const jobs = await listJobStatuses(ctx.prisma, { limit: WINDOW, apiKeyId: group.owner });
    const seen = new Set(jobs.map((job) => job.id));
    let extra: JobStatusRow[] = [];
    if (group.known !== null) {
      const outside = named.filter((id) => !seen.has(id));
      extra = (await jobStatusesByIds(ctx.prisma, outside)).filter((job) => group.owner === undefined || job.apiKeyId === group.owner);
    }
    const first = group.known === null;
    const known = group.known ?? new Map<string, string>();
    const next = new Map<string, string>();
    const events: JobEvent[] = [];
    // Oldest first, so a client that prepends new rows ends with the newest on top.
    for (const job of [...extra, ...jobs].reverse()) {
      next.set(job.id, job.status);
      if (!first && known.get(job.id) !== job.status) {
        events.push({ type: 'job', id: formatJobId(job.id), status: job.status, workflow: job.workflowName });
      }
    }
    group.known = next;
    if (events.length === 0) return;
    const text = events.map((event) => `data: ${JSON.stringify(event)}\n\n`).join('');
    for (const res of group.subscribers) res.write(text);
  }
}

/** The api process's one hub: main.ts's listener feeds it, the route below subscribes to it. */
export const jobEvents = new JobEvents();

export function eventsRouter(ctx: ApiContext): Router {
  jobEvents.bind(ctx);
  const router = Router();
  router.get('/v1/events', async (req, res) => {
    const release = ctx.capacity.streams.take();
    const owner = jobOwnerFilter(callerOf(res));
    let keepAlive: NodeJS.Timeout | null = null;
    const close = () => {
      if (keepAlive) clearInterval(keepAlive);
      jobEvents.unsubscribe(res, owner);
      release();
    };
    res.on('close', close);
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    try {
      await jobEvents.subscribe(res, owner);
    } catch (error) {
      close();
      throw error;
    }
    if (res.destroyed || res.writableEnded) return close();
    // The first bytes tell the client its watch has begun: what changes from here on is sent.
    res.write(': ready\n\n');
    keepAlive = setInterval(() => res.write(': keep-alive\n\n'), KEEP_ALIVE_MS);
  });
  return router;
}
