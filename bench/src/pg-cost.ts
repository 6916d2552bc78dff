/**
 * What a measured run costs PostgreSQL, per completed job: SQL statements (pg_stat_statements `calls`), server CPU
 * (utime + stime of the postmaster and every backend, from /proc), executor time (pg_stat_statements
 * `total_exec_time`, a second figure that is wall time inside statements, lock waits included) and WAL bytes
 * (pg_current_wal_lsn before and after). Needs the bench's own PostgreSQL (bench-postgres.ts): pg_stat_statements
 * must be preloaded, and the server's processes must be on this machine.
 *
 * The statement counts are per database (the run's own); CPU and WAL are the whole server's, and nothing else
 * runs on it during a measured run.
 */
import pg from 'pg';
import { treeCpuMs } from './proc-cpu.js';

/**
 * PostgreSQL's own foreign-key check (RI trigger) query: no client sends it. pg_stat_statements (track = top)
 * sees it only when it runs at commit, for a deferred key such as pg-boss's job -> queue one (one per queue entry
 * inserted); immediate checks (job_steps -> jobs) run nested inside their statement and are not counted. Counted
 * apart from the statements sent.
 */
const FOREIGN_KEY_CHECK = /^SELECT (1|\$\d+) FROM ONLY \S+ x WHERE .* FOR (KEY )?SHARE OF x$/;

export interface StatementCost {
  /** The normalized statement, whitespace collapsed and shortened. */
  query: string;
  calls: number;
  calls_per_job: number;
  rows: number;
  total_ms: number;
  ms_per_job: number;
  /** A foreign-key check PostgreSQL ran itself (see FOREIGN_KEY_CHECK), not a statement a client sent. */
  foreign_key_check?: true;
}

export interface PgCost {
  jobs: number;
  seconds: number;
  /** Statements the api, workers (or floor) sent, BEGIN/COMMIT included. */
  statements_per_job: number;
  /** Foreign-key checks PostgreSQL ran inside those statements (see FOREIGN_KEY_CHECK). */
  foreign_key_checks_per_job: number;
  /** Server CPU (postmaster, backends, background processes) per job. */
  cpu_ms_per_job: number;
  /** Server CPU over wall time: 1.0 is one core busy all the run. */
  cpu_cores: number;
  /** pg_stat_statements total_exec_time per job. */
  exec_ms_per_job: number;
  wal_bytes_per_job: number;
  top_by_calls: StatementCost[];
  top_by_time: StatementCost[];
}

const TOP = 12;
const QUERY_CHARS = 160;

export function shorten(query: string): string {
  const flat = query.replace(/\s+/g, ' ').trim();
  return flat.length > QUERY_CHARS ? `${flat.slice(0, QUERY_CHARS - 1)}…` : flat;
}

export class PgCostProbe {
  private constructor(
    private readonly admin: pg.Client,
    private readonly postmasterPid: number,
  ) {}

  /** `adminUrl`: a superuser connection to the bench's server; `postmasterPid` from its data folder. */
  static async open(adminUrl: string, postmasterPid: number): Promise<PgCostProbe> {
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    return new PgCostProbe(admin, postmasterPid);
  }

  /**
   * Starts measuring: resets the statement counters and reads the CPU and WAL position. `end(jobs)` on the returned
   * handle gives the cost of everything the server did in between for `database`.
   */
  async begin(database: string): Promise<{ end(jobs: number): Promise<PgCost> }> {
    await this.admin.query('SELECT pg_stat_statements_reset()');
    const { rows } = await this.admin.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    const lsn = rows[0]!.lsn;
    const cpu = treeCpuMs(this.postmasterPid);
    const started = performance.now();
    return { end: (jobs) => this.finish(database, jobs, lsn, cpu, started) };
  }

  private async finish(database: string, jobs: number, lsn: string, cpuBefore: number, started: number): Promise<PgCost> {
    const seconds = (performance.now() - started) / 1000;
    const cpuMs = treeCpuMs(this.postmasterPid) - cpuBefore;
    const wal = await this.admin.query<{ bytes: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::text AS bytes', [lsn]);
    const { rows } = await this.admin.query<{ query: string; calls: string; rows: string; total_ms: number }>(
      `SELECT query, calls::text, rows::text, total_exec_time AS total_ms
         FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1)`,
      [database],
    );
    const per = (x: number, digits = 2) => Math.round((x / jobs) * 10 ** digits) / 10 ** digits;
    const statements = rows.map((row) => {
      const calls = Number(row.calls);
      return {
        query: shorten(row.query),
        calls,
        calls_per_job: per(calls, 3),
        rows: Number(row.rows),
        total_ms: Math.round(row.total_ms),
        ms_per_job: per(row.total_ms, 4),
        ...(FOREIGN_KEY_CHECK.test(shorten(row.query)) ? { foreign_key_check: true as const } : {}),
      };
    });
    const totalCalls = statements.filter((s) => !s.foreign_key_check).reduce((sum, s) => sum + s.calls, 0);
    const checks = statements.filter((s) => s.foreign_key_check).reduce((sum, s) => sum + s.calls, 0);
    const totalExec = rows.reduce((sum, row) => sum + row.total_ms, 0);
    return {
      jobs,
      seconds: Math.round(seconds * 100) / 100,
      statements_per_job: per(totalCalls),
      foreign_key_checks_per_job: per(checks),
      cpu_ms_per_job: per(cpuMs, 3),
      cpu_cores: Math.round((cpuMs / 1000 / seconds) * 100) / 100,
      exec_ms_per_job: per(totalExec, 3),
      wal_bytes_per_job: Math.round(Number(wal.rows[0]!.bytes) / jobs),
      top_by_calls: [...statements].sort((a, b) => b.calls - a.calls).slice(0, TOP),
      top_by_time: [...statements].sort((a, b) => b.total_ms - a.total_ms).slice(0, TOP),
    };
  }

  async close(): Promise<void> {
    await this.admin.end();
  }
}
