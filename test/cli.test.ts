/**
 * The commands of README "Commands" as a user runs them: `npm start` (with a DATABASE_URL, and with none: the embedded
 * PostgreSQL), `mule apply`, and `mule wasm run`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { http } from './support/fixtures.js';
import { REPO_ROOT, startApi, stopAllProcesses, type MuleProcess } from './support/processes.js';

const MULE = join(REPO_ROOT, 'apps', 'cli', 'bin', 'mule.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runMule(args: string[], env: Record<string, string>, stdin = ''): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MULE, ...args], { env: { PATH: process.env['PATH'] ?? '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

const started: ChildProcess[] = [];

/** Runs `npm start`'s command until it prints the URL; returns the URL and the process. */
function startMule(env: Record<string, string>): Promise<{ url: string; child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [MULE, 'start'], {
    env: { PATH: process.env['PATH'] ?? '', PORT: '0', METRICS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start did not print its URL:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Mule is running at (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ url: match[1]!, child, output: () => output });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`npm start exited (${code}):\n${output}`)));
  });
}

async function stopMule(child: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGINT');
  return exited;
}

let db: TestDatabase;
let home: string;

beforeAll(async () => {
  db = await createTestDatabase();
  home = await mkdtemp(join(tmpdir(), 'mule-cli-'));
  // The embedded PostgreSQL runs as the `postgres` user when we are root: it must be able to enter this folder.
  await chmod(home, 0o755);
});

// An `npm start` a test left running (an assertion failed before its stop) is stopped as by Ctrl-C, so its
// embedded PostgreSQL stops with it before the next test starts another.
afterEach(async () => {
  for (const child of started.splice(0)) if (child.exitCode === null && child.signalCode === null) await stopMule(child);
});

afterAll(async () => {
  for (const child of started) if (child.exitCode === null) child.kill('SIGKILL');
  await stopAllProcesses();
  await db?.drop();
  await rm(home, { recursive: true, force: true });
});

const shout = (url: string) =>
  http(url, 'POST', '/v1/chat/completions', { model: 'workflow/shout', messages: [{ role: 'user', content: 'hello from mule' }] });

describe('npm start', () => {
  test('with DATABASE_URL: migrates, loads examples/, serves the example workflows (shout, and the word-shout graph), and stops on Ctrl-C', async () => {
    const { url, child, output } = await startMule({ DATABASE_URL: db.url, MULE_HOME: join(home, 'a') });
    expect(output()).toMatch(/curl -s http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions/);
    const answer = await shout(url);
    expect(answer.status).toBe(200);
    expect(answer.body.choices[0].message.content).toBe('HELLO FROM MULE');
    // The graph example (examples/word-shout.yaml): a fan-out per word, a branch for long messages, a join; and the
    // MCP example's agent (examples/mcp-tools.yaml), stored without contacting its server.
    const models = await http(url, 'GET', '/v1/models');
    expect(models.body.data.map((m: { id: string }) => m.id)).toEqual(expect.arrayContaining(['workflow/word-shout', 'workflow/announce', 'agent/researcher']));
    const wordShout = (content: string) =>
      http(url, 'POST', '/v1/chat/completions', { model: 'workflow/word-shout', messages: [{ role: 'user', content }] });
    const short = await wordShout('hello  from mule');
    expect(short.status).toBe(200);
    expect(short.body.choices[0].message.content).toBe('HELLO FROM MULE');
    const long = await wordShout('a graph of wasm steps with no provider');
    expect(long.body.choices[0].message.content).toBe('A GRAPH OF WASM STEPS WITH NO PROVIDER (8 words)');
    expect(await stopMule(child)).toBe(0);
  });

  test('without DATABASE_URL: starts an embedded PostgreSQL whose data survives a restart', async () => {
    const env = { MULE_HOME: join(home, 'embedded') };
    const first = await startMule(env);
    const queued = await http(first.url, 'POST', '/v1/chat/completions', { model: 'async/workflow/shout', messages: [{ role: 'user', content: 'kept' }] });
    expect(queued.status).toBe(202);
    expect((await shout(first.url)).body.choices[0].message.content).toBe('HELLO FROM MULE');
    expect(await stopMule(first.child)).toBe(0);

    const second = await startMule(env);
    const job = await http(second.url, 'GET', `/v1/jobs/${queued.body.id}`);
    expect(job.status).toBe(200);
    expect(job.body.output).toMatchObject({ prompt: 'KEPT' });
    expect(await stopMule(second.child)).toBe(0);
  });
});

describe('npm start as root in a folder only root can enter', () => {
  // A newcomer who clones into root's home (mode 700): the embedded PostgreSQL runs as the user "postgres", which
  // cannot reach the binaries in node_modules there. The project is hard-linked into such a folder (a few seconds).
  const asRoot = process.getuid?.() === 0;
  if (!asRoot) console.warn('skipped: the private-folder test of npm start needs root (only root hits it)');
  (asRoot ? test : test.skip)('stops at once with one line that says why and what to do', async () => {
    const outer = await mkdtemp(join(tmpdir(), 'mule-private-'));
    try {
      await chmod(outer, 0o700);
      const project = join(outer, 'mule');
      await promisify(execFile)('cp', ['-al', REPO_ROOT, project]);
      const run = await new Promise<Run>((resolve) => {
        const child = spawn(process.execPath, [join(project, 'apps', 'cli', 'bin', 'mule.js'), 'start'], {
          cwd: project,
          env: { PATH: process.env['PATH'] ?? '', PORT: '0', METRICS_PORT: '0' },
        });
        started.push(child);
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('exit', (code) => resolve({ code, stdout, stderr }));
      });
      expect(run.code).toBe(1);
      const lines = run.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`cannot enter ${outer} (mode 700)`);
      expect(lines[0]).toMatch(/Move the project to a folder other users can enter/);
      expect(run.stderr).not.toMatch(/EACCES|\n\s+at /);
    } finally {
      await rm(outer, { recursive: true, force: true });
    }
  });
});

