import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, test } from '@jest/globals';
import { outcomeOf, sha256Hex, WasmRunner, type WasmRunRequest } from '@mule/wasm-runner';
import { MuleError } from '@mule/core';

// Modules built from test/modules/*.wat by `node test/modules/build.mjs`.
function moduleBytes(name: string): Uint8Array {
  return readFileSync(new URL(`../../../test/modules/${name}.wasm`, import.meta.url));
}

function module(name: string): Pick<WasmRunRequest, 'sha256' | 'loadBytes'> {
  const bytes = moduleBytes(name);
  return { sha256: sha256Hex(bytes), loadBytes: async () => bytes };
}

const THREADS = 2;
const runner = new WasmRunner({ threads: THREADS });
const runners = [runner];
afterAll(async () => {
  await Promise.all(runners.map((r) => r.close()));
});

function newRunner(options: ConstructorParameters<typeof WasmRunner>[0]): WasmRunner {
  const created = new WasmRunner(options);
  runners.push(created);
  return created;
}

let serial = 0;
/** A good run submitted alongside a hostile one: it must come back with its own input. */
function goodRun(on: WasmRunner = runner): Promise<void> {
  const input = { serial: ++serial, text: 'unaffected' };
  return on.run({ ...module('echo'), input, timeoutMs: 10_000 }).then((result) => {
    expect(result.output).toEqual(input);
  });
}

/** Waits for a condition on the runner's state (checked every 5 ms), never for a fixed time. */
async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

/** The pool is back to full strength: every thread (including replacements) has started. */
async function poolIsWhole(on: WasmRunner = runner): Promise<void> {
  await on.ready();
  expect(on.stats()).toMatchObject({ threads: THREADS, busy: 0, queued: 0 });
}

describe('a well-behaved module', () => {
  test('echo returns its input as output, with its duration and empty logs', async () => {
    const input = { prompt: 'hello', messages: [{ role: 'user', content: 'hi ✓' }], n: 1.5, ok: null };
    const result = await runner.run({ ...module('echo'), input, timeoutMs: 1000 });
    expect(result).toEqual({ output: input, durationMs: expect.any(Number), logs: '' });
  });

  test('the module is loaded and compiled once for many runs', async () => {
    const bytes = moduleBytes('echo');
    let loads = 0;
    const request = { sha256: sha256Hex(bytes), loadBytes: async () => (loads++, bytes), timeoutMs: 1000 };
    const fresh = newRunner({ threads: THREADS });
    await Promise.all(Array.from({ length: 20 }, (_, i) => fresh.run({ ...request, input: i })));
    await fresh.run({ ...request, input: 'again' });
    expect(loads).toBe(1);
    expect(fresh.stats()).toMatchObject({ cachedModules: 1, cachedBytes: bytes.length });
  });

  test('stderr is returned as logs, keeping its last 64 KiB', async () => {
    const result = await runner.run({ ...module('stderr-flood'), input: null, timeoutMs: 5000 });
    expect(result.output).toEqual({ ok: true });
    expect(result.logs).toBe('P'.repeat(64 * 1024)); // the 16th and last 64 KiB chunk
  });

  test('a Go-style sleep through poll_oneoff (relative clock) works', async () => {
    const result = await runner.run({ ...module('sleep'), input: { ms: 30 }, timeoutMs: 5000 });
    expect(result.output).toMatchObject({ events: 1, userdata: 42, error: 0, type: 0 });
    expect((result.output as { slept_ms: number }).slept_ms).toBeGreaterThanOrEqual(30);
  });

  test('a sleep on an absolute monotonic deadline works', async () => {
    const result = await runner.run({ ...module('sleep'), input: { ms: 30, absolute: true }, timeoutMs: 5000 });
    expect(result.output).toMatchObject({ events: 1, userdata: 42, error: 0, type: 0 });
    expect((result.output as { slept_ms: number }).slept_ms).toBeGreaterThanOrEqual(30);
  });
});

