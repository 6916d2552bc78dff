import { readFileSync } from 'node:fs';
import { WasmRunner, sha256Hex, admitModule } from '@mule/wasm-runner';
const runner = new WasmRunner({ threads: 2 });
await runner.ready();
const load = (name) => { const bytes = readFileSync(`/work/main/test/modules/${name}.wasm`); return { sha256: sha256Hex(bytes), loadBytes: async () => bytes }; };
const names = process.argv.slice(2);
for (const name of names) {
  const t = performance.now();
  try {
    const r = await runner.run({ ...load(name), input: { ms: 30, hello: 'world' }, timeoutMs: 300 });
    console.log(name, 'OK', JSON.stringify(r.output).slice(0, 200), 'logs', r.logs.length, r.durationMs.toFixed(3), (performance.now()-t).toFixed(1));
  } catch (e) { console.log(name, e.code, e.message.slice(0, 300), (performance.now()-t).toFixed(1)); }
}
console.log(runner.stats());
await runner.close();
