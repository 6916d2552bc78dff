/**
 * Workflow graphs as the worker drives them through the lifecycle, with real api and worker processes: parallel
 * steps, joins, `if`, `for_each` with per-item retries, on_error, and (in workflow-parking.test.ts) parking.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { startFakeProvider, type FakeProvider } from './support/fake-provider.js';
import { http, putModule, putWorkflow, testModule, waitFor } from './support/fixtures.js';
import { startApi, startWorker, stopAllProcesses, type MuleProcess } from './support/processes.js';

let db: TestDatabase;
let api: MuleProcess;
let worker: MuleProcess;
let fake: FakeProvider;
let pool: pg.Pool;

const env = (): Record<string, string> => ({ MULE_ENV_ALLOW: 'FAKE_*', FAKE_BASE_URL: fake.url, FAKE_API_KEY: 'sk-fake' });

beforeAll(async () => {
  db = await createTestDatabase();
  fake = await startFakeProvider();
  // Two WASM threads (the default): two sleeping steps can run at once.
  [api, worker] = await Promise.all([startApi(db.url, env()), startWorker(db.url, { ...env(), MULE_WASM_THREADS: '2' })]);
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  for (const name of ['echo', 'sleep', 'unreachable']) expect((await putModule(api.url, name, testModule(name))).status).toBe(201);
  const put = async (path: string, body: unknown) => expect((await http(api.url, 'PUT', path, body)).status).toBe(201);
  await put('/v1/providers/fake', { type: 'openai', base_url_env: 'FAKE_BASE_URL', api_key_env: 'FAKE_API_KEY' });
  await put('/v1/agents/helper', { provider: 'fake', model: 'fake-model' });
  const workflows: Record<string, unknown[]> = {
    fan: [
      { id: 'a', wasm: 'echo' },
      // The sleep module sleeps for the digits of its input: 600 ms each.
      { id: 'b', wasm: 'sleep', needs: ['a'], input: '600' },
      { id: 'c', wasm: 'sleep', needs: ['a'], input: '600' },
      { id: 'join', wasm: 'echo', needs: ['b', 'c'] },
    ],
    branch: [
      { id: 'a', wasm: 'echo' },
      { id: 'loud', wasm: 'echo', needs: ['a'], if: "input.prompt == 'loud'", input: { shout: '${{ input.prompt }}' } },
      { id: 'quiet', wasm: 'echo', needs: ['a'], if: "input.prompt != 'loud'", input: { whisper: '${{ input.prompt }}' } },
      { id: 'join', wasm: 'echo', needs: ['loud', 'quiet'] },
    ],
    each: [{ id: 'ask', agent: 'helper', for_each: "['a', 'b', 'c']", concurrency: 3, retries: 2 }],
    lenient: [
      { id: 'a', wasm: 'echo' },
      { id: 'bad', wasm: 'unreachable', needs: ['a'], on_error: 'continue' },
      { id: 'after', wasm: 'echo', needs: ['bad'], input: { bad: '${{ steps.bad.status }}' } },
    ],
    strict: [
      { id: 'slow', wasm: 'sleep', input: '60000', timeout_ms: 120_000 },
      { id: 'bad', wasm: 'unreachable', needs: [], input: 'x' },
    ],
  };
  for (const [name, steps] of Object.entries(workflows)) expect((await putWorkflow(api.url, name, steps)).body).toMatchObject({ name });
});

afterAll(async () => {
  await pool?.end();
  await stopAllProcesses();
  await fake?.close();
  await db?.drop();
});

beforeEach(() => fake.reset());

const run = (model: string, content = 'x') => http(api.url, 'POST', '/v1/chat/completions', { model, messages: [{ role: 'user', content }] });

interface Row {
  step_id: string;
  item: number | null;
  attempt: number;
  status: string;
  output: unknown;
  error: { code: string } | null;
  started_at: Date;
  completed_at: Date | null;
}

async function rows(jobId: string): Promise<Row[]> {
  const { rows: found } = await pool.query<Row>(
    `SELECT step_id, item, attempt, status, output, error, started_at, completed_at FROM job_steps
      WHERE job_id = $1 ORDER BY step_index, item NULLS FIRST, attempt`,
    [jobId.replace(/^job-/, '')],
  );
  return found;
}

const brief = (found: Row[]) => found.map(({ step_id, item, attempt, status }) => ({ step_id, item, attempt, status }));

async function busySlots(): Promise<number> {
  const text = (await http(worker.url, 'GET', '/metrics')).body as string;
  return Number(/^mule_worker_busy_slots (\S+)$/m.exec(String(text))?.[1]);
}

describe('parallel steps and joins', () => {
  test('a fan-out runs its branches at the same time, and the join runs once with both outputs', async () => {
    const answer = await run('workflow/fan', 'go');
    expect(answer.status).toBe(200);
    const found = await rows(answer.headers.get('x-mule-job-id')!);
    expect(brief(found)).toEqual([
      { step_id: 'a', item: null, attempt: 1, status: 'completed' },
      { step_id: 'b', item: null, attempt: 1, status: 'completed' },
      { step_id: 'c', item: null, attempt: 1, status: 'completed' },
      { step_id: 'join', item: null, attempt: 1, status: 'completed' },
    ]);
    const [, b, c, join] = found as [Row, Row, Row, Row];
    // The branches overlap: each started before the other finished.
    expect(b.started_at.getTime()).toBeLessThan(c.completed_at!.getTime());
    expect(c.started_at.getTime()).toBeLessThan(b.completed_at!.getTime());
    // The join started after both ended, with both outputs by step id.
    expect(join.started_at.getTime()).toBeGreaterThanOrEqual(Math.max(b.completed_at!.getTime(), c.completed_at!.getTime()));
    expect(join.output).toEqual({ b: b.output, c: c.output });
    // The module reports the time it measured around its sleep: at least what it asked for, maybe a millisecond more.
    expect((b.output as { slept_ms: number }).slept_ms).toBeGreaterThanOrEqual(600);
  });

  test('an if that is false skips its step (one skipped row), and the join runs with null for it', async () => {
    const answer = await run('workflow/branch', 'soft');
    expect(answer.status).toBe(200);
    const found = await rows(answer.headers.get('x-mule-job-id')!);
    expect(brief(found)).toEqual([
      { step_id: 'a', item: null, attempt: 1, status: 'completed' },
      { step_id: 'loud', item: null, attempt: 1, status: 'skipped' },
      { step_id: 'quiet', item: null, attempt: 1, status: 'completed' },
      { step_id: 'join', item: null, attempt: 1, status: 'completed' },
    ]);
    expect(found[3]!.output).toEqual({ loud: null, quiet: { whisper: 'soft' } });
    const other = await run('workflow/branch', 'loud');
    const taken = await rows(other.headers.get('x-mule-job-id')!);
    expect(taken.map((row) => [row.step_id, row.status])).toEqual([['a', 'completed'], ['loud', 'completed'], ['quiet', 'skipped'], ['join', 'completed']]);
    expect(taken[3]!.output).toEqual({ loud: { shout: 'loud' }, quiet: null });
    // Both runs skipped one step each; the worker counts them with the steps it ran.
    const text = String((await http(worker.url, 'GET', '/metrics')).body);
    expect(Number(/^mule_steps_total\{type="wasm",status="skipped"\} (\S+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(2);
  });

  test('a graph of 200 steps is accepted and runs to the end', async () => {
    const steps = Array.from({ length: 200 }, (_, i) => ({ id: `s${i}`, wasm: 'echo' }));
    expect((await putWorkflow(api.url, 'long', steps)).status).toBe(201);
    const answer = await run('workflow/long', 'through all of them');
    expect(answer.status).toBe(200);
    expect(answer.body.choices[0].message.content).toBe('through all of them');
    expect((await rows(answer.headers.get('x-mule-job-id')!)).filter((row) => row.status !== 'completed')).toEqual([]);
  }, 60_000);
});

describe('for_each', () => {
  test('an item that fails once is retried on its own; the others run once; the step row holds the list in item order', async () => {
    let failed = false;
    fake.onRequest = (request) => {
      const last = request.body?.messages?.at(-1)?.content;
      if (!failed && typeof last === 'string' && last.includes('b')) {
        failed = true;
        return { error: { status: 500, message: 'flaky upstream' } };
      }
      return undefined;
    };
    const answer = await run('workflow/each');
    expect(answer.status).toBe(200);
    const found = await rows(answer.headers.get('x-mule-job-id')!);
    expect(brief(found)).toEqual([
      { step_id: 'ask', item: null, attempt: 1, status: 'completed' },
      { step_id: 'ask', item: 0, attempt: 1, status: 'completed' },
      { step_id: 'ask', item: 1, attempt: 1, status: 'failed' },
      { step_id: 'ask', item: 1, attempt: 2, status: 'completed' },
      { step_id: 'ask', item: 2, attempt: 1, status: 'completed' },
    ]);
    expect(found[2]!.error?.code).toBe('provider_error');
    // The fake echoes the prompt: each item's output, in item order.
    expect(found[0]!.output).toEqual([{ prompt: '"a"' }, { prompt: '"b"' }, { prompt: '"c"' }]);
    expect(fake.requests).toHaveLength(4);
  });
});

describe('on_error', () => {
  test('continue: the failed step stays failed and its dependents run and see its status', async () => {
    const answer = await run('workflow/lenient');
    expect(answer.status).toBe(200);
    const found = await rows(answer.headers.get('x-mule-job-id')!);
    expect(brief(found).map((row) => [row.step_id, row.status])).toEqual([['a', 'completed'], ['bad', 'failed'], ['after', 'completed']]);
    expect(found[2]!.output).toEqual({ bad: 'failed' });
  });

  test('fail: the job fails with the step error and a running sibling is cancelled (its attempt aborted)', async () => {
    const answer = await run('workflow/strict');
    expect(answer.status).toBeGreaterThanOrEqual(400);
    const jobId = answer.headers.get('x-mule-job-id')!;
    const job = (await http(api.url, 'GET', `/v1/jobs/${jobId}`)).body;
    expect(job.status).toBe('failed');
    const found = await rows(jobId);
    expect(brief(found).map((row) => [row.step_id, row.status])).toEqual([['slow', 'cancelled'], ['bad', 'failed']]);
    expect(found[0]!.error?.code).toBe(found[1]!.error?.code);
    // The 60 s sleep was stopped, not waited for: the worker's slot is free again.
    await waitFor(async () => (await busySlots()) === 0, 10_000, 'the slot to be free');
  });
});
