/**
 * Workflow graphs are checked whole when they are written: over HTTP a bad one is a 400 `invalid_request` whose
 * `param` names the step and field, and writes nothing; `mule apply` names the file and the document. A graph of
 * 200 steps is accepted, and every graph field reads back as written.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { http, putModule, testModule } from './support/fixtures.js';
import { REPO_ROOT, startApi, stopAllProcesses, type MuleProcess } from './support/processes.js';

let db: TestDatabase;
let api: MuleProcess;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startApi(db.url);
  expect((await putModule(api.url, 'echo', testModule('echo'))).status).toBe(201);
});

afterAll(async () => {
  await stopAllProcesses();
  await db?.drop();
});

function mule(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'apps', 'cli', 'bin', 'mule.js'), ...args], {
      env: { PATH: process.env['PATH'] ?? '', MULE_URL: api.url },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function workflowNames(): Promise<string[]> {
  return (await http(api.url, 'GET', '/v1/workflows')).body.data.map((w: { name: string }) => w.name).sort();
}

const a = { id: 'a', wasm: 'echo' };

describe('PUT /v1/workflows refuses a graph that could not run, naming the step and field', () => {
  test.each<[string, Record<string, unknown>, string, RegExp]>([
    ['an unknown need', { steps: [a, { id: 'b', wasm: 'echo', needs: ['nope'] }] }, 'steps.1.needs', /"nope", which is not a step/],
    ['a cycle of needs', { steps: [a, { id: 'b', wasm: 'echo', needs: ['c'] }, { id: 'c', wasm: 'echo', needs: ['b'] }] }, 'steps.1.needs', /cycle/],
    ['an if that does not parse', { steps: [a, { id: 'b', wasm: 'echo', if: 'steps.a.output ==' }] }, 'steps.1.if', /cannot parse/],
    ['an input template that does not parse', { steps: [a, { id: 'b', wasm: 'echo', input: { q: '${{ input.prompt' } }] }, 'steps.1.input.q', /never closed/],
    ['an if reading a step that is not an ancestor', { steps: [a, { id: 'b', wasm: 'echo', needs: [], if: 'steps.a.status == "completed"' }] }, 'steps.1.if', /does not need/],
    ['an if reading a later step', { steps: [{ ...a, if: 'steps.b.status == "skipped"' }, { id: 'b', wasm: 'echo' }] }, 'steps.0.if', /does not need/],
    ['an output reading a step that does not exist', { steps: [a], output: '${{ steps.nope.output }}' }, 'output', /not a step/],
    ['max_items above 1000', { steps: [a, { id: 'b', wasm: 'echo', for_each: 'steps.a.output.list', max_items: 1001 }] }, 'steps.1.max_items', /1000/],
    ['a wait without a timeout', { steps: [a, { id: 'w', wait: {} }] }, 'steps.1.wait.timeout', /needs a timeout/],
    ['a wait with a bad timeout', { steps: [a, { id: 'w', wait: { timeout: '1 week' } }] }, 'steps.1.wait.timeout', /not a duration/],
    ['a wait schema that is not a JSON Schema', { steps: [a, { id: 'w', wait: { timeout: '1h', schema: { type: 'text' } } }] }, 'steps.1.wait.schema', /not a valid JSON Schema/],
    ['an input_schema that is not a JSON Schema', { steps: [a], input_schema: { properties: { prompt: { type: 7 } } } }, 'input_schema', /not a valid JSON Schema/],
    ['a step that is both wasm and wait', { steps: [{ ...a, wait: { timeout: '1h' } }] }, 'steps.0.agent', /exactly one of agent, wasm or wait/],
    ['an unknown on_error', { steps: [{ ...a, on_error: 'ignore' }] }, 'steps.0.on_error', /./],
  ])('%s', async (_name, body, param, message) => {
    const before = await workflowNames();
    const answer = await http(api.url, 'PUT', '/v1/workflows/refused', body);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'invalid_request', param });
    expect(answer.body.error.message).toMatch(message);
    expect(await workflowNames()).toEqual(before);
  });

  test('201 steps are refused', async () => {
    const steps = Array.from({ length: 201 }, (_, i) => ({ id: `s${i}`, wasm: 'echo' }));
    const answer = await http(api.url, 'PUT', '/v1/workflows/too-long', { steps });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'invalid_request', param: 'steps' });
  });
});

describe('graphs that can run are stored', () => {
  test('a graph of 200 steps (each needing the two before it and reading the first) is accepted', async () => {
    const steps = Array.from({ length: 200 }, (_, i) => ({
      id: `s${i}`,
      wasm: 'echo',
      ...(i > 1 ? { needs: [`s${i - 1}`, `s${i - 2}`], if: 'steps.s0.status == "completed"' } : {}),
    }));
    const answer = await http(api.url, 'PUT', '/v1/workflows/two-hundred', { steps });
    expect(answer.status).toBe(201);
    expect(answer.body.steps).toHaveLength(200);
  });

  test('every graph field reads back as written, and the same body again changes nothing', async () => {
    const body = {
      input_schema: { type: 'object', properties: { prompt: { type: 'string' } } },
      steps: [
        { id: 'a', wasm: 'echo' },
        { id: 'each', needs: ['a'], for_each: '${{ [1, 2, 3] }}', max_items: 10, concurrency: 2, wasm: 'echo', input: { n: '${{ item }}', i: '${{ index }}' }, retries: 1 },
        { id: 'maybe', needs: ['a'], if: 'input.prompt.contains("x")', wasm: 'echo', on_error: 'continue' },
        { id: 'approve', needs: ['each', 'maybe'], wait: { timeout: '24h', schema: { type: 'object', required: ['ok'] } }, input: '${{ steps.maybe.status }}' },
      ],
      output: { each: '${{ steps.each.output }}', approved: '${{ steps.approve.output }}' },
    };
    const first = await http(api.url, 'PUT', '/v1/workflows/graph-fields', body);
    expect(first.status).toBe(201);
    const read = await http(api.url, 'GET', '/v1/workflows/graph-fields');
    expect(read.body).toMatchObject(body);
    const again = await http(api.url, 'PUT', '/v1/workflows/graph-fields', body);
    expect(again.status).toBe(200);
    expect(again.body.version).toBe(1);
  });
});

describe('GET /v1/workflows/{name}/versions', () => {
  test('lists every version newest first, each as GET answered while it was current; an unchanged PUT adds none', async () => {
    const v1 = { steps: [{ id: 'a', wasm: 'echo' }] };
    const v2 = { description: 'two steps now', steps: [{ id: 'a', wasm: 'echo' }, { id: 'b', wasm: 'echo', needs: ['a'] }] };
    expect((await http(api.url, 'PUT', '/v1/workflows/versioned', v1)).status).toBe(201);
    const current = await http(api.url, 'PUT', '/v1/workflows/versioned', v2);
    expect([current.status, current.body.version]).toEqual([200, 2]);
    expect((await http(api.url, 'PUT', '/v1/workflows/versioned', v2)).body.version).toBe(2);

    const list = await http(api.url, 'GET', '/v1/workflows/versioned/versions');
    expect(list.status).toBe(200);
    expect(list.body.object).toBe('list');
    expect(list.body.data.map((entry: { version: number }) => entry.version)).toEqual([2, 1]);
    const [second, first] = list.body.data;
    expect(second.definition).toMatchObject({ ...v2, name: 'versioned', object: 'workflow', version: 2 });
    expect(first.definition).toMatchObject({ ...v1, name: 'versioned', object: 'workflow', version: 1 });
    expect(first.definition.description).toBeUndefined();
    expect(Date.parse(first.created_at)).toBeLessThanOrEqual(Date.parse(second.created_at));
    // The newest version is what GET /v1/workflows/{name} answers, field for field but the update time.
    const { updated_at: _readUpdated, ...read } = (await http(api.url, 'GET', '/v1/workflows/versioned')).body;
    const { updated_at: _listedUpdated, ...listed } = second.definition;
    expect(listed).toEqual(read);
  });

  test('an unknown workflow is a 404 in the error shape; a bad name a 400', async () => {
    const missing = await http(api.url, 'GET', '/v1/workflows/never-defined/versions');
    expect(missing.status).toBe(404);
    expect(missing.body.error).toMatchObject({ code: 'not_found', param: 'name', type: 'not_found_error' });
    expect(missing.body.error.message).toContain('never-defined');
    const bad = await http(api.url, 'GET', `/v1/workflows/${encodeURIComponent('no spaces')}/versions`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe('name');
  });
});

describe('mule apply and MULE_DEFINITIONS', () => {
  test('a bad graph fails naming the file, the document and the field, and applies nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mule-graph-'));
    try {
      const good = 'kind: workflow\nname: apply-good\nsteps:\n  - id: a\n    wasm: echo\n';
      const bad = 'kind: workflow\nname: apply-bad\nsteps:\n  - id: a\n    wasm: echo\n  - id: b\n    needs: [a, c]\n    wasm: echo\n';
      await writeFile(join(dir, 'flows.yaml'), `${good}---\n${bad}`);
      const run = await mule(['apply', dir]);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/flows\.yaml#2 \(workflow\): steps\.1\.needs: step "b" needs "c", which is not a step/);
      expect(await workflowNames()).not.toContain('apply-good');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('MULE_DEFINITIONS with a bad graph stops the api with the file, document and field named', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mule-graph-'));
    try {
      const bad = 'kind: workflow\nname: env-bad\nsteps:\n  - id: a\n    wasm: echo\n  - id: b\n    if: steps.a.output ==\n    wasm: echo\n';
      await writeFile(join(dir, 'start.yaml'), `kind: wasm_module\nname: unused\npath: ${join(REPO_ROOT, 'test', 'modules', 'echo.wasm')}\n---\n${bad}`);
      const run = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [join(REPO_ROOT, 'apps', 'api', 'dist', 'main.js')], {
          env: { PATH: process.env['PATH'] ?? '', DATABASE_URL: db.url, PORT: '0', MULE_DEFINITIONS: dir },
        });
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stderr }));
      });
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/MULE_DEFINITIONS: .*start\.yaml#2 \(workflow\): steps\.1\.if: cannot parse/);
      expect(await workflowNames()).not.toContain('env-bad');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('the examples folder applies, graph and approval workflows included', async () => {
    const run = await mule(['apply', join(REPO_ROOT, 'examples')]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(await workflowNames()).toEqual(expect.arrayContaining(['word-shout', 'announce']));
  });
});
