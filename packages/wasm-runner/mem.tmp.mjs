import { readFileSync } from 'node:fs';
import { WasmRunner, sha256Hex } from '@mule/wasm-runner';
const runner = new WasmRunner({ threads: 2 });
const bytes = readFileSync('/work/main/test/modules/memory-grow.wasm');
const req = { sha256: sha256Hex(bytes), loadBytes: async () => bytes, input: {}, timeoutMs: 5000 };
const t = performance.now();
for (let i = 0; i < 300; i++) { await Promise.all([runner.run(req), runner.run(req)]); if (i % 50 === 0) console.log(i, 'rss MiB', Math.round(process.memoryUsage().rss / 2**20)); }
console.log('600 runs of 64 MiB each', ((performance.now() - t)/600).toFixed(1), 'ms/run; rss MiB', Math.round(process.memoryUsage().rss / 2**20));
await runner.close();
