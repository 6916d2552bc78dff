/**
 * What one open dashboard costs async throughput: the same 2-worker async run as the plain figure, with one client
 * on `GET /v1/events` reading every event, as the dashboard's runs page does. The stream reads jobs only when a
 * NOTIFY names a change (new, running after 250 ms, parked, finished), coalesced per 50 ms, so the cost is those
 * reads in the api plus writing the events; the client here only counts them.
 */
import { compare, type Alternated, type Comparison } from './alternating.js';
import { measureAsyncThroughput, type Throughput } from './async-throughput.js';

export interface Dashboard {
  /** `data:` events received so far. */
  events: number;
  /** Bytes received so far. */
  bytes: number;
  close(): void;
}

/** Opens `GET /v1/events` and reads it until closed; resolves once the stream says its watch has begun. */
export async function openDashboard(apiUrl: string): Promise<Dashboard> {
  const controller = new AbortController();
  const response = await fetch(`${apiUrl}/v1/events`, { signal: controller.signal });
  if (!response.ok || !response.body) throw new Error(`GET /v1/events answered ${response.status}`);
  const dashboard: Dashboard = { events: 0, bytes: 0, close: () => controller.abort() };
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let ready: () => void = () => {};
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  let tail = '';
  void (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        dashboard.bytes += value.byteLength;
        const lines = (tail + decoder.decode(value, { stream: true })).split('\n');
        tail = lines.pop()!;
        for (const line of lines) {
          if (line.startsWith('data: ')) dashboard.events++;
          else if (line === ': ready') ready();
        }
      }
    } catch {
      // closed by close()
    }
  })();
  await isReady;
  return dashboard;
}

export interface DashboardRun {
  result: Throughput;
  /** Events and bytes the dashboard received during the measured run (not the warm-up). */
  events: number;
  bytes: number;
}

/** The async run (`warmUp` jobs, then `jobs` measured) with one dashboard open throughout. */
export async function measureWithDashboard(apiUrl: string, databaseUrl: string, jobs: number, workers: number, warmUp: number): Promise<DashboardRun> {
  const dashboard = await openDashboard(apiUrl);
  try {
    await measureAsyncThroughput(apiUrl, databaseUrl, 'async/workflow/bench', warmUp, 32, workers);
    const events = dashboard.events;
    const bytes = dashboard.bytes;
    const result = await measureAsyncThroughput(apiUrl, databaseUrl, 'async/workflow/bench', jobs, 32, workers);
    return { result, events: dashboard.events - events, bytes: dashboard.bytes - bytes };
  } finally {
    dashboard.close();
  }
}

/** Runs with no dashboard and with one open, alternating (alternating.ts), and what the dashboards received. */
export interface DashboardCost extends Comparison {
  /** Events and bytes one dashboard received in one measured run (the mean of the runs). */
  events: number;
  event_bytes: number;
}

/** Compares; fails if a dashboard received nothing (a figure from a dashboard that saw no job says it is free). */
export function dashboardCost(alternated: Alternated<DashboardRun>): DashboardCost {
  const runs = alternated.on;
  if (runs.some((run) => run.events === 0)) throw new Error('a dashboard was open, but no job event reached it');
  return {
    ...compare({ ...alternated, on: runs.map((run) => run.result) }),
    events: Math.round(runs.reduce((sum, run) => sum + run.events, 0) / runs.length),
    event_bytes: Math.round(runs.reduce((sum, run) => sum + run.bytes, 0) / runs.length),
  };
}

/** The bench table's row. */
export function dashboardRow(cost: DashboardCost): string[] {
  return [
    `async with one dashboard open: ${cost.on.completed_per_s} jobs/s (${cost.percent_of_off}% of none)`,
    `${cost.on.submit_per_s} submitted/s`,
    `${cost.on.completed_per_s} completed/s`,
    `runs: on ${cost.on_runs.join('/')}, off ${cost.off_runs.join('/')}; ${cost.events} events each`,
    '',
  ];
}
