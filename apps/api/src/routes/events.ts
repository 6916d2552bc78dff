/**
 * `GET /v1/events`: Server-Sent Events of job changes the caller may see (`{type: 'job', id, status, workflow}`:
 * a new job, or a status change), for live dashboards.
 *
 * Fed by the NOTIFYs the api's one LISTEN connection already receives: `mule_job_queued` (new jobs, resumes) and
 * `mule_job_finished` (ends, cancels). A burst of them becomes one read per group of watchers (admins and open mode
 * share one; each non-admin key has its own, since it sees only its own jobs): the newest 50 jobs of that group
 * plus the finished ids named, diffed against the statuses seen before. A job starting (`running`) or parking
 * (`waiting`) sends no NOTIFY, so while anyone watches a backstop read runs every 2 s; with no watcher nothing is
 * read at all. Each stream takes a slot of the api's stream limit (MULE_MAX_STREAMS).
 */
import { Router, type Response } from 'express';
import { formatJobId } from '@mule/core';
import { CHANNELS, getJob, listJobs, type JobRow } from '@mule/db';
import { callerOf, jobOwnerFilter } from '../access.js';
import type { ApiContext } from '../api-context.js';

/** Newest jobs read per burst: a dashboard shows 20–100 rows; older jobs change by finishing, which names them. */
const WINDOW = 50;
/** Finished jobs outside that window read one by one per burst at most (a burst of more is rare: a cancel-all). */
const MAX_NAMED_READS = 50;
/** Running and waiting send no NOTIFY: watchers see those within 2 s. */
const BACKSTOP_MS = 2_000;
/** A NOTIFY burst (a batch of submits) coalesces into one read. */
const COALESCE_MS = 50;
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
  private readonly finished = new Set<string>();
  private backstop: NodeJS.Timeout | null = null;
  private pending: NodeJS.Timeout | null = null;
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
    if (channel !== CHANNELS.jobQueued && channel !== CHANNELS.jobFinished) return;
    if (channel === CHANNELS.jobFinished) for (const id of payload.split(',')) if (id) this.finished.add(id);
    this.pending ??= setTimeout(() => {
      this.pending = null;
      void this.refresh();
    }, COALESCE_MS);
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
    this.backstop ??= setInterval(() => this.tick(), BACKSTOP_MS);
    if (group.known === null) await this.refresh();
  }

  unsubscribe(res: Response, owner: string | undefined): void {
    const key = owner ?? '*';
    const group = this.groups.get(key);
    if (!group) return;
    group.subscribers.delete(res);
    if (group.subscribers.size === 0) this.groups.delete(key);
    if (this.groups.size === 0) {
      if (this.backstop) clearInterval(this.backstop);
      this.backstop = null;
      this.finished.clear();
    }
  }

  private tick(): void {
    if (this.ctx?.isStopping()) {
      // Open streams would hold the api's shutdown for its whole grace period: they end now, clients reconnect.
      for (const group of this.groups.values()) for (const res of group.subscribers) res.end();
      return;
    }
    void this.refresh();
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
        const named = [...this.finished].slice(0, MAX_NAMED_READS);
        for (const id of named) this.finished.delete(id);
        for (const group of [...this.groups.values()]) {
          try {
            await this.readGroup(group, named);
          } catch (error) {
            this.ctx?.log.warn({ err: (error as Error).message }, 'job events: could not read job statuses; next burst or backstop retries');
          }
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
    const { jobs } = await listJobs(ctx.prisma, { limit: WINDOW, apiKeyId: group.owner });
    const seen = new Set(jobs.map((job) => job.id));
    const extra: JobRow[] = [];
    if (group.known !== null) {
      for (const id of named) {
        if (seen.has(id)) continue;
        const job = await getJob(ctx.prisma, id);
        if (job && (group.owner === undefined || job.apiKeyId === group.owner)) extra.push(job);
      }
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
