/**
 * Resume and reject of a wait step (README "Replay and waits"), on jobs put into the waiting state directly in the database
 * (the rows a worker writes when it parks a job at a wait step), against a real api with API keys and no worker,
 * so what each request leaves in the database (step row, job row, pg-boss entry) can be read as it was written.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { http, testModule, waitFor } from './support/fixtures.js';
import { startApi, stopAllProcesses, type MuleProcess } from './support/processes.js';

const ADMIN = 'admin-key-abcdefghijklmnop';
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const APPROVE_SCHEMA = { type: 'object', required: ['ok'], properties: { ok: { type: 'boolean' } } };

let db: TestDatabase;
let api: MuleProcess;
let pool: pg.Pool;
let echoSha: string;
/** Owns the hand-made jobs; may call workflow/approval. */
let owner: { id: string; key: string };
/** Another key that may call every workflow, but sees only its own jobs. */
let other: { id: string; key: string };
/** A key that owns a job of `approval` but may no longer call it. */
let narrow: { id: string; key: string };

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startApi(db.url, { MULE_API_KEYS: ADMIN });
  pool = new pg.Pool({ connectionString: db.url, max: 3 });
  const module = await http(api.url, 'PUT', '/v1/wasm/modules/echo', testModule('echo'), bearer(ADMIN));
  expect(module.status).toBe(201);
  echoSha = module.body.sha256 as string;
  const workflow = await http(api.url, 'PUT', '/v1/workflows/approval', {
    steps: [{ id: 'prepare', wasm: 'echo' }, { id: 'approve', wait: { timeout: '1h', schema: APPROVE_SCHEMA } }, { id: 'publish', wasm: 'echo' }],
  }, bearer(ADMIN));
  expect(workflow.status).toBe(201);
  const key = async (name: string, scopes: string[]) => {
    const created = await http(api.url, 'POST', '/v1/keys', { name, scopes }, bearer(ADMIN));
    expect(created.status).toBe(201);
    return { id: created.body.id as string, key: created.body.key as string };
  };
  owner = await key('owner', ['workflow/approval']);
  other = await key('other', ['workflow/*']);
  narrow = await key('narrow', ['workflow/something-else']);
});

afterAll(async () => {
  await pool?.end();
  await stopAllProcesses();
  await db?.drop();
});

/**
 * A job as a worker leaves it parked at its wait step: `prepare` completed, `approve` waiting with its deadline,
 * the job `waiting` on the timeout's queue entry (`queue_id`). `status: 'running'`: another branch still runs.
 */
async function parkedJob(options: { apiKeyId?: string | null; status?: 'waiting' | 'running' } = {}): Promise<{ uuid: string; id: string; timeoutEntry: string }> {
  const uuid = randomUUID();
  const timeoutEntry = randomUUID();
  const wasm = (id: string) => ({ id, type: 'wasm', name: 'echo', sha256: echoSha, timeout_ms: 10_000, retries: 0 });
  const plan = { steps: [wasm('prepare'), { id: 'approve', type: 'wait', timeout_ms: 3_600_000, retries: 0, schema: APPROVE_SCHEMA }, wasm('publish')] };
  const input = { prompt: 'publish the report' };
  await pool.query(
    `INSERT INTO jobs (id, workflow_name, workflow_version, model, status, input, plan, api_key_id, attempts, started_at, queue_id)
     VALUES ($1, 'approval', 1, 'async/workflow/approval', $2, $3, $4, $5, 1, now(), $6)`,
    [uuid, options.status ?? 'waiting', JSON.stringify(input), JSON.stringify(plan), options.apiKeyId === undefined ? owner.id : options.apiKeyId, timeoutEntry],
  );
  await pool.query(
    `INSERT INTO job_steps (job_id, step_index, item, attempt, step_id, type, status, input, output, completed_at, duration_ms)
     VALUES ($1, 0, NULL, 1, 'prepare', 'wasm', 'completed', $2, $2, now(), 1.5)`,
    [uuid, JSON.stringify(input)],
  );
  await pool.query(
    `INSERT INTO job_steps (job_id, step_index, item, attempt, step_id, type, status, input, wait_until)
     VALUES ($1, 1, NULL, 1, 'approve', 'wait', 'waiting', $2, now() + interval '1 hour')`,
    [uuid, JSON.stringify(input)],
  );
  return { uuid, id: `job-${uuid}`, timeoutEntry };
}

