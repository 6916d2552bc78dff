/**
 * A trap says why: a module that explains itself on stderr before it traps (as a Rust panic does) fails with a
 * wasm_trap whose message carries the end of its stderr, in `mule wasm run` and in the api's error body.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { http, putModule, testModule } from './support/fixtures.js';
import { runCli } from './support/mule-cli.js';
import { REPO_ROOT, startApi, stopAllProcesses, type MuleProcess } from './support/processes.js';

// What test/modules/panic-stderr.wat writes to stderr before `unreachable`.
const PANIC = "thread 'main' panicked at src/main.rs:7:5:\nthe input has no name";
const WITH_STDERR = `The module crashed with a WebAssembly trap: unreachable; the end of its stderr: ${PANIC}`;
const WITHOUT_STDERR = 'The module crashed with a WebAssembly trap: unreachable.';

let db: TestDatabase;
let api: MuleProcess;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startApi(db.url);
});

afterAll(async () => {
  await stopAllProcesses();
  await db?.drop();
});

describe('a wasm_trap message', () => {
  test('mule wasm run prints the end of stderr with the trap', async () => {
    const result = await runCli(['wasm', 'run', join(REPO_ROOT, 'test', 'modules', 'panic-stderr.wasm')], '{}');
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`error wasm_trap: ${WITH_STDERR}\n`);
  });

  test('the api answers it in the error body; a module silent on stderr gets the trap alone', async () => {
    for (const name of ['panic-stderr', 'unreachable']) expect((await putModule(api.url, name, testModule(name))).status).toBe(201);
    const panic = await http(api.url, 'POST', '/v1/wasm/execute', { module: 'panic-stderr', input: {} });
    expect(panic.status).toBe(422);
    expect(panic.body.error).toMatchObject({ code: 'wasm_trap', message: WITH_STDERR });
    const silent = await http(api.url, 'POST', '/v1/wasm/execute', { module: 'unreachable', input: {} });
    expect(silent.status).toBe(422);
    expect(silent.body.error).toMatchObject({ code: 'wasm_trap', message: WITHOUT_STDERR });
  });
});