describe('mule apply', () => {
  let api: MuleProcess;
  beforeAll(async () => {
    api = await startApi(db.url);
  });

  test('upserts definitions from a folder in dependency order, idempotently', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mule-defs-'));
    // The workflow comes first in the folder; apply still creates the module before it.
    await writeFile(join(dir, 'a-workflow.yaml'), 'kind: workflow\nname: echo-applied\nsteps:\n  - id: echo\n    wasm: echo-applied\n');
    await writeFile(
      join(dir, 'b-module.json'),
      JSON.stringify({ kind: 'wasm_module', name: 'echo-applied', path: join(REPO_ROOT, 'test', 'modules', 'echo.wasm') }),
    );
    const env = { MULE_URL: api.url };
    const first = await runMule(['apply', dir], env);
    expect(first).toMatchObject({ code: 0 });
    expect(first.stdout.split('\n').filter(Boolean)).toEqual(['created  wasm_module/echo-applied', 'created  workflow/echo-applied']);
    const second = await runMule(['apply', dir], env);
    expect(second.stdout).not.toMatch(/created/);
    const versions = await http(api.url, 'GET', '/v1/workflows/echo-applied');
    expect(versions.body.version).toBe(1);
    const models = await http(api.url, 'GET', '/v1/models');
    expect(models.body.data.map((m: { id: string }) => m.id)).toContain('workflow/echo-applied');
    await rm(dir, { recursive: true, force: true });
  });

  test('sends MULE_API_KEY when keys are on', async () => {
    const keyed = await startApi(db.url, { MULE_API_KEYS: 'apply-admin-key-0123456789' });
    const dir = await mkdtemp(join(tmpdir(), 'mule-defs-'));
    try {
      await writeFile(join(dir, 'w.yaml'), 'kind: workflow\nname: keyed-flow\nsteps:\n  - id: echo\n    wasm: echo-applied\n');
      expect((await runMule(['apply', dir], { MULE_URL: keyed.url })).code).toBe(1);
      const ok = await runMule(['apply', dir], { MULE_URL: keyed.url, MULE_API_KEY: 'apply-admin-key-0123456789' });
      expect(ok.code).toBe(0);
    } finally {
      await keyed.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('an invalid file fails with the file and field named, and applies nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mule-defs-'));
    await writeFile(join(dir, 'bad.yaml'), 'kind: workflow\nname: bad-one\nsteps:\n  - id: a\n    wasm: echo\n    colour: red\n');
    const run = await runMule(['apply', dir], { MULE_URL: api.url });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/bad\.yaml#1 \(workflow\): steps\.0\.colour: unknown field "colour"/);
    expect((await http(api.url, 'GET', '/v1/workflows/bad-one')).status).toBe(404);
    await rm(dir, { recursive: true, force: true });
  });
});

describe('configuration', () => {
  const run = (script: string, env: Record<string, string>) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [join(REPO_ROOT, script)], { env: { PATH: process.env['PATH'] ?? '', ...env } });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('exit', (code) => resolve({ code, stderr }));
    });

  test.each([
    ['apps/api/dist/main.js', { PORT: 'eighty' }, 'PORT'],
    ['apps/api/dist/main.js', { MULE_SECRET_KEY: 'too-short-secret' }, 'MULE_SECRET_KEY'],
    ['apps/api/dist/main.js', { MULE_API_KEYS: 'short-key' }, 'MULE_API_KEYS'],
    ['apps/worker/dist/main.js', { WORKER_CONCURRENCY: '0' }, 'WORKER_CONCURRENCY'],
    ['apps/worker/dist/main.js', { MULE_LEASE_SECONDS: '5' }, 'MULE_LEASE_SECONDS'],
    ['apps/worker/dist/main.js', { DATABASE_URL: 'mysql://nope' }, 'DATABASE_URL'],
  ])('%s exits with one line naming the bad variable (%j)', async (script, env, variable) => {
    const { code, stderr } = await run(script, { DATABASE_URL: db.url, ...env });
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(variable);
    // A bad secret is named, never echoed.
    for (const secret of ['too-short-secret', 'short-key']) expect(lines[0]).not.toContain(secret);
  });
});

describe('mule wasm run', () => {
  test('runs a module under the sandbox with JSON on stdin and stdout', async () => {
    const run = await runMule(['wasm', 'run', join(REPO_ROOT, 'examples', 'modules', 'uppercase.wasm')], {}, '{"text":"quiet"}');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ text: 'QUIET' });
  });

  test('reports a module failure with its code and a non-zero exit', async () => {
    const run = await runMule(['wasm', 'run', join(REPO_ROOT, 'test', 'modules', 'loop.wasm'), '--timeout-ms', '200'], {}, '{}');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/wasm_timeout/);
    const notJson = await runMule(['wasm', 'run', join(REPO_ROOT, 'test', 'modules', 'echo.wasm')], {}, 'not json');
    expect(notJson.code).toBe(1);
    expect(notJson.stderr).toMatch(/not JSON/);
  });
});
