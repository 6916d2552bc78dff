/**
 * The claim loop on a real queue: it fetches when woken and when a full fetch may have left more behind, but a
 * finished job does not cost an empty fetch when the queue was drained (a sync call's worker used to fetch twice
 * per job), and a wake-up that came while every slot was busy is not lost.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { CLAIM_ON_FETCH, createPool, insertJob, JobQueue, type Pool } from '@mule/db';
import { createTestDatabase, type TestDatabase } from '../../../test/support/database.js';
import { ClaimLoop, type QueueJob } from './claim-loop.js';

let db: TestDatabase;
let pool: Pool;
let queue: JobQueue;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool({ connectionString: db.url, max: 4 });
  queue = await JobQueue.start({ pool, role: 'worker', leaseSeconds: 30 });
});

afterAll(async () => {
  await queue?.stop();
  await pool?.end();
  await db?.drop();
});

const plan = { steps: [{ id: 'a', type: 'wasm' }] } as never;
const submit = (id = randomUUID()) =>
  insertJob(queue, pool, { id, workflow: 'w', version: 1, model: 'workflow/w', input: { messages: [] }, plan, idempotencyKey: null, apiKeyId: null }).then(() => id);

/** A loop whose handler finishes a job when told to; counts fetches. */
function loop(slots: number) {
  const claims = queue.claims(CLAIM_ON_FETCH);
  let fetches = 0;
  const ran: string[] = [];
  const release = new Map<string, () => void>();
  const started: Array<(id: string) => void> = [];
  const loop = new ClaimLoop({
    ...claims,
    fetch: (count) => (fetches++, claims.fetch(count)),
    slots,
    backstopMs: 60_000,
    heartbeatMs: 60_000,
    handler: (job: QueueJob) =>
      new Promise<undefined>((resolve) => {
        ran.push(job.jobId);
        release.set(job.jobId, () => resolve(undefined));
        for (const notify of started.splice(0)) notify(job.jobId);
      }),
    onError: (error) => {
      throw error;
    },
  });
  const nextStart = () => new Promise<string>((resolve) => started.push(resolve));
  return { loop, ran, release, nextStart, fetches: () => fetches };
}

test('jobs one at a time: one fetch each, none after a job ends with the queue drained', async () => {
  const l = loop(4);
  l.loop.start();
  for (let i = 0; i < 5; i++) {
    const id = await submit();
    const startedJob = l.nextStart();
    l.loop.wake();
    expect(await startedJob).toBe(id);
    l.release.get(id)!();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await l.loop.stop(1000);
  // The first fetch (empty) at start, then one per wake-up; the old loop fetched again after each job: 11.
  expect(l.fetches()).toBe(6);
});

test('a wake-up while every slot is busy is kept: the job is fetched when a slot frees', async () => {
  const l = loop(1);
  const first = await submit();
  const startedFirst = l.nextStart();
  l.loop.start();
  expect(await startedFirst).toBe(first);
  const second = await submit();
  l.loop.wake();
  const startedSecond = l.nextStart();
  l.release.get(first)!();
  expect(await startedSecond).toBe(second);
  l.release.get(second)!();
  await l.loop.stop(1000);
});
