import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WASI } from 'node:wasi';
import { afterAll, describe, expect, test } from '@jest/globals';
import { admitModule, sha256Hex, WasmRunner } from '@mule/wasm-runner';

// Built by `node examples/modules/build.mjs` from examples/modules/uppercase/index.ts (AssemblyScript).
const bytes = readFileSync(new URL('../../../examples/modules/uppercase.wasm', import.meta.url));
const uppercase = { sha256: sha256Hex(bytes), loadBytes: async () => bytes };

const runner = new WasmRunner({ threads: 1 });
afterAll(() => runner.close());

function run(input: unknown): Promise<unknown> {
  return runner.run({ ...uppercase, input, timeoutMs: 5000 }).then((result) => result.output);
}

describe('the AssemblyScript uppercase example', () => {
  test('is admitted: its only imports are WASI functions', () => {
    expect(admitModule(bytes).sha256).toBe(uppercase.sha256);
  });

  test('uppercases every string value of a chat request, keys unchanged', async () => {
    await expect(run({ prompt: 'hello', messages: [{ role: 'user', content: 'hi' }] })).resolves.toEqual({
      prompt: 'HELLO',
      messages: [{ role: 'USER', content: 'HI' }],
    });
  });

  test('serves as a tool: {"text"} in, {"text"} out', async () => {
    await expect(run({ text: 'make me loud' })).resolves.toEqual({ text: 'MAKE ME LOUD' });
  });

  test('handles full Unicode, escapes and every JSON type', async () => {
    const input = {
      'mixed Key': 'straße café ǆ ﬁ 😀 ω',
      escapes: 'say "hi"\\\n\t\u0001 end',
      lone: '\ud800 x',
      numbers: [0, -1.5e-7, 12345678901234567890],
      literals: [true, false, null],
      nested: { deeper: [[{ a: 'b' }]], empty: {}, none: [] },
    };
    await expect(run(input)).resolves.toEqual({
      'mixed Key': 'STRASSE CAFÉ Ǆ FI 😀 Ω',
      escapes: 'SAY "HI"\\\n\t\u0001 END',
      lone: '\ud800 X',
      numbers: [0, -1.5e-7, 12345678901234567890],
      literals: [true, false, null],
      nested: { deeper: [[{ a: 'B' }]], empty: {}, none: [] },
    });
  });

  test('a bare string or number is a JSON value too', async () => {
    await expect(run('abc')).resolves.toBe('ABC');
    await expect(run(42)).resolves.toBe(42);
  });

  test('invalid JSON on stdin: a message on stderr and exit code 1', () => {
    // The runner always writes valid JSON to stdin, so this path runs under node:wasi with files as stdio.
    const folder = mkdtempSync(join(tmpdir(), 'mule-uppercase-'));
    try {
      writeFileSync(join(folder, 'in'), '{"a": "b",}');
      const stdin = openSync(join(folder, 'in'), 'r');
      const stdout = openSync(join(folder, 'out'), 'w');
      const stderr = openSync(join(folder, 'err'), 'w');
      const wasi = new WASI({ version: 'preview1', stdin, stdout, stderr, returnOnExit: true });
      const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), wasi.getImportObject() as WebAssembly.Imports);
      const code = wasi.start(instance);
      [stdin, stdout, stderr].forEach((fd) => closeSync(fd));
      expect(code).toBe(1);
      expect(readFileSync(join(folder, 'out'), 'utf8')).toBe('');
      expect(readFileSync(join(folder, 'err'), 'utf8')).toMatch(/^uppercase: the input is not valid JSON: .* at character \d+\n$/);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
