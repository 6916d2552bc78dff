/**
 * Async throughput: `jobs` async workflow calls submitted over HTTP by `clients` concurrent clients while the
 * workers drain them; reports the submit rate and the end-to-end rate (first submit to last completion).
 */
import pg from 'pg';
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
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  const { rows: before } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE status = 'completed'`);
  const body = JSON.stringify({ model, messages: [{ role: 'user', content: 'throughput' }] });
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < jobs) {
        next++;
        const answer = await post(`${apiUrl}/v1/chat/completions`, body);
        if (answer.status !== 202) throw new Error(`async call answered ${answer.status}: ${answer.body}`);
      }
    }),
  );
  const submitted = performance.now();
  const target = before[0]!.n + jobs;
  for (;;) {
    const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE status = 'completed'`);
    if (rows[0]!.n >= target) break;
    const { rows: failed } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE status = 'failed'`);
    if (failed[0]!.n > 0) throw new Error(`${failed[0]!.n} jobs failed`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const done = performance.now();
  await pool.end();
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
