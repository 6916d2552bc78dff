/**
 * Triggers: webhooks (`POST /v1/hooks/<name>`, each signature scheme, filter, input, redelivery, bad input) and
 * schedules (one job per due time across worker processes, overlap skip/allow, no replay of a missed time), and
 * their definitions (CRUD, `mule apply` order, a workflow named by a trigger cannot be deleted).
 */
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { createPool, fireSchedule, JobQueue, type NewJob } from '@mule/db';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { http, putModule, putWorkflow, testModule, waitFor } from './support/fixtures.js';
import { REPO_ROOT, startApi, startWorker, stopAllProcesses, type MuleProcess } from './support/processes.js';

const SECRETS = { GH_WEBHOOK_SECRET: 'gh-secret', STRIPE_WEBHOOK_SECRET: 'whsec_test', MULE_WEBHOOK_SECRET: 'mule-secret' };
const MAX_BODY = 4096;

let db: TestDatabase;
let api: MuleProcess;
let pool: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startApi(db.url, { ...SECRETS, MULE_MAX_BODY_BYTES: String(MAX_BODY) });
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  expect((await putModule(api.url, 'echo', testModule('echo'))).status).toBe(201);
  expect((await putWorkflow(api.url, 'triage', [{ id: 'echo', wasm: 'echo' }])).status).toBe(201);
  const hooks: Record<string, unknown> = {
    github: { webhook: { signature: 'github', secret_env: 'GH_WEBHOOK_SECRET' }, filter: '${{ body.action == "opened" }}', input: { prompt: '${{ body.issue.title }}', from: '${{ headers["x-github-event"] }}' } },
    stripe: { webhook: { signature: 'stripe', secret_env: 'STRIPE_WEBHOOK_SECRET' } },
    plain: { webhook: { signature: 'hmac-sha256', secret_env: 'MULE_WEBHOOK_SECRET' } },
    open: { webhook: { signature: 'none' } },
    unset: { webhook: { signature: 'hmac-sha256', secret_env: 'NOT_SET_WEBHOOK_SECRET' } },
  };
  for (const [name, body] of Object.entries(hooks)) {
    expect((await http(api.url, 'PUT', `/v1/triggers/${name}`, { workflow: 'triage', ...(body as object) })).status).toBe(201);
  }
});

afterAll(async () => {
  await pool?.end();
  await stopAllProcesses();
  await db?.drop();
});

const hex = (secret: string, data: string) => createHmac('sha256', secret).update(data).digest('hex');
const post = (name: string, text: string, headers: Record<string, string> = {}) =>
  http(api.url, 'POST', `/v1/hooks/${name}`, text, { 'content-type': 'application/json', ...headers });
const job = async (id: string) => (await http(api.url, 'GET', `/v1/jobs/${id}`)).body;

