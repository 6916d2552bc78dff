/**
 * Cost as data grows: the sync one-step latency and the async 2-worker throughput measured again on a database
 * holding a long history (growth-seed.ts: finished jobs with their step rows and recent pg-boss entries, and
 * jobs parked on a wait whose queue entries every fetch must skip), to set against the same figures on the near
 * empty databases of the sections before. BENCH_SKIP_GROWTH=1 leaves it out.
 */
import pg from 'pg';
import { putWorkflow, waitFor } from '@mule/test/support/fixtures.js';
import type { Throughput } from './async-throughput.js';
import type { GrowthSeed } from './growth-seed.js';
import { post } from './http-client.js';
import type { RunCost } from './run-cost.js';
import type { Latency } from './stats.js';

/** A completed one-step job and a job parked on a 7-day wait, made through the api and a worker. */
export async function makeGrowthTemplates(apiUrl: string, databaseUrl: string): Promise<{ finished: string; parked: string }> {
  const waitSteps = [
    { id: 'echo', wasm: 'echo' },
    { id: 'approve', needs: ['echo'], wait: { timeout: '7d' }, input: { draft: '${{ steps.echo.output.prompt }}' } },
  ];
  if ((await putWorkflow(apiUrl, 'bench-wait', waitSteps)).status !== 201) throw new Error('the wait workflow was refused');
  const submit = async (model: string) => {
    const answer = await post(`${apiUrl}/v1/chat/completions`, JSON.stringify({ model, messages: [{ role: 'user', content: 'history' }] }));
    if (answer.status !== 202) throw new Error(`async call answered ${answer.status}: ${answer.body}`);
    return (JSON.parse(answer.body) as { id: string }).id.slice('job-'.length);
  };
  const finished = await submit('async/workflow/bench');
  const parked = await submit('async/workflow/bench-wait');
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const statusOf = async (id: string) => (await client.query<{ status: string }>('SELECT status FROM jobs WHERE id = $1', [id])).rows[0]?.status;
    await waitFor(async () => (await statusOf(finished)) === 'completed', 30_000, 'the template job to complete');
    await waitFor(async () => (await statusOf(parked)) === 'waiting', 30_000, 'the template job to park on its wait');
  } finally {
    await client.end();
  }
  return { finished, parked };
}

export interface Growth {
  seed: GrowthSeed;
  sync: Latency;
  sync_cost: RunCost;
  async: Throughput;
  async_cost: RunCost;
}
