/**
 * Cancelling a running WASM step, one job at a time: how long `POST /v1/jobs/{id}/cancel` takes to answer, and how
 * long until the worker has let the job go (its sandbox thread terminated, its slot free: the worker's
 * `mule_worker_busy_slots` back to 0). The step sleeps 2 s, so a slot freed sooner was freed by the cancel.
 */
import pg from 'pg';
import { putModule, putWorkflow, testModule } from '@mule/test/support/fixtures.js';
import { startWorker } from '@mule/test/support/processes.js';
import { post } from './http-client.js';
import { latency, type Latency } from './stats.js';

export interface CancelLatency {
  answered: Latency;
  slot_freed: Latency;
}

async function busySlots(workerUrl: string): Promise<number> {
  const text = await (await fetch(`${workerUrl}/metrics`)).text();
  return Number(/^mule_worker_busy_slots (\S+)$/m.exec(text)?.[1]);
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`cancel bench: no ${what} within 10 s`);
  }
}

export async function measureCancelLatency(apiUrl: string, databaseUrl: string, n: number): Promise<CancelLatency> {
  const worker = await startWorker(databaseUrl, { WORKER_CONCURRENCY: '1' });
  if ((await putModule(apiUrl, 'slow-echo', testModule('slow-echo'))).status !== 201) throw new Error('module upload failed');
  if ((await putWorkflow(apiUrl, 'nap', [{ id: 'nap', wasm: 'slow-echo' }])).status !== 201) throw new Error('workflow failed');
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  const answered: number[] = [];
  const freed: number[] = [];
  try {
    const body = JSON.stringify({ model: 'async/workflow/nap', messages: [{ role: 'user', content: 'cancel me' }] });
    for (let i = 0; i < n; i++) {
      const queued = await post(`${apiUrl}/v1/chat/completions`, body);
      if (queued.status !== 202) throw new Error(`async call answered ${queued.status}: ${queued.body}`);
      const id = (JSON.parse(queued.body) as { id: string }).id;
      await until(async () => (await db.query(`SELECT 1 FROM job_steps WHERE job_id = $1 AND status = 'running'`, [id.slice(4)])).rows.length > 0, 'running step');
      const started = performance.now();
      const cancelled = await post(`${apiUrl}/v1/jobs/${id}/cancel`, '');
      answered.push(performance.now() - started);
      if (cancelled.status !== 200) throw new Error(`cancel answered ${cancelled.status}: ${cancelled.body}`);
      await until(async () => (await busySlots(worker.url)) === 0, 'free slot');
      freed.push(performance.now() - started);
    }
  } finally {
    await db.end();
  }
  return { answered: latency(answered), slot_freed: latency(freed) };
}