describe('webhooks', () => {
  const issue = JSON.stringify({ action: 'opened', issue: { title: 'Crash on start' } });
  const github = (text: string, secret = SECRETS.GH_WEBHOOK_SECRET, delivery = `d-${Math.random()}`) => ({
    'x-hub-signature-256': `sha256=${hex(secret, text)}`,
    'x-github-event': 'issues',
    'x-github-delivery': delivery,
  });

  test('github: a signed delivery starts the workflow with the input template over body and headers, named by trigger', async () => {
    const answer = await post('github', issue, github(issue));
    expect(answer.status).toBe(202);
    expect(answer.body).toMatchObject({ object: 'job', status: 'queued', model: 'workflow/triage', trigger: 'github' });
    expect(answer.headers.get('x-mule-job-id')).toBe(answer.body.id);
    expect(await job(answer.body.id)).toMatchObject({ trigger: 'github', input: { prompt: 'Crash on start', from: 'issues' } });
  });

  test('github: a tampered body, a wrong secret and a missing header are 401 and start nothing', async () => {
    const before = (await pool.query(`SELECT count(*)::int AS n FROM jobs`)).rows[0].n as number;
    const tampered = await post('github', issue.replace('Crash', 'Hang'), github(issue));
    const wrong = await post('github', issue, github(issue, 'not-the-secret'));
    const missing = await post('github', issue, { 'x-github-delivery': 'x' });
    for (const answer of [tampered, wrong, missing]) {
      expect(answer.status).toBe(401);
      expect(answer.body.error).toMatchObject({ type: 'authentication_error' });
    }
    expect((await pool.query(`SELECT count(*)::int AS n FROM jobs`)).rows[0].n).toBe(before);
  });

  test('a delivery the filter refuses is 204 and starts nothing', async () => {
    const closed = JSON.stringify({ action: 'closed', issue: { title: 'x' } });
    const answer = await post('github', closed, github(closed, SECRETS.GH_WEBHOOK_SECRET, 'filtered-1'));
    expect(answer.status).toBe(204);
    expect((await pool.query(`SELECT 1 FROM jobs WHERE idempotency_key = 'hook github filtered-1'`)).rowCount).toBe(0);
  });

  test('a redelivery (same X-GitHub-Delivery) answers the same job and writes no second one', async () => {
    const first = await post('github', issue, github(issue, SECRETS.GH_WEBHOOK_SECRET, 'same-delivery'));
    const again = await post('github', issue, github(issue, SECRETS.GH_WEBHOOK_SECRET, 'same-delivery'));
    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect(again.body.id).toBe(first.body.id);
    expect((await pool.query(`SELECT 1 FROM jobs WHERE idempotency_key = 'hook github same-delivery'`)).rowCount).toBe(1);
  });

  test('stripe: t=…,v1=… over "<t>.<body>" is accepted; a timestamp over 5 minutes old or a bad v1 is 401; the event id dedupes', async () => {
    const event = JSON.stringify({ id: 'evt_123', type: 'invoice.paid' });
    const sign = (t: number, text = event) => ({ 'stripe-signature': `t=${t},v1=${hex(SECRETS.STRIPE_WEBHOOK_SECRET, `${t}.${text}`)}` });
    const now = Math.floor(Date.now() / 1000);
    const ok = await post('stripe', event, sign(now));
    expect(ok.status).toBe(202);
    expect(await job(ok.body.id)).toMatchObject({ trigger: 'stripe', input: { id: 'evt_123', type: 'invoice.paid' } });
    expect((await post('stripe', event, sign(now))).body.id).toBe(ok.body.id);
    expect((await post('stripe', event, sign(now - 301))).status).toBe(401);
    expect((await post('stripe', event, { 'stripe-signature': `t=${now},v1=${'0'.repeat(64)}` })).status).toBe(401);
    expect((await post('stripe', event, { 'stripe-signature': `v1=${hex(SECRETS.STRIPE_WEBHOOK_SECRET, event)}` })).status).toBe(401);
    expect((await post('stripe', event)).status).toBe(401);
  });

  test('hmac-sha256: X-Mule-Signature sha256=<hex> is checked; Idempotency-Key dedupes', async () => {
    const text = JSON.stringify({ n: 1 });
    const headers = { 'x-mule-signature': `sha256=${hex(SECRETS.MULE_WEBHOOK_SECRET, text)}`, 'idempotency-key': 'k-1' };
    const first = await post('plain', text, headers);
    expect(first.status).toBe(202);
    expect((await post('plain', text, headers)).body.id).toBe(first.body.id);
    expect((await post('plain', text, { 'x-mule-signature': `sha256=${hex('other', text)}` })).status).toBe(401);
    expect((await post('plain', text, { 'x-mule-signature': hex(SECRETS.MULE_WEBHOOK_SECRET, text) })).status).toBe(401);
  });

  test('a trigger whose secret variable is not set refuses every delivery (401), it never accepts unsigned ones', async () => {
    const text = JSON.stringify({ n: 1 });
    expect((await post('unset', text, { 'x-mule-signature': `sha256=${hex('', text)}` })).status).toBe(401);
  });

  test('bad input: over MULE_MAX_BODY_BYTES is 413, not a JSON object is 400, too deep is 400, unknown trigger is 404', async () => {
    const big = JSON.stringify({ pad: 'x'.repeat(MAX_BODY) });
    const tooBig = await post('open', big);
    expect(tooBig.status).toBe(413);
    expect(tooBig.body.error).toBeDefined();
    for (const text of ['[1,2]', '"text"', 'not json', '', `${'['.repeat(70)}${']'.repeat(70)}`, `{"a":${'{"a":'.repeat(70)}1${'}'.repeat(71)}`]) {
      const answer = await post('open', text);
      expect([text, answer.status]).toEqual([text, 400]);
      expect(answer.body.error).toMatchObject({ type: 'invalid_request_error' });
    }
    expect((await post('nope', '{}')).status).toBe(404);
    expect((await post('x'.repeat(300), '{}')).status).toBe(404);
  });

  test('webhook fires are counted in mule_trigger_fires_total by trigger and outcome', async () => {
    const text = String((await http(api.url, 'GET', '/metrics')).body);
    expect(text).toMatch(/mule_trigger_fires_total\{trigger="github",outcome="started"\} [1-9]/);
    expect(text).toMatch(/mule_trigger_fires_total\{trigger="github",outcome="bad_signature"\} [1-9]/);
    expect(text).toMatch(/mule_trigger_fires_total\{trigger="github",outcome="filtered"\} [1-9]/);
    expect(text).toMatch(/mule_trigger_fires_total\{trigger="github",outcome="duplicate"\} [1-9]/);
  });
});

