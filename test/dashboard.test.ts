/**
 * The dashboard at /ui (README "Dashboard") in a real headless Chromium (@sparticuz/chromium, driven by
 * playwright-core), against real api and worker processes with API keys on: sign in, runs live, a run's graph and
 * steps, cancel, replay, resume, the playground's stream, definitions. Every page is watched for console errors,
 * failed loads and requests to other origins, and screenshotted into test/dist/screenshots.
 * A browser that cannot start fails this file: there is no skip.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import sparticuz from '@sparticuz/chromium';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { http, testModule, waitFor } from './support/fixtures.js';
import { REPO_ROOT, startApi, startWorker, stopAllProcesses, type MuleProcess } from './support/processes.js';

const ADMIN = 'admin-key-dashboard-abcdefgh';
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const SHOTS = join(REPO_ROOT, 'test', 'dist', 'screenshots');
/** Flags that would weaken what the page is held to (the CSP, mixed content) are left out of the package's set. */
const WEAKENING = new Set(['--disable-web-security', '--allow-running-insecure-content']);
/** Without these Chromium calls home at start, which this test would count as requests to other origins. */
const QUIET = ['--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

let db: TestDatabase;
let api: MuleProcess;
let browser: Browser;
let page: Page;
const problems: string[] = [];

const submit = async (workflow: string, content: string, key = ADMIN): Promise<string> => {
  const queued = await http(api.url, 'POST', '/v1/chat/completions', { model: `async/workflow/${workflow}`, messages: [{ role: 'user', content }] }, bearer(key));
  expect(queued.status).toBe(202);
  return queued.body.id as string;
};
const job = async (id: string) => (await http(api.url, 'GET', `/v1/jobs/${id}`, undefined, bearer(ADMIN))).body;
const jobIs = (id: string, status: string) => waitFor(async () => (await job(id)).status === status, 30_000, `${id} ${status}`);

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startApi(db.url, { MULE_API_KEYS: ADMIN });
  await startWorker(db.url);
  for (const name of ['echo', 'sleep']) expect((await http(api.url, 'PUT', `/v1/wasm/modules/${name}`, testModule(name), bearer(ADMIN))).status).toBe(201);
  const put = (name: string, steps: unknown[]) => http(api.url, 'PUT', `/v1/workflows/${name}`, { steps }, bearer(ADMIN));
  expect((await put('fan', [{ id: 'split', wasm: 'echo' }, { id: 'left', wasm: 'echo', needs: ['split'] }, { id: 'right', wasm: 'echo', needs: ['split'] }, { id: 'join', wasm: 'echo', needs: ['left', 'right'] }])).status).toBe(201);
  expect((await put('nap', [{ id: 'nap', wasm: 'sleep', timeout_ms: 120_000 }])).status).toBe(201);
  expect((await put('approval', [{ id: 'prepare', wasm: 'echo' }, { id: 'approve', wait: { timeout: '1h' } }, { id: 'publish', wasm: 'echo' }])).status).toBe(201);
  // Stored only (neither is contacted or fired here): the definitions page lists them.
  expect((await http(api.url, 'PUT', '/v1/mcp_servers/docs', { url: 'http://127.0.0.1:9/mcp', tools: ['search'] }, bearer(ADMIN))).status).toBe(201);
  expect((await http(api.url, 'PUT', '/v1/triggers/nightly', { workflow: 'fan', schedule: '0 3 * * *', timezone: 'Europe/Paris' }, bearer(ADMIN))).status).toBe(201);

  const executablePath = await sparticuz.executablePath();
  browser = await chromium.launch({ executablePath, args: [...sparticuz.args.filter((arg) => !WEAKENING.has(arg)), ...QUIET], headless: true });
  page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  const origin = new URL(api.url).origin;
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('request', (request) => {
    if (new URL(request.url()).origin !== origin) problems.push(`other origin: ${request.url()}`);
  });
  page.on('requestfailed', (request) => {
    // The live stream is aborted on purpose when a page is left.
    if (request.failure()?.errorText === 'net::ERR_ABORTED' && new URL(request.url()).pathname === '/v1/events') return;
    problems.push(`failed: ${request.url()} ${request.failure()?.errorText ?? ''}`);
  });
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  mkdirSync(SHOTS, { recursive: true });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stopAllProcesses();
  await db?.drop();
});

