/** Sync one-step WASM workflow over HTTP, one request at a time: the latency a caller sees end to end. */
import { post } from './http-client.js';
import { latency, timeSequential, type Latency } from './stats.js';

export async function measureSyncWorkflow(apiUrl: string, model: string, n: number): Promise<Latency> {
  const body = JSON.stringify({ model, messages: [{ role: 'user', content: 'hello' }] });
  const samples = await timeSequential(n, Math.min(200, n), async () => {
    const answer = await post(`${apiUrl}/v1/chat/completions`, body);
    if (answer.status !== 200) throw new Error(`sync call answered ${answer.status}: ${answer.body}`);
  });
  return latency(samples);
}

/** The same request through Mule's direct WASM route (no queue), for comparison. */
export async function measureWasmExecute(apiUrl: string, module: string, n: number): Promise<Latency> {
  const body = JSON.stringify({ module, input: { prompt: 'hello' } });
  const samples = await timeSequential(n, Math.min(200, n), async () => {
    const answer = await post(`${apiUrl}/v1/wasm/execute`, body);
    if (answer.status !== 200) throw new Error(`wasm execute answered ${answer.status}: ${answer.body}`);
  });
  return latency(samples);
}
