/**
 * The bench's cost figures as text: rows for the main table (the throughput floor, the figures on a grown
 * database against the empty one) and the cost table (per job: SQL statements, PostgreSQL CPU and executor time,
 * WAL; cores busy per process), with the statements that remain per job in the async 2-worker and sync runs.
 */
import type { Throughput } from './async-throughput.js';
import type { Growth } from './growth.js';
import type { StatementCost } from './pg-cost.js';
import type { RunCost } from './run-cost.js';
import type { Latency } from './stats.js';
import type { FloorThroughput } from './throughput-floor.js';

export interface CostResults {
  sync_workflow?: Latency;
  sync_cost?: RunCost;
  async?: Throughput[];
  async_cost?: RunCost[];
  floor_throughput?: FloorThroughput;
  floor_throughput_cost?: RunCost;
  growth?: Growth;
}

const times = (x: number) => `${x.toFixed(2)}x`;

function asyncWith(results: CostResults, workers: number): { run: Throughput; cost: RunCost | undefined } | null {
  const index = (results.async ?? []).findIndex((t) => t.workers === workers);
  return index < 0 ? null : { run: results.async![index]!, cost: results.async_cost?.[index] };
}

/** Main-table rows (measure, submitted/s, completed/s, seconds, target): the floor and Mule against it. */
export function throughputFloorRows(results: CostResults): string[][] {
  const floor = results.floor_throughput;
  if (!floor) return [];
  const rows = [
    [
      `throughput floor: plain SQL lifecycle, ${floor.clients} clients, ${floor.claimers} claimers`,
      `${floor.submit_per_s} submitted/s`,
      `${floor.completed_per_s} completed/s`,
      `${floor.seconds} s`,
      '',
    ],
  ];
  const two = asyncWith(results, 2);
  if (two) rows.push(['  async 2 workers / throughput floor', '', times(two.run.completed_per_s / floor.completed_per_s), '', '']);
  return rows;
}

/** Main-table rows: the sync and async figures on a grown database, as multiples of the empty one's. */
export function growthRows(results: CostResults): string[][] {
  const growth = results.growth;
  const sync = results.sync_workflow;
  const two = asyncWith(results, 2);
  if (!growth || !sync || !two) return [];
  const history = `${(growth.seed.finished / 1e6).toFixed(2)}M finished + ${Math.round(growth.seed.parked / 1000)}k parked jobs`;
  return [
    [
      `sync 1 WASM step, ${history}`,
      String(growth.sync.p50),
      String(growth.sync.p99),
      `${times(growth.sync.p50 / sync.p50)} / ${times(growth.sync.p99 / sync.p99)} of empty`,
      '<= 1.5x',
    ],
    [
      `async 2 workers, ${history}`,
      `${growth.async.submit_per_s} submitted/s`,
      `${growth.async.completed_per_s} completed/s`,
      `${times(growth.async.completed_per_s / two.run.completed_per_s)} of empty`,
      '>= 0.67x (1.5x slower)',
    ],
  ];
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) => `| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

function costRow(label: string, jobsPerSecond: number, cost: RunCost): string[] {
  const pg = cost.postgres;
  return [
    label,
    String(jobsPerSecond),
    `${pg.statements_per_job} (+${pg.foreign_key_checks_per_job})`,
    String(pg.cpu_ms_per_job),
    String(pg.exec_ms_per_job),
    String(pg.wal_bytes_per_job),
    String(pg.cpu_cores),
    String(cost.api.cores),
    `${cost.workers.cores} (${cost.workers.ms_per_job} ms/job)`,
    String(cost.bench.cores),
    String(cost.other_cores),
  ];
}

function statementLines(title: string, statements: StatementCost[], count: number, key: 'calls_per_job' | 'ms_per_job'): string[] {
  return [
    title,
    ...statements.slice(0, count).map((s) => `  ${String(s[key]).padStart(7)}  ${s.foreign_key_check ? '[FK check] ' : ''}${s.query}`),
  ];
}

/** The cost table and the statements behind it. */
export function costTables(results: CostResults): string {
  const rows: string[][] = [
    [
      'run (per job; cores = CPU time / wall time)',
      'jobs/s',
      'SQL stmts (+deferred FK checks)',
      'PG CPU ms',
      'PG exec ms',
      'WAL bytes',
      'PG cores',
      'api cores',
      'workers cores',
      'bench cores',
      'other cores',
    ],
  ];
  if (results.sync_workflow && results.sync_cost) {
    rows.push(costRow('sync 1 WASM step, 1 worker, one call at a time', Math.round(1000 / results.sync_workflow.mean), results.sync_cost));
  }
  (results.async ?? []).forEach((run, i) => {
    const cost = results.async_cost?.[i];
    if (cost) rows.push(costRow(`async, ${run.workers} worker(s), 32 clients`, run.completed_per_s, cost));
  });
  if (results.floor_throughput && results.floor_throughput_cost) {
    rows.push(costRow('throughput floor (plain SQL; workers = claimers)', results.floor_throughput.completed_per_s, results.floor_throughput_cost));
  }
  const growth = results.growth;
  if (growth) {
    rows.push(costRow('sync 1 step on the grown database', Math.round(1000 / growth.sync.mean), growth.sync_cost));
    rows.push(costRow('async 2 workers on the grown database', growth.async.completed_per_s, growth.async_cost));
  }
  const lines = [table(rows)];
  const two = asyncWith(results, 2)?.cost?.postgres;
  if (two) {
    lines.push('', ...statementLines('statements per job, async 2 workers (calls/job, by calls):', two.top_by_calls, 10, 'calls_per_job'));
    lines.push(...statementLines('executor ms per job, async 2 workers (by total time):', two.top_by_time, 5, 'ms_per_job'));
  }
  const sync = results.sync_cost?.postgres;
  if (sync) lines.push(...statementLines('statements per job, sync 1 step (calls/job, by calls):', sync.top_by_calls, 8, 'calls_per_job'));
  return lines.join('\n');
}