const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
const row = (id: string) => page.locator(`tr[data-job="${id}"]`);

describe('the dashboard at /ui, in a real browser, keys on', () => {
  test('/ui has a policy of its own (self only, no inline script); /v1 keeps default-src none; a favicon is served', async () => {
    const ui = await fetch(`${api.url}/ui/`);
    expect(ui.status).toBe(200);
    expect(ui.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(ui.headers.get('content-security-policy')).not.toContain('unsafe-inline');
    expect((await fetch(`${api.url}/v1/models`)).headers.get('content-security-policy')).toContain("default-src 'none'");
    expect((await fetch(`${api.url}/ui/runs/job-anything`)).status).toBe(200);
    expect((await fetch(`${api.url}/ui/assets/missing.js`)).status).toBe(404);
    expect((await fetch(`${api.url}/ui/favicon.svg`)).status).toBe(200);
  });

  test('signs in with a key; the runs table shows job ids as text', async () => {
    const first = await submit('fan', 'hello');
    await jobIs(first, 'completed');
    await page.goto(`${api.url}/ui`);
    await page.getByLabel('API key').fill(ADMIN);
    await shot('sign-in');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await row(first).getByRole('link', { name: first }).waitFor();
    expect(await row(first).innerText()).toContain('completed');
  });

  test('a new job appears and changes status live, without a reload', async () => {
    await page.getByRole('status').filter({ hasText: 'live' }).waitFor();
    await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 1));
    const id = await submit('fan', 'live one');
    await row(id).getByRole('link', { name: id }).waitFor();
    await waitFor(async () => (await row(id).innerText()).includes('completed'), 30_000, 'the row turns completed');
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(1);
    await shot('runs');
  });

  test('a run shows its graph coloured and named by status, its timeline and its steps', async () => {
    const id = await submit('fan', 'graph me');
    await jobIs(id, 'completed');
    await row(id).getByRole('link', { name: id }).click();
    await page.locator('svg.graph g[data-step="join"]').waitFor();
    for (const step of ['split', 'left', 'right', 'join']) {
      expect(await page.locator(`svg.graph g[data-step="${step}"] title`).textContent()).toContain('completed');
      expect(await page.locator(`details[data-step="${step}"]`).count()).toBe(1);
    }
    expect(await page.locator('svg.timeline g').count()).toBe(4);
    await page.locator('details[data-step="join"] summary').click();
    expect(await page.locator('details[data-step="join"]').innerText()).toContain('Output');
    await shot('run');
  });

  test('Cancel on the page cancels a running job (a sleeping WASM step)', async () => {
    const id = await submit('nap', '60000');
    await jobIs(id, 'running');
    await page.goto(`${api.url}/ui/runs/${id}`);
    await page.getByRole('button', { name: 'Cancel', exact: true }).click();
    await page.locator('.heading .status', { hasText: 'cancelled' }).waitFor();
    expect((await job(id)).status).toBe('cancelled');
  });

  test('Replay on the page replays with the edited input and opens the new run', async () => {
    const id = await submit('fan', 'original');
    await jobIs(id, 'completed');
    await page.goto(`${api.url}/ui/runs/${id}`);
    await page.getByRole('button', { name: 'Edit input for replay' }).click();
    const edited = { messages: [{ role: 'user', content: 'edited' }] };
    await page.getByLabel('Input for the replay (JSON)').fill(JSON.stringify(edited));
    await page.getByRole('button', { name: 'Replay', exact: true }).click();
    await page.waitForURL((url) => url.pathname.startsWith('/ui/runs/') && !url.pathname.endsWith(id));
    const replayId = decodeURIComponent(new URL(page.url()).pathname.split('/').at(-1)!);
    await page.locator('dd', { hasText: id }).waitFor();
    const replay = await job(replayId);
    expect([replay.replay_of, replay.input]).toEqual([id, edited]);
  });

  test('Resume on the page resumes a waiting step and the job runs to its end', async () => {
    const id = await submit('approval', 'approve me');
    await jobIs(id, 'waiting');
    await page.goto(`${api.url}/ui/runs/${id}`);
    await page.getByRole('button', { name: 'Reject' }).waitFor();
    await shot('run-waiting');
    await page.getByRole('button', { name: 'Resume' }).click();
    await jobIs(id, 'completed');
    await page.locator('.heading .status', { hasText: 'completed' }).waitFor({ timeout: 15_000 });
    expect((await job(id)).steps.find((step: { id: string }) => step.id === 'approve').output).toEqual({ approved: true });
  });

  test('the playground streams a workflow\'s answer', async () => {
    await page.getByRole('link', { name: 'Playground' }).click();
    await page.getByLabel('Model').selectOption('workflow/fan');
    await page.getByLabel('Message').fill('stream this');
    const streamed = page.waitForResponse((response) => response.url().endsWith('/v1/chat/completions'));
    await page.getByRole('button', { name: 'Send' }).click();
    expect((await streamed).headers()['content-type']).toContain('text/event-stream');
    await waitFor(async () => (await page.locator('.message.assistant p').innerText()).includes('stream this'), 30_000, 'the answer');
    await shot('playground');
  });

  test('definitions list workflows with their graph, modules, providers without keys, MCP servers and triggers', async () => {
    await page.getByRole('link', { name: 'Definitions' }).click();
    await page.locator('summary', { hasText: 'approval' }).click();
    await page.locator('details[open] svg.graph g[data-step="approve"]').waitFor();
    await shot('definitions');
    await page.getByRole('tab', { name: 'Modules' }).click();
    await page.locator('summary', { hasText: 'sleep' }).waitFor();
    await page.getByRole('tab', { name: 'Providers' }).click();
    await page.getByText('None defined.').waitFor();
    await page.getByRole('tab', { name: 'MCP servers' }).click();
    await page.locator('summary', { hasText: 'url: http://127.0.0.1:9/mcp' }).waitFor();
    await page.getByRole('tab', { name: 'Triggers' }).click();
    await page.locator('summary', { hasText: 'schedule: 0 3 * * *' }).waitFor();
  });

  test('on a phone in dark mode the runs page fits the screen (the table scrolls inside it)', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole('link', { name: 'Runs' }).click();
    await page.locator('tr[data-job]').first().waitFor();
    expect(await page.evaluate<string>('getComputedStyle(document.body).backgroundColor')).not.toBe('rgb(247, 247, 249)');
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await shot('runs-phone-dark');
  });

  test('no page logged a console error, failed a load or asked another origin', () => {
    expect(problems).toEqual([]);
  });
});

describe('/v1/events', () => {
  test('a key that is not admin hears only its own jobs', async () => {
    const created = await http(api.url, 'POST', '/v1/keys', { name: 'watcher', scopes: ['workflow/*'] }, bearer(ADMIN));
    const key = created.body.key as string;
    const stop = new AbortController();
    const response = await fetch(`${api.url}/v1/events`, { headers: bearer(key), signal: stop.signal });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const until = async (check: () => boolean) => {
      while (!check()) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the event stream ended; it said: ${text}`);
        text += value;
      }
    };
    await until(() => text.includes(': ready'));
    const foreign = await submit('fan', 'not yours');
    const own = await submit('fan', 'yours', key);
    await until(() => text.includes(`"id":"${own}","status":"completed"`));
    stop.abort();
    expect(text).toContain(`{"type":"job","id":"${own}","status":"completed","workflow":"fan"}`);
    expect(text).not.toContain(foreign);
  });
});
