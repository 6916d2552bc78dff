/**
 * The dashboard at /ui (README "Dashboard") in a real headless Chromium (@sparticuz/chromium, driven by
 * playwright-core), against real api and worker processes with API keys on: sign in, runs live, a run's graph (React
 * Flow laid out by ELK) and steps with their logs, cancel, replay, resume, the playground's stream, definitions with
 * every workflow version's graph and YAML. Every page is watched for console errors, failed loads and requests to
 * other origins, and screenshotted into test/dist/screenshots.
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
  for (const name of ['echo', 'sleep', 'exit-stderr']) expect((await http(api.url, 'PUT', `/v1/wasm/modules/${name}`, testModule(name), bearer(ADMIN))).status).toBe(201);
  const put = (name: string, steps: unknown[]) => http(api.url, 'PUT', `/v1/workflows/${name}`, { steps }, bearer(ADMIN));
  expect((await put('fan', [{ id: 'split', wasm: 'echo' }, { id: 'left', wasm: 'echo', needs: ['split'] }, { id: 'right', wasm: 'echo', needs: ['split'] }, { id: 'join', wasm: 'echo', needs: ['left', 'right'] }])).status).toBe(201);
  expect((await put('nap', [{ id: 'nap', wasm: 'sleep', timeout_ms: 120_000 }])).status).toBe(201);
  expect((await put('approval', [{ id: 'prepare', wasm: 'echo' }, { id: 'approve', wait: { timeout: '1h' } }, { id: 'publish', wasm: 'echo' }])).status).toBe(201);
  // Its module writes why it fails to stderr, then exits with code 3.
  expect((await put('grumble', [{ id: 'complain', wasm: 'exit-stderr' }])).status).toBe(201);
  // Two versions: the definitions page lists both, each with its own graph and YAML.
  expect((await put('evolving', [{ id: 'draft', wasm: 'echo' }])).status).toBe(201);
  expect((await put('evolving', [{ id: 'draft', wasm: 'echo' }, { id: 'review', wasm: 'echo' }, { id: 'ship', wasm: 'echo', needs: ['draft', 'review'] }])).status).toBe(200);
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

  test('a run shows its graph (React Flow nodes named by step and status, an edge per need), its timeline and its steps', async () => {
    const id = await submit('fan', 'graph me');
    await jobIs(id, 'completed');
    await row(id).getByRole('link', { name: id }).click();
    const node = (step: string) => page.locator(`.react-flow__node[data-id="${step}"]`);
    await node('join').waitFor();
    for (const step of ['split', 'left', 'right', 'join']) {
      expect(await node(step).innerText()).toContain('completed');
      await page.getByRole('button', { name: `${step} (wasm): completed`, exact: true }).waitFor();
      expect(await page.locator(`details[data-step="${step}"]`).count()).toBe(1);
    }
    for (const [from, to] of [['split', 'left'], ['split', 'right'], ['left', 'join'], ['right', 'join']]) {
      // Attached, not 'visible': a straight horizontal edge has a bounding box 0 px high.
      await page.getByRole('img', { name: `Edge from ${from} to ${to}` }).waitFor({ state: 'attached' });
    }
    expect(await page.locator('.react-flow__edge').count()).toBe(4);
    expect(await page.locator('svg.timeline g').count()).toBe(4);
    await shot('run');
    // Clicking a node shows that step alone, opened.
    await node('join').getByRole('button').click();
    await waitFor(async () => (await page.locator('details[data-step]').count()) === 1, 10_000, 'only the chosen step is shown');
    expect(await page.locator('details[data-step="join"]').getAttribute('open')).not.toBeNull();
    expect(await page.locator('details[data-step="join"]').innerText()).toContain('Output');
    expect(await page.getByRole('button', { name: 'join (wasm): completed' }).getAttribute('aria-pressed')).toBe('true');
    // The keyboard does the same: Enter on a node's button.
    await page.getByRole('button', { name: 'left (wasm): completed' }).press('Enter');
    await page.locator('details[data-step="left"]').waitFor();
    expect(await page.locator('details[data-step]').count()).toBe(1);
  });

  test('a WASM step\'s stderr shows as its logs on the run page', async () => {
    const id = await submit('grumble', 'anything');
    await jobIs(id, 'failed');
    await page.goto(`${api.url}/ui/runs/${id}`);
    await page.getByRole('button', { name: 'complain (wasm): failed' }).click();
    const logs = page.getByLabel('Logs', { exact: true });
    await logs.waitFor();
    expect(await logs.innerText()).toContain('something went wrong: the input has no name');
    expect(await page.locator('details[data-step="complain"]').innerText()).toContain('wasm_exit');
    await shot('run-logs');
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

  test('definitions list workflows with their versions, graph and YAML; modules, providers without keys, MCP servers and triggers', async () => {
    await page.getByRole('link', { name: 'Definitions' }).click();
    await page.locator('summary', { hasText: 'approval' }).click();
    await page.locator('details[open] .react-flow__node[data-id="approve"]').waitFor();
    expect(await page.locator('details[open] .react-flow__node[data-id="approve"]').innerText()).toContain('wait');
    await page.locator('summary', { hasText: 'approval' }).click();

    const evolving = page.locator('details[data-workflow="evolving"]');
    await evolving.locator('summary').click();
    const versions = evolving.getByRole('group', { name: 'Versions of evolving' });
    await versions.getByRole('button', { name: /^Version 2/ }).waitFor();
    expect(await versions.getByRole('button').allInnerTexts()).toEqual([expect.stringMatching(/^Version 2/), expect.stringMatching(/^Version 1/)]);
    const yaml = evolving.getByLabel('YAML', { exact: true });
    // The newest version first: its YAML is a definition file mule apply takes (kind first, no read-only fields).
    const newest = await yaml.innerText();
    expect(newest).toMatch(/^kind: workflow\nname: evolving\n/);
    expect(newest).toContain('id: ship');
    expect(newest).not.toContain('created_at');
    await evolving.locator('.react-flow__node[data-id="ship"]').waitFor();
    // review needs draft by the list rule; ship needs both. (Edges are drawn once their nodes are measured.)
    await waitFor(async () => (await evolving.locator('.react-flow__edge').count()) === 3, 10_000, 'the three edges of version 2');
    await shot('definitions');
    await versions.getByRole('button', { name: /^Version 1/ }).click();
    await waitFor(async () => !(await yaml.innerText()).includes('ship'), 10_000, 'the YAML of version 1');
    expect(await yaml.innerText()).toContain('id: draft');
    await evolving.locator('.react-flow__node[data-id="ship"]').waitFor({ state: 'detached' });
    // The graph is laid out again (ELK runs asynchronously), so it is empty for a moment: wait for version 1's.
    const shape = async () => [await evolving.locator('.react-flow__node').count(), await evolving.locator('.react-flow__edge').count()];
    await waitFor(async () => (await shape()).join() === '1,0', 10_000, "version 1's graph: one node, no edge");
    expect(await shape()).toEqual([1, 0]);
    await evolving.locator('.react-flow__node[data-id="draft"]').waitFor();

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

  test('on a phone in dark mode a run\'s graph runs top to bottom and fits the screen', async () => {
    const id = await submit('fan', 'phone');
    await jobIs(id, 'completed');
    await page.goto(`${api.url}/ui/runs/${id}`);
    await page.locator('.react-flow__node[data-id="join"]').waitFor();
    const top = async (step: string) => (await page.locator(`.react-flow__node[data-id="${step}"]`).boundingBox())!.y;
    expect(await top('split')).toBeLessThan(await top('left'));
    expect(await top('left')).toBeLessThan(await top('join'));
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await shot('run-phone-dark');
  });

  test('no page logged a console error, failed a load or asked another origin', () => {
    expect(problems).toEqual([]);
  });
});

describe('what the dashboard reads is held to the api\'s rules', () => {
  test('a workflow\'s versions need an admin key, as its definition does', async () => {
    const created = await http(api.url, 'POST', '/v1/keys', { name: 'caller', scopes: ['workflow/*'] }, bearer(ADMIN));
    const key = created.body.key as string;
    for (const path of ['/v1/workflows/evolving', '/v1/workflows/evolving/versions']) {
      const refused = await http(api.url, 'GET', path, undefined, bearer(key));
      expect([refused.status, refused.body.error?.code]).toEqual([403, 'forbidden']);
    }
    expect((await http(api.url, 'GET', '/v1/workflows/evolving/versions', undefined, bearer(ADMIN))).body.data).toHaveLength(2);
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