describe('schedules', () => {
  /** A daily cron whose one due time is `at` (minute precision) in `zone`, from `at`'s wall clock there. */
  const dailyAt = (at: Date, zone: string) => {
    const parts = new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: 'numeric', minute: 'numeric', hourCycle: 'h23' }).formatToParts(at);
    const part = (type: string) => Number(parts.find((p) => p.type === type)!.value);
    return `${part('minute')} ${part('hour')} * * *`;
  };
  const row = async (name: string) =>
    (await pool.query(`SELECT last_fired_at FROM triggers WHERE name = $1`, [name])).rows[0] as { last_fired_at: Date | null };
  const jobsOf = async (name: string) => (await pool.query(`SELECT id FROM jobs WHERE trigger = $1`, [name])).rows.length;
  /** An unfinished job of the trigger, as a wait would leave it (no queue entry: no worker claims it). */
  const plantWaitingJob = (name: string) =>
    pool.query(
      `INSERT INTO jobs (id, workflow_name, workflow_version, model, status, input, plan, trigger)
       SELECT gen_random_uuid(), 'triage', 1, 'workflow/triage', 'waiting', '{}', plan, $1 FROM (SELECT '{"steps":[]}'::jsonb AS plan) p`,
      [name],
    );

  test('a due time fires once across 3 workers, in its time zone; overlap skip skips, allow starts; a missed time is not replayed', async () => {
    // The due time must stay within the 60 s firing window while the workers start: begin early in a minute.
    await waitFor(async () => new Date().getUTCSeconds() < 40, 45_000, 'the first 40 s of a minute');
    const due = new Date(Math.floor(Date.now() / 60_000) * 60_000);
    const missed = new Date(due.getTime() - 5 * 60_000);
    const define = async (name: string, body: Record<string, unknown>) =>
      expect((await http(api.url, 'PUT', `/v1/triggers/${name}`, { workflow: 'triage', ...body })).status).toBe(201);
    // Named so the scheduler (which goes by name) looks at the missed one before the others fire.
    await define('a-missed', { schedule: dailyAt(missed, 'UTC') });
    await define('once', { schedule: dailyAt(due, 'Asia/Kolkata'), timezone: 'Asia/Kolkata', input: { prompt: 'Daily report' } });
    await define('skipper', { schedule: dailyAt(due, 'UTC'), overlap: 'skip' });
    await define('allower', { schedule: dailyAt(due, 'UTC'), overlap: 'allow' });
    // A new definition counts from when it was written; pretend these were written an hour ago.
    await pool.query(`UPDATE triggers SET last_fired_at = now() - interval '1 hour' WHERE spec ? 'schedule'`);
    const old = (await row('a-missed')).last_fired_at!;
    await plantWaitingJob('skipper');
    await plantWaitingJob('allower');

    const env = { MULE_TRIGGER_TICK_MS: '100' };
    const workers = await Promise.all([startWorker(db.url, env), startWorker(db.url, env), startWorker(db.url, env)]);
    try {
      for (const name of ['once', 'skipper', 'allower']) {
        await waitFor(async () => (await row(name)).last_fired_at?.getTime() === due.getTime(), 30_000, `${name} to fire`);
      }
      const started = (await pool.query(`SELECT id FROM jobs WHERE trigger = 'once'`)).rows[0].id as string;
      const view = await waitFor(async () => {
        const j = await job(`job-${started}`);
        return j.status === 'completed' ? j : null;
      });
      expect(view).toMatchObject({ trigger: 'once', input: { prompt: 'Daily report' } });
      // By now (the job ran meanwhile) every worker, ticking every 100 ms, has looked at the due time again.
      expect(await jobsOf('once')).toBe(1);
      expect(await jobsOf('skipper')).toBe(1);
      expect(await jobsOf('allower')).toBe(2);
      expect(await jobsOf('a-missed')).toBe(0);
      expect((await row('a-missed')).last_fired_at).toEqual(old);
      const metricsText = (await Promise.all(workers.map(async (w) => String((await http(w.url, 'GET', '/metrics')).body)))).join('\n');
      const fires = [...metricsText.matchAll(/mule_trigger_fires_total\{trigger="once",outcome="started"\} (\d+)/g)].map((m) => Number(m[1]));
      expect(fires.reduce((a, b) => a + b, 0)).toBe(1);
      expect(metricsText).toMatch(/mule_trigger_fires_total\{trigger="skipper",outcome="skipped_overlap"\} 1/);
    } finally {
      await Promise.all(workers.map((worker) => worker.stop()));
    }
  });

  test('concurrent fires of one due time from separate connections: one starts the job, the others change nothing', async () => {
    await http(api.url, 'PUT', '/v1/triggers/racer', { workflow: 'triage', schedule: '* * * * *', overlap: 'allow' });
    await pool.query(`UPDATE triggers SET last_fired_at = now() - interval '1 hour' WHERE name = 'racer'`);
    const target = (await pool.query(`SELECT version FROM workflows WHERE name = 'triage'`)).rows[0].version as number;
    const pools = [0, 1, 2, 3, 4].map(() => createPool({ connectionString: db.url, max: 1 }));
    const queue = await JobQueue.start({ pool: pools[0]!, role: 'api', leaseSeconds: 30 });
    try {
      const due = new Date(Math.floor(Date.now() / 60_000) * 60_000);
      const fire = (p: pg.Pool) =>
        fireSchedule(p, queue, {
          trigger: 'racer',
          due,
          overlapSkip: false,
          job: { id: randomUUID(), workflow: 'triage', version: target, model: 'workflow/triage', input: {}, plan: { steps: [] } as unknown as NewJob['plan'], idempotencyKey: null, apiKeyId: null },
        });
      const outcomes = await Promise.all(pools.map(fire));
      expect(outcomes.sort()).toEqual(['already_fired', 'already_fired', 'already_fired', 'already_fired', 'started']);
      expect(await jobsOf('racer')).toBe(1);
      // An earlier due time after a later one was fired is not fired either.
      expect(await fire(pools[0]!)).toBe('already_fired');
      expect(await fireSchedule(pools[0]!, queue, { trigger: 'racer', due: new Date(due.getTime() - 60_000), overlapSkip: false, job: { id: randomUUID(), workflow: 'triage', version: target, model: 'workflow/triage', input: {}, plan: { steps: [] } as unknown as NewJob['plan'], idempotencyKey: null, apiKeyId: null } })).toBe('already_fired');
    } finally {
      await queue.stop();
      await Promise.all(pools.map((p) => p.end()));
    }
  });
});

