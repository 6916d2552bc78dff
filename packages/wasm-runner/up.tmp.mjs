import { readFileSync } from 'node:fs';
import { WasmRunner, sha256Hex } from '@mule/wasm-runner';
const runner = new WasmRunner({ threads: 1 });
const bytes = readFileSync('/work/main/examples/modules/uppercase.wasm');
const base = { sha256: sha256Hex(bytes), loadBytes: async () => bytes, timeoutMs: 2000 };
const inputs = [
  { prompt: 'hello', messages: [{ role: 'user', content: 'hi' }] },
  { text: 'straße café ǆ ﬁ 😀 "quoted" back\\slash \n\t\u0001 \ud800 lone' },
  [1, -2.5e10, true, false, null, 'x', { 'ключ': 'значение', 'a\u00e9': [[[]]] }],
  'just a string', 0, {},
];
for (const input of inputs) {
  const r = await runner.run({ ...base, input });
  console.log(JSON.stringify(input), '->', JSON.stringify(r.output), r.durationMs.toFixed(3));
}
// raw (invalid) input via a custom loader is impossible: input is JSON; test the invalid path via a string that is not JSON? stdin is always JSON.
await runner.close();
