/**
 * Async throughput: `jobs` async workflow calls submitted over HTTP by `clients` concurrent clients while the
 * workers drain them; reports the submit rate and the end-to-end rate (first submit to last completion).
 */
import pg from 'pg';
import { finishedIds } from '@mule/db';
import { putModule, putWorkflow, testModule } from '@mule/test/support/fixtures.js';
import { post } from './http-client.js';

export interface Throughput {
  jobs: number;
  clients: number;
  workers: number;
  submit_per_s: number;
  completed_per_s: number;
  seconds: number;
}

export async function measureAsyncThroughput(
  apiUrl: string,
  databaseUrl: string,
  model: string,
  jobs: number,
  clients: number,
  workers: number,
): Promise<Throughput> {
  // Completions are counted from the workers' own `mule_job_finished` NOTIFYs (what a sync caller waits on):
  // exact, and without polling a growing table while the workers drain it.
  const listener = new pg.Client({ connectionString: databaseUrl });
  await listener.connect();
  const finished = new Set<string>();
  const accepted = new Set<string>();
  let lastFinishedAt = 0;
  let allFinished: () => void = () => {};
  const drained = new Promise<void>((resolve) => (allFinished = resolve));
  // Accepted jobs heard finished, counted as they come (a scan of every accepted id per NOTIFY cost the load
  // generator CPU in the last seconds of a run).
  let acceptedFinished = 0;
  const check = () => {
    if (accepted.size === jobs && acceptedFinished === jobs) allFinished();
  };
  listener.on('notification', (message) => {
    for (const id of finishedIds(message.payload ?? '')) {
      if (finished.has(id)) continue;
      finished.add(id);
      if (accepted.has(id)) acceptedFinished++;
    }
    lastFinishedAt = performance.now();
    check();
  });
  await listener.query('LISTEN mule_job_finished');
  const started = performance.now();
  await submitAsync(apiUrl, model, jobs, clients, (id) => {
    accepted.add(id);
    if (finished.has(id)) acceptedFinished++;
  });
  const submitted = performance.now();
  check();
  await drained;
  const done = lastFinishedAt;
  const { rows } = await listener.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1::uuid[]) AND status <> 'completed'`, [
    [...accepted],
  ]);
  await listener.end();
  if (rows[0]!.n > 0) throw new Error(`${rows[0]!.n} jobs did not complete`);
  const round = (x: number) => Math.round(x);
  return {
    jobs,
    clients,
    workers,
    submit_per_s: round(jobs / ((submitted - started) / 1000)),
    completed_per_s: round(jobs / ((done - started) / 1000)),
    seconds: Math.round((done - started) / 10) / 100,
  };
}

/** Submits `jobs` async calls of `model` by `clients` concurrent clients; `accepted` hears each job's id. */
export async function submitAsync(apiUrl: string, model: string, jobs: number, clients: number, accepted?: (jobId: string) => void): Promise<void> {
  const body = JSON.stringify({ model, messages: [{ role: 'user', content: 'throughput' }] });
  let next = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < jobs) {
        next++;
        const answer = await post(`${apiUrl}/v1/chat/completions`, body);
        if (answer.status !== 202) throw new Error(`async call answered ${answer.status}: ${answer.body}`);
        accepted?.((JSON.parse(answer.body) as { id: string }).id.slice('job-'.length));
      }
    }),
  );
}

/** The one-step workflow every async figure runs (`async/workflow/bench`): the echo module as its WASM step. */
export async function installBenchWorkflow(apiUrl: string): Promise<void> {
  if ((await putModule(apiUrl, 'echo', testModule('echo'))).status !== 201) throw new Error('module upload failed');
  if ((await putWorkflow(apiUrl, 'bench', [{ id: 'echo', wasm: 'echo' }])).status !== 201) throw new Error('workflow failed');
}