describe('each hostile module ends with its code, the pool whole and a concurrent good run unaffected', () => {
  test.each([
    ['an infinite loop', 'loop', 200, 'wasm_timeout', /longer than its 200 ms time limit/],
    ['an infinite loop in the start function', 'start-loop', 200, 'wasm_timeout', /200 ms/],
    ['a sleep past its deadline', 'sleep', 200, 'wasm_timeout', /200 ms/],
    ['an unreachable trap', 'unreachable', 5000, 'wasm_trap', /WebAssembly trap: unreachable/],
    ['endless recursion', 'stack-overflow', 5000, 'wasm_trap', /stack overflow/],
    ['2 MiB of output', 'output-2mib', 5000, 'wasm_output_too_large', /more than 1 MiB to stdout/],
    ['non-JSON output', 'not-json', 5000, 'wasm_bad_output', /not one JSON value.*"this is not JSON\\n"/],
    ['no output', 'silent', 5000, 'wasm_bad_output', /wrote nothing to stdout/],
    ['a non-zero exit with stderr', 'exit-stderr', 5000, 'wasm_exit', /code 3; .*something went wrong: the input has no name/],
    ['an exit it catches and ignores', 'catch-exit', 5000, 'wasm_exit', /code 7/],
    ['an import outside WASI', 'import-env', 5000, 'wasm_rejected', /env\.read_host_file/],
  ])('%s', async (_what, name, timeoutMs, code, message) => {
    const good = goodRun();
    const hostile = runner.run({ ...module(name), input: { ms: 60_000 }, timeoutMs });
    await expect(hostile).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
    await good;
    await poolIsWhole();
    await goodRun();
  });

  test('a non-zero exit carries the stderr tail and exit code in details', async () => {
    const error = await runner.run({ ...module('exit-stderr'), input: {}, timeoutMs: 5000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MuleError);
    expect((error as MuleError).details).toMatchObject({
      exitCode: 3,
      logs: 'something went wrong: the input has no name\n',
    });
  });

  test('bytes that are not WASM are rejected', async () => {
    const bytes = new TextEncoder().encode('<html>not a module</html>');
    const good = goodRun();
    const hostile = runner.run({ sha256: sha256Hex(bytes), loadBytes: async () => bytes, input: {}, timeoutMs: 1000 });
    await expect(hostile).rejects.toMatchObject({ code: 'wasm_rejected', message: expect.stringMatching(/not a WebAssembly module/) });
    await good;
  });

  test('a module over the size limit is rejected at run time', async () => {
    const small = newRunner({ threads: THREADS, maxModuleBytes: 200 });
    const good = goodRun(runner);
    const hostile = small.run({ ...module('echo'), input: {}, timeoutMs: 1000 });
    await expect(hostile).rejects.toMatchObject({ code: 'wasm_rejected', message: expect.stringMatching(/the limit is 200 bytes/) });
    await good;
  });

  test('memory grows until refused at the 64 MiB cap', async () => {
    const good = goodRun();
    const result = await runner.run({ ...module('memory-grow'), input: {}, timeoutMs: 10_000 });
    expect(result.output).toEqual({ pages: 1024 });
    await good;
  });

  test('the memory cap follows maxMemoryMb', async () => {
    const small = newRunner({ threads: THREADS, maxMemoryMb: 16 });
    const result = await small.run({ ...module('memory-grow'), input: {}, timeoutMs: 10_000 });
    expect(result.output).toEqual({ pages: 256 });
  });

  test('a table bomb grows until refused at the 100k element cap', async () => {
    const good = goodRun();
    const result = await runner.run({ ...module('table-bomb'), input: {}, timeoutMs: 10_000 });
    expect(result.output).toEqual({ elements: 100_000 });
    await good;
  });

  test('opening files, reading the environment and using sockets fail inside the module', async () => {
    const good = goodRun();
    const result = await runner.run({ ...module('wasi-denied'), input: {}, timeoutMs: 5000 });
    expect(result.output).toEqual({
      path_open: 8, // EBADF: fd 3 is no preopened folder, there are none
      path_open_stdin: 54, // ENOTDIR
      fd_prestat_get: 8, // EBADF: no preopens
      environ_sizes_get: 0,
      environ_count: 0,
      environ_bytes: 0,
      args_count: 0,
      sock_accept: 8, // EBADF: no sockets
      sock_recv: 57, // ENOTSOCK: stdin is no socket
      fd_read_3: 8,
      fd_write_3: 8,
    });
    await good;
  });
});

describe('cancellation and shutdown', () => {
  test('aborting a running module stops its thread and rejects with cancelled', async () => {
    const controller = new AbortController();
    const hostile = runner.run({ ...module('loop'), input: {}, timeoutMs: 60_000, signal: controller.signal });
    await waitFor(() => runner.stats().busy === 1);
    controller.abort();
    await expect(hostile).rejects.toMatchObject({ code: 'cancelled' });
    await goodRun();
    await poolIsWhole();
  });

  test('aborting a queued run removes it from the queue', async () => {
    const single = newRunner({ threads: 1 });
    const blocker = new AbortController();
    const queuedAbort = new AbortController();
    const running = single.run({ ...module('loop'), input: {}, timeoutMs: 60_000, signal: blocker.signal });
    await waitFor(() => single.stats().busy === 1);
    const queued = single.run({ ...module('echo'), input: 1, timeoutMs: 1000, signal: queuedAbort.signal });
    const after = single.run({ ...module('echo'), input: 2, timeoutMs: 1000 });
    await waitFor(() => single.stats().queued === 2);
    queuedAbort.abort();
    await expect(queued).rejects.toMatchObject({ code: 'cancelled' });
    blocker.abort();
    await expect(running).rejects.toMatchObject({ code: 'cancelled' });
    await expect(after).resolves.toMatchObject({ output: 2 });
  });

  test('an already aborted signal rejects at once', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(runner.run({ ...module('echo'), input: 1, timeoutMs: 1000, signal: controller.signal })).rejects.toMatchObject({
      code: 'cancelled',
    });
  });

  test('close rejects queued and running runs, then any new run', async () => {
    const closing = new WasmRunner({ threads: 1 });
    const running = closing.run({ ...module('loop'), input: {}, timeoutMs: 60_000 });
    await waitFor(() => closing.stats().busy === 1);
    const queued = closing.run({ ...module('echo'), input: {}, timeoutMs: 1000 });
    await waitFor(() => closing.stats().queued === 1);
    await closing.close();
    await expect(running).rejects.toMatchObject({ code: 'cancelled' });
    await expect(queued).rejects.toMatchObject({ code: 'cancelled' });
    await expect(closing.run({ ...module('echo'), input: {}, timeoutMs: 1000 })).rejects.toMatchObject({ code: 'cancelled' });
  });
});

