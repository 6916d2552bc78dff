/**
 * The jobs api over workflow graphs, end to end (real api and worker, open api): the job view (graph, for_each
 * items, replay_of, trace_id; a plain job's view as it was), replay (pinned, latest, edited input, bad bodies, a
 * deleted workflow), and a wait step resumed through its resume_url or rejected, with the job running on.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { http, putModule, putWorkflow, testModule, waitFor } from './support/fixtures.js';
import { startApi, startWorker, stopAllProcesses, type MuleProcess } from './support/processes.js';

let db: TestDatabase;
let api: MuleProcess;
let pool: pg.Pool;

const APPROVE_SCHEMA = { type: 'object', required: ['prompt'], properties: { prompt: { type: 'string' } } };

beforeAll(async () => {
  db = await createTestDatabase();
  [api] = await Promise.all([startApi(db.url), startWorker(db.url)]);
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  expect((await putModule(api.url, 'echo', testModule('echo'))).status).toBe(201);
  const workflows: Record<string, unknown[]> = {
    'echo-flow': [{ id: 'echo', wasm: 'echo' }],
    'echo-twice': [{ id: 'first', wasm: 'echo' }, { id: 'second', wasm: 'echo' }],
    doomed: [{ id: 'echo', wasm: 'echo' }],
    fan: [{ id: 'each', wasm: 'echo', for_each: '[1, 2, 3]', input: { n: '${{ item }}' } }],
    approval: [
      { id: 'prepare', wasm: 'echo' },
      { id: 'approve', wait: { timeout: '1h', schema: APPROVE_SCHEMA } },
      { id: 'publish', wasm: 'echo' },
    ],
  };
  for (const [name, steps] of Object.entries(workflows)) expect([name, (await putWorkflow(api.url, name, steps)).status]).toEqual([name, 201]);
});

afterAll(async () => {
  await pool?.end();
  await stopAllProcesses();
  await db?.drop();
});

const submit = async (workflow: string, content = 'hello'): Promise<string> => {
  const answer = await http(api.url, 'POST', '/v1/chat/completions', { model: `async/workflow/${workflow}`, messages: [{ role: 'user', content }] });
  expect(answer.status).toBe(202);
  return answer.body.id as string;
};

const view = async (id: string) => (await http(api.url, 'GET', `/v1/jobs/${id}`)).body;

const settled = (id: string, statuses = ['completed', 'failed', 'cancelled']) =>
  waitFor(async () => {
    const job = await view(id);
    return statuses.includes(job.status) ? job : null;
  }, 30_000, `job ${id} to reach ${statuses.join('/')}`);

const replay = (id: string, body?: unknown) => http(api.url, 'POST', `/v1/jobs/${id}/replay`, body);

describe('the job view', () => {
  test('a plain job: its fields as before, plus a straight-line graph, replay_of null and trace_id null; no item or resume_url on steps', async () => {
    const job = await settled(await submit('echo-twice', 'plain'));
    expect(job).toMatchObject({
      object: 'job',
      workflow: 'echo-twice',
      workflow_version: 1,
      status: 'completed',
      attempts: 1,
      error: null,
      input: { prompt: 'plain' },
      output: { prompt: 'plain' },
      replay_of: null,
      trace_id: null,
      graph: [
        { id: 'first', type: 'wasm', needs: [] },
        { id: 'second', type: 'wasm', needs: ['first'] },
      ],
    });
    for (const step of job.steps as Record<string, unknown>[]) {
      expect(Object.keys(step).sort()).toEqual(
        ['attempt', 'completed_at', 'duration_ms', 'error', 'id', 'input', 'logs', 'output', 'started_at', 'status', 'type', 'usage'].sort(),
      );
    }
  });

  test('a for_each step: its own entry without item, then one entry per item with its index', async () => {
    const job = await settled(await submit('fan'));
    expect(job.status).toBe('completed');
    const entries = (job.steps as { id: string; item?: number; status: string; output: unknown }[]).map((s) => [s.id, s.item, s.status, s.output]);
    expect(entries).toEqual([
      ['each', undefined, 'completed', [{ n: 1 }, { n: 2 }, { n: 3 }]],
      ['each', 0, 'completed', { n: 1 }],
      ['each', 1, 'completed', { n: 2 }],
      ['each', 2, 'completed', { n: 3 }],
    ]);
  });
});

describe('replay', () => {
  test('by default: the same input and version, a new job that names the old one; latest runs the current version; an edited input runs instead', async () => {
    const oldId = await submit('echo-flow', 'again');
    const old = await settled(oldId);
    const answer = await replay(oldId, {});
    expect(answer.status).toBe(202);
    expect(answer.headers.get('x-mule-job-id')).toBe(answer.body.id);
    expect(answer.body).toMatchObject({ object: 'job', status: 'queued', model: 'async/workflow/echo-flow', replay_of: oldId, workflow: 'echo-flow', workflow_version: 1 });
    expect(answer.body.id).not.toBe(oldId);
    const replayed = await settled(answer.body.id);
    expect(replayed).toMatchObject({ status: 'completed', replay_of: oldId, workflow_version: 1, input: old.input, output: old.output });

    // A second version with two steps: pinned still runs version 1's plan, latest the new one.
    expect((await putWorkflow(api.url, 'echo-flow', [{ id: 'one', wasm: 'echo' }, { id: 'two', wasm: 'echo' }])).status).toBe(200);
    const pinned = await settled((await replay(oldId, { version: 'pinned' })).body.id);
    expect([pinned.workflow_version, pinned.graph.map((s: { id: string }) => s.id), pinned.status]).toEqual([1, ['echo'], 'completed']);
    const latest = await settled((await replay(oldId, { version: 'latest' })).body.id);
    expect([latest.workflow_version, latest.graph.map((s: { id: string }) => s.id), latest.status]).toEqual([2, ['one', 'two'], 'completed']);
    expect(latest.replay_of).toBe(oldId);

    const edited = await settled((await replay(oldId, { input: { prompt: 'edited' } })).body.id);
    expect(edited).toMatchObject({ status: 'completed', input: { prompt: 'edited' }, output: { prompt: 'edited' }, workflow_version: 1 });
    // Without a body at all: the defaults.
    expect((await replay(oldId)).status).toBe(202);
  });

  test('bad bodies are 400 and create no job; an unknown job is 404; a deleted workflow is 409', async () => {
    const oldId = await submit('doomed');
    await settled(oldId);
    const count = async () => Number((await pool.query(`SELECT count(*) FROM jobs WHERE replay_of = $1`, [oldId.slice(4)])).rows[0].count);
    for (const body of [[], { input: 'text' }, { input: [1] }, { input: null }, { input: { prompt: 'nul \u0000 inside' } }, { version: 'newest' }, { extra: 1 }]) {
      const answer = await replay(oldId, body);
      expect([JSON.stringify(body), answer.status, answer.body.error.type]).toEqual([JSON.stringify(body), 400, 'invalid_request_error']);
    }
    expect((await replay(oldId, { input: 'text' })).body.error.param).toBe('input');
    const malformed = await http(api.url, 'POST', `/v1/jobs/${oldId}/replay`, '{"input":', { 'content-type': 'application/json' });
    expect(malformed.status).toBe(400);
    expect((await replay('job-00000000-0000-4000-8000-000000000000', {})).status).toBe(404);
    expect((await replay('nothing', {})).status).toBe(404);
    expect(await count()).toBe(0);

    expect((await http(api.url, 'DELETE', '/v1/workflows/doomed')).status).toBeLessThan(300);
    for (const version of ['pinned', 'latest']) {
      const gone = await replay(oldId, { version });
      expect([version, gone.status, gone.body.error.code]).toEqual([version, 409, 'conflict']);
    }
    expect(await count()).toBe(0);

    // Written again, its versions start over: version 1 now has another graph, and each job shows its own.
    expect((await putWorkflow(api.url, 'doomed', [{ id: 'a', wasm: 'echo' }, { id: 'b', wasm: 'echo', needs: [] }])).status).toBe(201);
    const reborn = await settled(await submit('doomed'));
    expect([reborn.workflow_version, reborn.graph]).toEqual([1, [{ id: 'a', type: 'wasm', needs: [] }, { id: 'b', type: 'wasm', needs: [] }]]);
    expect((await view(oldId)).graph).toEqual([{ id: 'echo', type: 'wasm', needs: [] }]);
    const pinned = await settled((await replay(oldId, {})).body.id);
    expect([pinned.status, pinned.graph.map((s: { id: string }) => s.id)]).toEqual(['completed', ['echo']]);
  });
});

describe('waits, end to end', () => {
  const waitingView = (id: string) =>
    waitFor(async () => {
      const job = await view(id);
      return job.status === 'waiting' ? job : null;
    }, 30_000, `job ${id} to wait`);

  test('the job parks as waiting with a resume_url; POST to it without a key resumes the job, and the output flows to the next step', async () => {
    const id = await submit('approval', 'draft');
    const waiting = await waitingView(id);
    const approve = (waiting.steps as Record<string, unknown>[]).find((s) => s['id'] === 'approve')!;
    expect(approve).toMatchObject({ type: 'wait', status: 'waiting', attempt: 1 });
    expect(approve['resume_url']).toMatch(new RegExp(`^${api.url}/v1/jobs/${id}/steps/approve/resume\\?token=`));
    const listed = (await http(api.url, 'GET', '/v1/jobs?status=waiting')).body.data as { id: string }[];
    expect(listed.map((job) => job.id)).toContain(id);

    // The schema is checked first: a refused output leaves the job waiting.
    expect((await http(approve['resume_url'] as string, 'POST', '', { output: { prompt: 7 } })).status).toBe(400);
    expect((await view(id)).status).toBe('waiting');

    const resumed = await http(approve['resume_url'] as string, 'POST', '', { output: { prompt: 'approved' } });
    expect(resumed.status).toBe(202);
    const done = await settled(id);
    expect(done.status).toBe('completed');
    const steps = Object.fromEntries((done.steps as { id: string }[]).map((s) => [s.id, s]));
    expect(steps['approve']).toMatchObject({ status: 'completed', output: { prompt: 'approved' } });
    expect(steps['publish']).toMatchObject({ status: 'completed', input: { prompt: 'approved' }, output: { prompt: 'approved' } });
    expect(done.output).toEqual({ prompt: 'approved' });
    expect((await http(approve['resume_url'] as string, 'POST', '', { output: { prompt: 'again' } })).status).toBe(409);
  });

  test('a rejected wait fails the job with code rejected and the reason', async () => {
    const id = await submit('approval', 'draft');
    await waitingView(id);
    const rejected = await http(api.url, 'POST', `/v1/jobs/${id}/steps/approve/reject`, { reason: 'not today' });
    expect(rejected.status).toBe(202);
    const done = await settled(id);
    expect(done).toMatchObject({ status: 'failed', error: { code: 'rejected' } });
    expect(done.error.message).toContain('not today');
    expect((done.steps as { id: string }[]).map((s) => s.id)).not.toContain('publish');
  });

  test('a waiting job can be cancelled; its wait can then not be resumed', async () => {
    const id = await submit('approval', 'draft');
    const waiting = await waitingView(id);
    const cancelled = await http(api.url, 'POST', `/v1/jobs/${id}/cancel`);
    expect([cancelled.status, cancelled.body.status]).toEqual([200, 'cancelled']);
    const url = (waiting.steps as { id: string; resume_url?: string }[]).find((s) => s.id === 'approve')!.resume_url!;
    expect((await http(url, 'POST', '', { output: { prompt: 'late' } })).status).toBe(409);
    expect((await view(id)).status).toBe('cancelled');
  });
});
