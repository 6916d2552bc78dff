import { readFileSync } from 'node:fs';
import { WasmRunner, sha256Hex } from '@mule/wasm-runner';
const runner = new WasmRunner({ threads: 2 });
await runner.ready();
const bytes = readFileSync('/work/main/test/modules/echo.wasm');
const req = { sha256: sha256Hex(bytes), loadBytes: async () => bytes, input: { prompt: 'hello', messages: [{ role: 'user', content: 'hi' }] }, timeoutMs: 1000 };
for (let i = 0; i < 3000; i++) await runner.run(req);
const times = [];
for (let i = 0; i < 10000; i++) { const t = performance.now(); await runner.run(req); times.push(performance.now() - t); }
times.sort((a, b) => a - b);
const q = (p) => times[Math.floor(p * times.length)].toFixed(4);
console.log('sequential warm run: p50', q(0.5), 'p90', q(0.9), 'p99', q(0.99), 'ms');
// throughput with concurrency
const t0 = performance.now(); const N = 20000;
let inflight = []; for (let i = 0; i < N; i++) { inflight.push(runner.run(req)); if (inflight.length >= 8) { await Promise.all(inflight); inflight = []; } }
await Promise.all(inflight);
console.log('throughput (8 in flight, 2 threads):', Math.round(N / ((performance.now() - t0) / 1000)), 'runs/s');
await runner.close();