async function rows(uuid: string) {
  const job = (await pool.query(`SELECT status, queue_id FROM jobs WHERE id = $1`, [uuid])).rows[0] as { status: string; queue_id: string };
  const approve = (await pool.query(`SELECT status, output, error, completed_at FROM job_steps WHERE job_id = $1 AND step_id = 'approve'`, [uuid])).rows;
  const entries = (await pool.query(`SELECT id, state, name FROM pgboss.job WHERE data->>'jobId' = $1`, [uuid])).rows as { id: string; state: string; name: string }[];
  return { job, approve, entries };
}

/** The resume_url of a job's waiting step, as the owner's view shows it. */
async function resumeUrlOf(id: string, key = owner.key): Promise<string> {
  const view = await http(api.url, 'GET', `/v1/jobs/${id}`, undefined, bearer(key));
  expect(view.status).toBe(200);
  const step = (view.body.steps as { id: string; resume_url?: string }[]).find((s) => s.id === 'approve');
  expect(step?.resume_url).toEqual(expect.any(String));
  return step!.resume_url!;
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) => http(url, 'POST', '', body, headers);

describe('the view of a waiting job', () => {
  test('shows status waiting, the graph with needs resolved, and a resume_url on the waiting step only; the list filters on waiting', async () => {
    const { id } = await parkedJob();
    const view = await http(api.url, 'GET', `/v1/jobs/${id}`, undefined, bearer(owner.key));
    expect(view.status).toBe(200);
    expect(view.body).toMatchObject({ id, status: 'waiting', replay_of: null, trace_id: null });
    expect(view.body.graph).toEqual([
      { id: 'prepare', type: 'wasm', needs: [] },
      { id: 'approve', type: 'wait', needs: ['prepare'] },
      { id: 'publish', type: 'wasm', needs: ['approve'] },
    ]);
    const [prepare, approve] = view.body.steps as Record<string, unknown>[];
    expect(prepare).not.toHaveProperty('resume_url');
    expect(prepare).not.toHaveProperty('item');
    expect(approve).toMatchObject({ id: 'approve', type: 'wait', status: 'waiting', attempt: 1, output: null });
    expect(new Date(approve!['wait_until'] as string).getTime()).toBeGreaterThan(Date.now());
    // Absolute, on the address this request reached the api at (no MULE_PUBLIC_URL here).
    expect(approve!['resume_url']).toMatch(new RegExp(`^${api.url}/v1/jobs/${id}/steps/approve/resume\\?token=[A-Za-z0-9_-]{43}$`));

    const listed = await http(api.url, 'GET', '/v1/jobs?status=waiting&limit=100', undefined, bearer(owner.key));
    expect(listed.status).toBe(200);
    const data = listed.body.data as { id: string; status: string; steps: { resume_url?: string }[] }[];
    expect(data.map((job) => job.id)).toContain(id);
    expect(new Set(data.map((job) => job.status))).toEqual(new Set(['waiting']));
    expect(data.find((job) => job.id === id)!.steps[1]!.resume_url).toBe(approve!['resume_url']);
  });

  test('mule_jobs_waiting counts the waiting jobs', async () => {
    await parkedJob();
    const gauge = async () => {
      const text = (await http(api.url, 'GET', '/metrics')).body as string;
      return Number(/^mule_jobs_waiting (\S+)$/m.exec(text)?.[1]);
    };
    const count = async () => Number((await pool.query(`SELECT count(*) FROM jobs WHERE status = 'waiting'`)).rows[0].count);
    // Read at most once a second: wait for a scrape that saw the current count.
    await waitFor(async () => (await gauge()) === (await count()), 10_000, 'mule_jobs_waiting to match the waiting jobs');
    expect(await count()).toBeGreaterThan(0);
  });
});

