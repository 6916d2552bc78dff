/**
 * WASM figures: a warm run of a small module through the runner's thread pool, and the cold first run
 * of a ~1 MB module (load, hash, admission, compile, instantiate, run). The big module is generated here from
 * WAT text with wabt, so no binary is committed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import wabtInit from 'wabt';
import { sha256Hex, WasmRunner } from '@mule/wasm-runner';
import { REPO_ROOT } from '@mule/test/support/processes.js';
import { latency, timeSequential, type Latency } from './stats.js';

export async function measureWarmRun(n: number): Promise<Latency> {
  const runner = new WasmRunner({ threads: 2 });
  const bytes = new Uint8Array(readFileSync(join(REPO_ROOT, 'test', 'modules', 'echo.wasm')));
  const sha256 = sha256Hex(bytes);
  const request = { sha256, loadBytes: async () => bytes, input: { prompt: 'hello' }, timeoutMs: 1000 };
  try {
    await timeSequential(0, Math.min(3000, n), () => runner.run(request).then(() => undefined));
    return latency(await timeSequential(n, 0, () => runner.run(request).then(() => undefined)));
  } finally {
    await runner.close();
  }
}

/** A valid WASI command of about `targetBytes`: the echo module plus many small functions (real code to compile). */
async function bigModule(targetBytes: number): Promise<Uint8Array> {
  const wabt = await wabtInit();
  const echo = readFileSync(join(REPO_ROOT, 'test', 'modules', 'echo.wat'), 'utf8');
  // Each function is a chain of 16 multiply-adds: ~180 bytes in binary form.
  const chain = (i: number) =>
    Array.from({ length: 16 }, (_, k) => `(i32.add (i32.mul (local.get 0) (i32.const ${i + k})) (i32.const ${k}))`).reduce(
      (acc, term) => `(i32.xor ${acc} ${term})`,
    );
  const count = Math.ceil(targetBytes / 180);
  const functions = Array.from({ length: count }, (_, i) => `(func $f${i} (param i32) (result i32) ${chain(i)})`);
  const source = echo.replace(/\)\s*$/, `\n${functions.join('\n')}\n)`);
  const module = wabt.parseWat('big.wat', source);
  try {
    module.resolveNames();
    module.validate();
    return new Uint8Array(module.toBinary({}).buffer);
  } finally {
    module.destroy();
  }
}

export interface ColdRun {
  module_bytes: number;
  cold_ms: number;
  warm_after_ms: number;
}

export async function measureColdCompile(targetBytes = 1024 * 1024): Promise<ColdRun> {
  const bytes = await bigModule(targetBytes);
  const runner = new WasmRunner({ threads: 1 });
  try {
    await runner.ready();
    const request = { sha256: sha256Hex(bytes), loadBytes: async () => bytes, input: { prompt: 'cold' }, timeoutMs: 10_000 };
    let started = performance.now();
    await runner.run(request);
    const cold = performance.now() - started;
    // Warm runs after the first: the median of five, so a GC pause does not stand for the whole figure.
    const warmRuns: number[] = [];
    for (let i = 0; i < 5; i++) {
      started = performance.now();
      await runner.run(request);
      warmRuns.push(performance.now() - started);
    }
    const warm = warmRuns.sort((a, b) => a - b)[2]!;
    return { module_bytes: bytes.byteLength, cold_ms: Math.round(cold * 100) / 100, warm_after_ms: Math.round(warm * 1000) / 1000 };
  } finally {
    await runner.close();
  }
}
