/**
 * The machine's floor for a queued job round trip, measured with plain `pg` and nothing of Mule: INSERT (with a
 * NOTIFY) -> another process claims it with SKIP LOCKED -> completes it and NOTIFYs -> the first process hears
 * it. On this 2-core machine it measures ~1.2-2 ms p50 and 4-9 ms p99 (README "Benchmarks"); Mule's sync path is reported as a multiple of this.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { latency, timeSequential, type Latency } from './stats.js';

export async function measureFloor(databaseUrl: string, n: number): Promise<Latency> {
  const setup = new pg.Client({ connectionString: databaseUrl });
  await setup.connect();
  await setup.query(`CREATE TABLE IF NOT EXISTS floor_jobs (id bigserial PRIMARY KEY, status text NOT NULL, payload jsonb)`);
  await setup.end();

  const claimer = spawn(process.execPath, [fileURLToPath(new URL('./floor-claimer.js', import.meta.url)), databaseUrl], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve) => claimer.stdout!.once('data', () => resolve()));

  const producer = new pg.Client({ connectionString: databaseUrl });
  await producer.connect();
  // The completion can be parsed in the same socket read as the INSERT's result, before our await resumes.
  const waiting = new Map<string, () => void>();
  const arrived = new Set<string>();
  producer.on('notification', (message) => {
    const id = message.payload ?? '';
    const resolve = waiting.get(id);
    if (resolve) resolve();
    else arrived.add(id);
  });
  await producer.query('LISTEN floor_done');
  try {
    const samples = await timeSequential(n, Math.min(200, n), async () => {
      const { rows } = await producer.query<{ id: string }>(
        `WITH job AS (INSERT INTO floor_jobs (status, payload) VALUES ('new', '{"prompt":"hello"}') RETURNING id)
         SELECT id, pg_notify('floor_new', id::text) FROM job`,
      );
      const id = rows[0]!.id;
      if (!arrived.delete(id)) await new Promise<void>((resolve) => waiting.set(id, resolve));
      waiting.delete(id);
    });
    return latency(samples);
  } finally {
    await producer.end();
    claimer.kill('SIGTERM');
  }
}