describe('resume', () => {
  test('through the resume_url without a key: the step completes with the output, the job is queued on a new pg-boss entry, nothing else', async () => {
    const { uuid, id, timeoutEntry } = await parkedJob();
    const url = await resumeUrlOf(id);
    const answer = await post(url, { output: { ok: true, note: 'looks good' } });
    expect(answer.status).toBe(202);
    expect(answer.body).toMatchObject({ id, object: 'job', status: 'queued' });
    const approveView = (answer.body.steps as Record<string, unknown>[]).find((s) => s['id'] === 'approve')!;
    expect(approveView).toMatchObject({ status: 'completed', output: { ok: true, note: 'looks good' }, error: null });
    // A token opens its own step only: the answer hands out no resume links.
    expect(approveView).not.toHaveProperty('resume_url');

    const after = await rows(uuid);
    expect(after.approve).toEqual([expect.objectContaining({ status: 'completed', output: { ok: true, note: 'looks good' }, error: null })]);
    expect(after.approve[0].completed_at).not.toBeNull();
    expect(after.job.status).toBe('queued');
    expect(after.job.queue_id).not.toBe(timeoutEntry);
    expect(after.entries).toEqual([{ id: after.job.queue_id, state: 'created', name: 'mule-jobs' }]);
  });

  test('resuming twice answers 409 and changes nothing; so do two resumes at once (exactly one wins)', async () => {
    const { uuid, id } = await parkedJob();
    const url = await resumeUrlOf(id);
    expect((await post(url, { output: { ok: true } })).status).toBe(202);
    const before = await rows(uuid);
    const again = await post(url, { output: { ok: false } });
    expect([again.status, again.body.error.code, again.body.error.type]).toEqual([409, 'conflict', 'conflict_error']);
    const byKey = await post(`${api.url}/v1/jobs/${id}/steps/approve/resume`, { output: { ok: false } }, bearer(owner.key));
    expect(byKey.status).toBe(409);
    expect(await rows(uuid)).toEqual(before);

    const racing = await parkedJob();
    const racingUrl = await resumeUrlOf(racing.id);
    const answers = await Promise.all([1, 2, 3].map((n) => post(racingUrl, { output: { ok: true, n } })));
    expect(answers.map((a) => a.status).sort()).toEqual([202, 409, 409]);
    const raced = await rows(racing.uuid);
    expect(raced.entries).toHaveLength(1);
    expect(raced.approve).toHaveLength(1);
  });

  test('an output the wait schema refuses is 400 naming output, and nothing changes; so is a body without output or with other fields', async () => {
    const { uuid, id } = await parkedJob();
    const url = await resumeUrlOf(id);
    const before = await rows(uuid);
    for (const body of [{ output: { ok: 'yes' } }, { output: {} }, {}, { output: { ok: true }, extra: 1 }, [], 'not json']) {
      const answer = await post(url, body);
      expect([JSON.stringify(body), answer.status, answer.body.error.type]).toEqual([JSON.stringify(body), 400, 'invalid_request_error']);
    }
    const refused = await post(url, { output: { ok: 'yes' } });
    expect(refused.body.error.param).toBe('output');
    expect(refused.body.error.message).toMatch(/schema/);
    expect(await rows(uuid)).toEqual(before);
  });

  test('auth: no key and no token 401; a wrong token, or another job\'s token, 403 even with an admin key; another key 404; a key without the workflow\'s scope 403; the owner\'s key works', async () => {
    const { uuid, id } = await parkedJob();
    const second = await parkedJob();
    const path = `/v1/jobs/${id}/steps/approve/resume`;
    const body = { output: { ok: true } };
    expect((await post(`${api.url}${path}`, body)).status).toBe(401);
    const otherToken = new URL(await resumeUrlOf(second.id)).searchParams.get('token')!;
    for (const token of ['x'.repeat(43), otherToken, 'short']) {
      const answer = await post(`${api.url}${path}?token=${token}`, body, bearer(ADMIN));
      expect([answer.status, answer.body.error.code, answer.body.error.type]).toEqual([403, 'forbidden', 'permission_error']);
    }
    // A token for an unknown job says no more than a wrong token.
    const unknown = await post(`${api.url}/v1/jobs/job-${randomUUID()}/steps/approve/resume?token=${otherToken}`, body);
    expect(unknown.status).toBe(403);
    expect(unknown.body.error.message).toBe((await post(`${api.url}${path}?token=${otherToken}`, body)).body.error.message);
    const hidden = await post(`${api.url}${path}`, body, bearer(other.key));
    expect([hidden.status, hidden.body.error.code]).toEqual([404, 'not_found']);
    const narrowJob = await parkedJob({ apiKeyId: narrow.id });
    const denied = await post(`${api.url}/v1/jobs/${narrowJob.id}/steps/approve/resume`, body, bearer(narrow.key));
    expect([denied.status, denied.body.error.code]).toEqual([403, 'forbidden']);
    expect((await rows(uuid)).approve[0].status).toBe('waiting');
    expect((await rows(narrowJob.uuid)).approve[0].status).toBe('waiting');
    expect((await post(`${api.url}${path}`, body, bearer(owner.key))).status).toBe(202);
    expect((await rows(uuid)).approve[0].status).toBe('completed');
  });

  test('a step that is not a wait, or not in the plan, is 404; a job that does not exist is 404', async () => {
    const { id } = await parkedJob();
    for (const step of ['prepare', 'nope']) {
      const answer = await post(`${api.url}/v1/jobs/${id}/steps/${step}/resume`, { output: { ok: true } }, bearer(owner.key));
      expect([step, answer.status, answer.body.error.param]).toEqual([step, 404, 'step']);
    }
    expect((await post(`${api.url}/v1/jobs/job-${randomUUID()}/steps/approve/resume`, { output: {} }, bearer(ADMIN))).status).toBe(404);
    expect((await post(`${api.url}/v1/jobs/not-a-job/steps/approve/resume`, { output: {} }, bearer(ADMIN))).status).toBe(404);
  });

  test('a job still running another branch: only the step row is written (no new queue entry), and the job stays running', async () => {
    const { uuid, id, timeoutEntry } = await parkedJob({ status: 'running' });
    const answer = await post(`${api.url}/v1/jobs/${id}/steps/approve/resume`, { output: { ok: true } }, bearer(ADMIN));
    expect(answer.status).toBe(202);
    const after = await rows(uuid);
    expect(after.approve[0]).toMatchObject({ status: 'completed', output: { ok: true } });
    expect(after.job).toEqual({ status: 'running', queue_id: timeoutEntry });
    expect(after.entries).toEqual([]);
  });
});

