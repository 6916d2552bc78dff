import { readFileSync } from 'node:fs';
import { afterAll, expect, test } from '@jest/globals';
import { sha256Hex, WasmRunner, type WasmRunRequest } from '@mule/wasm-runner';

function module(path: string): Pick<WasmRunRequest, 'sha256' | 'loadBytes'> {
  const bytes = readFileSync(new URL(path, import.meta.url));
  return { sha256: sha256Hex(bytes), loadBytes: async () => bytes };
}

// Built by `node test/modules/build.mjs` and `node examples/modules/build.mjs`.
const modules = {
  echo: module('../../../test/modules/echo.wasm'),
  uppercase: module('../../../examples/modules/uppercase.wasm'),
  sleep: module('../../../test/modules/sleep.wasm'),
  loop: module('../../../test/modules/loop.wasm'),
  startLoop: module('../../../test/modules/start-loop.wasm'),
  unreachable: module('../../../test/modules/unreachable.wasm'),
  output: module('../../../test/modules/output-2mib.wasm'),
  exit: module('../../../test/modules/exit-stderr.wasm'),
  notJson: module('../../../test/modules/not-json.wasm'),
  memory: module('../../../test/modules/memory-grow.wasm'),
  importEnv: module('../../../test/modules/import-env.wasm'),
};

const runner = new WasmRunner({ threads: 2 });
afterAll(() => runner.close());

test('100 concurrent runs mixing good and hostile modules: every good run returns its own output', async () => {
  const hostile: Array<[keyof typeof modules, string]> = [
    ['loop', 'wasm_timeout'],
    ['startLoop', 'wasm_timeout'],
    ['unreachable', 'wasm_trap'],
    ['output', 'wasm_output_too_large'],
    ['exit', 'wasm_exit'],
    ['notJson', 'wasm_bad_output'],
    ['importEnv', 'wasm_rejected'],
  ];
  const runs = Array.from({ length: 100 }, (_, i) => {
    if (i % 2 === 0) {
      const input = { i, text: `run ${i}` };
      return runner.run({ ...modules.echo, input, timeoutMs: 10_000 }).then((r) => expect(r.output).toEqual(input));
    }
    if (i % 4 === 1) {
      const input = { i, text: `run ${i} straße` };
      return runner
        .run({ ...modules.uppercase, input, timeoutMs: 10_000 })
        .then((r) => expect(r.output).toEqual({ i, text: `RUN ${i} STRASSE` }));
    }
    if (i % 20 === 3) {
      return runner.run({ ...modules.sleep, input: { ms: 5 }, timeoutMs: 10_000 }).then((r) => expect(r.output).toMatchObject({ events: 1 }));
    }
    if (i % 20 === 7) {
      return runner.run({ ...modules.memory, input: {}, timeoutMs: 10_000 }).then((r) => expect(r.output).toEqual({ pages: 1024 }));
    }
    const [name, code] = hostile[i % hostile.length]!;
    return expect(runner.run({ ...modules[name], input: { i }, timeoutMs: 100 })).rejects.toMatchObject({ code });
  });
  await Promise.all(runs);
  await runner.ready();
  expect(runner.stats()).toMatchObject({ threads: 2, busy: 0, queued: 0 });
});
