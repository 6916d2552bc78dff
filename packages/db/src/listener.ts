/**
 * One dedicated LISTEN connection per process (the pool's connections come and go; a LISTEN must stay on one
 * session). NOTIFY only wakes: the row decides. After every reconnect `onReconnect` runs so callers re-read what
 * they wait for, since notifications sent while we were away are lost.
 */
import pg from 'pg';
import { statement } from './prepared.js';

export const CHANNELS = {
  /** payload: job uuids, comma-separated. Sent by a worker after jobs' final states are committed. */
  jobFinished: 'mule_job_finished',
  /** payload: job uuids, comma-separated. Sent by the api when running jobs are cancelled. */
  jobCancel: 'mule_job_cancel',
  /** payload: empty. Sent by the api after it committed new jobs: wakes idle worker slots. */
  jobQueued: 'mule_job_queued',
  /** payload: empty. Sent by the api after a definition changed: other api processes drop their caches. */
  definitionsChanged: 'mule_definitions_changed',
  /** payload: empty. Sent by the api after an API key was created or revoked. */
  keysChanged: 'mule_keys_changed',
  /** payload: `<job uuid>,<source>,<seq>,<text>` (token-relay.ts). Sent by a worker while a streamed job's output step runs. */
  jobTokens: 'mule_job_tokens',
  /**
   * payload: `<job uuid>` or `<job uuid>:<step id>:<status>` entries, comma-separated (job-progress.ts). Sent by a
   * worker when a job it runs is still running a moment after its claim, when it parks, and when a step of a
   * streamed job ends or starts waiting.
   */
  jobProgress: 'mule_job_progress',
} as const;
export type Channel = (typeof CHANNELS)[keyof typeof CHANNELS];

export interface ListenerOptions {
  connectionString: string;
  channels: Channel[];
  onNotification: (channel: string, payload: string) => void;
  /** Runs after the connection is (re)established, except the first time. */
  onReconnect?: () => void;
  onError?: (error: Error) => void;
  applicationName?: string;
}

const BACKOFF_MS = [100, 250, 500, 1000, 2000, 5000];
/** A silent drop (no FIN, e.g. a VM gone) is noticed by a ping; 10 s keeps detection well inside a 30 s lease. */
const PING_INTERVAL_MS = 10_000;
const PING_TIMEOUT_MS = 5_000;

export class Listener {
  private client: pg.Client | null = null;
  private stopped = false;
  private connectedOnce = false;
  private failures = 0;
  private pingTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private readyResolve: (() => void) | null = null;
  /** Resolves once the first LISTEN is in place. */
  readonly ready: Promise<void>;

  constructor(private readonly options: ListenerOptions) {
    this.ready = new Promise((resolve) => (this.readyResolve = resolve));
  }

  start(): Promise<void> {
    void this.connect();
    return this.ready;
  }

  get connected(): boolean {
    return this.client !== null;
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({
      connectionString: this.options.connectionString,
      application_name: this.options.applicationName ?? 'mule-listener',
      keepAlive: true,
      connectionTimeoutMillis: 5_000,
    });
    client.on('error', (error) => this.drop(client, error));
    client.on('end', () => this.drop(client, new Error('listener connection ended')));
    client.on('notification', (message) => this.options.onNotification(message.channel, message.payload ?? ''));
    try {
      await client.connect();
      for (const channel of this.options.channels) await client.query(`LISTEN ${channel}`);
    } catch (error) {
      this.drop(client, error as Error);
      return;
    }
    if (this.stopped) {
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
    this.failures = 0;
    this.pingTimer = setInterval(() => void this.ping(client), PING_INTERVAL_MS);
    this.pingTimer.unref();
    if (this.connectedOnce) this.options.onReconnect?.();
    this.connectedOnce = true;
    this.readyResolve?.();
    this.readyResolve = null;
  }

  private async ping(client: pg.Client): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('listener ping timed out')), PING_TIMEOUT_MS);
    });
    try {
      await Promise.race([client.query('SELECT 1'), timeout]);
    } catch (error) {
      this.drop(client, error as Error);
    } finally {
      clearTimeout(timer);
    }
  }

  private drop(client: pg.Client, error: Error): void {
    if (this.client !== null && this.client !== client) return;
    const wasConnected = this.client === client;
    this.client = null;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
    client.removeAllListeners('notification');
    client.end().catch(() => {});
    if (this.stopped) return;
    if (wasConnected || this.failures === 0) this.options.onError?.(error);
    const delay = BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length - 1)]!;
    this.failures++;
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, delay);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    const client = this.client;
    this.client = null;
    if (client) await client.end().catch(() => {});
  }
}

/**
 * Sends a NOTIFY outside any transaction: a NOTIFY holds a global lock through its commit, so 16 clients did ~3,800
 * commits/s with the NOTIFY inside against ~11,000 with it after.
 */
export async function notify(db: Pick<pg.Pool, 'query'>, channel: Channel, payload: string): Promise<void> {
  await db.query(statement('SELECT pg_notify($1, $2)', [channel, payload]));
}

/** NOTIFY payloads are limited to 8000 bytes; 200 uuids and their commas fit with room to spare. */
const MAX_IDS_PER_NOTIFY = 200;

/**
 * Coalesced NOTIFYs on one channel, sent after the commits they announce and outside any transaction. One NOTIFY
 * is in flight at a time; whatever arrives meanwhile rides on the next one, so a burst of 1,000 finished jobs
 * costs a handful of statements instead of 1,000, and a lone job still goes out at once. A lost NOTIFY (the
 * database went away) is harmless: listeners re-read the rows after they reconnect.
 */
export class NotifyBatcher {
  private pending: string[] = [];
  private wake = false;
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly db: Pick<pg.Pool, 'query'>,
    private readonly channel: Channel,
    private readonly onError: (error: Error) => void = () => {},
  ) {}

  /** Announces `id` (or, without one, just wakes the listeners). */
  send(id?: string): void {
    if (id === undefined) this.wake = true;
    else this.pending.push(id);
    this.flushing ??= this.flush();
  }

  private async flush(): Promise<void> {
    try {
      while (this.pending.length > 0 || this.wake) {
        const ids = this.pending.splice(0, MAX_IDS_PER_NOTIFY);
        this.wake = false;
        await notify(this.db, this.channel, ids.join(',')).catch((error: Error) => this.onError(error));
      }
    } finally {
      this.flushing = null;
    }
  }

  /** Resolves when everything announced so far has been sent (or failed). */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }
}