describe('reject', () => {
  test('fails the step with code rejected and the reason, and queues the job; a second reject or a resume after it is 409', async () => {
    const { uuid, id } = await parkedJob();
    const answer = await post(`${api.url}/v1/jobs/${id}/steps/approve/reject`, { reason: 'numbers are off' }, bearer(owner.key));
    expect(answer.status).toBe(202);
    const after = await rows(uuid);
    expect(after.approve[0]).toMatchObject({ status: 'failed', output: null, error: { code: 'rejected', message: 'rejected: numbers are off' } });
    expect(after.job.status).toBe('queued');
    expect(after.entries).toEqual([{ id: after.job.queue_id, state: 'created', name: 'mule-jobs' }]);
    expect((await post(`${api.url}/v1/jobs/${id}/steps/approve/reject`, {}, bearer(owner.key))).status).toBe(409);
    expect((await post(`${api.url}/v1/jobs/${id}/steps/approve/resume`, { output: { ok: true } }, bearer(owner.key))).status).toBe(409);
  });

  test('through the token of the resume_url, with no reason; a bad body is 400 and changes nothing', async () => {
    const { uuid, id } = await parkedJob();
    const reject = (await resumeUrlOf(id)).replace('/resume?', '/reject?');
    for (const body of [{ reason: 5 }, { reason: 'x', extra: true }, { reason: 'x'.repeat(2001) }]) {
      expect((await post(reject, body)).status).toBe(400);
    }
    expect((await rows(uuid)).approve[0].status).toBe('waiting');
    expect((await post(reject, {})).status).toBe(202);
    expect((await rows(uuid)).approve[0]).toMatchObject({ status: 'failed', error: { code: 'rejected', message: 'the wait step was rejected' } });
  });
});

describe('replay with keys', () => {
  test('needs the workflow\'s scope (403) on a job the key can see; another key\'s job is 404; the owner gets a new job that names the old one', async () => {
    const { id } = await parkedJob();
    const narrowJob = await parkedJob({ apiKeyId: narrow.id });
    const denied = await http(api.url, 'POST', `/v1/jobs/${narrowJob.id}/replay`, {}, bearer(narrow.key));
    expect([denied.status, denied.body.error.code]).toEqual([403, 'forbidden']);
    const hidden = await http(api.url, 'POST', `/v1/jobs/${id}/replay`, {}, bearer(other.key));
    expect([hidden.status, hidden.body.error.code]).toEqual([404, 'not_found']);
    const replayed = await http(api.url, 'POST', `/v1/jobs/${id}/replay`, {}, bearer(owner.key));
    expect(replayed.status).toBe(202);
    expect(replayed.body).toMatchObject({ object: 'job', status: 'queued', replay_of: id, workflow: 'approval', workflow_version: 1, model: 'async/workflow/approval' });
    const view = await http(api.url, 'GET', `/v1/jobs/${replayed.body.id}`, undefined, bearer(owner.key));
    expect(view.body).toMatchObject({ status: 'queued', replay_of: id, input: { prompt: 'publish the report' } });
    // The new job belongs to the key that replayed it.
    expect((await http(api.url, 'GET', `/v1/jobs/${replayed.body.id}`, undefined, bearer(other.key))).status).toBe(404);
  });
});