describe('requests the runner refuses', () => {
  test('bytes that do not match their sha256 are an internal error', async () => {
    const bytes = moduleBytes('echo');
    const request = { sha256: 'f'.repeat(64), loadBytes: async () => bytes, input: {}, timeoutMs: 1000 };
    await expect(runner.run(request)).rejects.toMatchObject({ code: 'internal_error', message: expect.stringMatching(/corrupt/) });
  });

  test('a failed load is not cached: the next run loads again', async () => {
    const bytes = moduleBytes('echo');
    let attempts = 0;
    const loadBytes = async () => {
      if (++attempts === 1) throw new MuleError('unavailable', 'database down');
      return bytes;
    };
    const fresh = newRunner({ threads: 1 });
    const request = { sha256: sha256Hex(bytes), loadBytes, input: 'x', timeoutMs: 1000 };
    await expect(fresh.run(request)).rejects.toMatchObject({ code: 'unavailable' });
    await expect(fresh.run(request)).resolves.toMatchObject({ output: 'x' });
  });

  test('a time limit that is not positive is invalid', async () => {
    await expect(runner.run({ ...module('echo'), input: {}, timeoutMs: 0 })).rejects.toMatchObject({ code: 'invalid_request' });
  });

  test('input that cannot be JSON is invalid', async () => {
    await expect(runner.run({ ...module('echo'), input: { n: 1n }, timeoutMs: 1000 })).rejects.toMatchObject({
      code: 'invalid_request',
    });
  });
});

describe('outcomeOf', () => {
  test('names the outcome of each error for metrics', () => {
    expect(outcomeOf(null)).toBe('ok');
    expect(outcomeOf(new MuleError('wasm_timeout', 'x'))).toBe('wasm_timeout');
    expect(outcomeOf(new MuleError('cancelled', 'x'))).toBe('cancelled');
    expect(outcomeOf(new MuleError('payload_too_large', 'x'))).toBe('wasm_rejected');
    expect(outcomeOf(new MuleError('unavailable', 'x'))).toBe('internal_error');
    expect(outcomeOf(new Error('boom'))).toBe('internal_error');
  });
});