describe('trigger definitions', () => {
  const put = (name: string, body: unknown) => http(api.url, 'PUT', `/v1/triggers/${name}`, body);

  test('PUT refuses what could not run, naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ workflow: 'missing', schedule: '* * * * *' }, 'workflow'],
      [{ workflow: 'triage', schedule: '* * * *' }, 'schedule'],
      [{ workflow: 'triage', schedule: '0 0 * * * *' }, 'schedule'],
      [{ workflow: 'triage', schedule: '61 * * * *' }, 'schedule'],
      [{ workflow: 'triage', schedule: '* * * * *', timezone: 'Mars/Olympus' }, 'timezone'],
      [{ workflow: 'triage' }, 'schedule'],
      [{ workflow: 'triage', schedule: '* * * * *', webhook: { signature: 'none' } }, 'schedule'],
      [{ workflow: 'triage', webhook: { signature: 'github' } }, 'webhook.secret_env'],
      [{ workflow: 'triage', webhook: { signature: 'github', secret_env: 'DATABASE_URL' } }, 'webhook.secret_env'],
      [{ workflow: 'triage', webhook: { signature: 'none' }, filter: '${{ input.x }}' }, 'filter'],
      [{ workflow: 'triage', webhook: { signature: 'none' }, input: { a: '${{ steps.x.output }}' } }, 'input.a'],
      [{ workflow: 'triage', webhook: { signature: 'none' }, input: { a: '${{ body. }}' } }, 'input.a'],
      [{ workflow: 'triage', schedule: '* * * * *', input: { a: '${{ body.x }}' } }, 'input.a'],
    ];
    for (const [body, param] of cases) {
      const answer = await put('bad', body);
      expect([JSON.stringify(body), answer.status]).toEqual([JSON.stringify(body), 400]);
      expect([JSON.stringify(body), answer.body.error.param]).toEqual([JSON.stringify(body), param]);
    }
    expect((await http(api.url, 'GET', '/v1/triggers/bad')).status).toBe(404);
  });

  test('list, get, put again unchanged, delete; a workflow a trigger names cannot be deleted (409)', async () => {
    await putWorkflow(api.url, 'kept', [{ id: 'echo', wasm: 'echo' }]);
    const body = { workflow: 'kept', schedule: '0 3 * * *', timezone: 'Europe/Paris', input: { prompt: 'Daily report' } };
    expect((await put('nightly', body)).status).toBe(201);
    const got = await http(api.url, 'GET', '/v1/triggers/nightly');
    expect(got.body).toMatchObject({ ...body, name: 'nightly', object: 'trigger' });
    expect((await put('nightly', got.body)).status).toBe(200);
    expect((await http(api.url, 'GET', '/v1/triggers')).body.data.map((t: { name: string }) => t.name)).toContain('nightly');
    const refused = await http(api.url, 'DELETE', '/v1/workflows/kept');
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toContain('trigger/nightly');
    expect((await http(api.url, 'DELETE', '/v1/triggers/nightly')).status).toBe(200);
    expect((await http(api.url, 'DELETE', '/v1/triggers/nightly')).status).toBe(404);
    expect((await http(api.url, 'DELETE', '/v1/workflows/kept')).status).toBe(200);
  });

  test('examples/shout-hook.yaml loads with no secret; signed deliveries start shout once the api has the secret, refused before', async () => {
    const loader = await startApi(db.url, { MULE_DEFINITIONS: join(REPO_ROOT, 'examples'), SHOUT_WEBHOOK_SECRET: 'dev-secret' });
    try {
      const body = JSON.stringify({ text: 'hello from a webhook' });
      const signed = { 'x-mule-signature': `sha256=${hex('dev-secret', body)}` };
      const answer = await http(loader.url, 'POST', '/v1/hooks/shout-hook', body, signed);
      expect(answer.status).toBe(202);
      expect(await job(answer.body.id)).toMatchObject({ workflow: 'shout', trigger: 'shout-hook', input: { prompt: 'hello from a webhook' } });
      const empty = JSON.stringify({ other: 1 });
      expect((await http(loader.url, 'POST', '/v1/hooks/shout-hook', empty, { 'x-mule-signature': `sha256=${hex('dev-secret', empty)}` })).status).toBe(204);
      // The first api has no SHOUT_WEBHOOK_SECRET: the same signed delivery is refused there.
      expect((await post('shout-hook', body, signed)).status).toBe(401);
    } finally {
      await loader.stop();
    }
  });

  test('mule apply creates a trigger after the workflow it names, whatever the order in the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mule-triggers-'));
    try {
      await writeFile(
        join(dir, 'all.yaml'),
        [
          'kind: trigger\nname: applied-hook\nworkflow: applied\nwebhook: { signature: none }\n',
          'kind: workflow\nname: applied\nsteps: [{ id: echo, wasm: echo }]\n',
        ].join('---\n'),
      );
      const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [join(REPO_ROOT, 'apps', 'cli', 'dist', 'main.js'), 'apply', dir], { env: { PATH: process.env['PATH'] ?? '', MULE_URL: api.url } }, (error, stdout, stderr) =>
          resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
        );
      });
      expect(run).toMatchObject({ code: 0, stderr: '' });
      expect(run.stdout.trim().split('\n').map((line) => line.split(/\s+/)[1])).toEqual(['workflow/applied', 'trigger/applied-hook']);
      expect((await post('applied-hook', '{"x":1}')).status).toBe(202);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
