/**
 * Workflow graphs, one sync call at a time over HTTP: what each extra step of a linear WASM workflow costs (10
 * steps against 1, alternating, so drift of the machine falls on both), a fan-out of 8 agent steps against a
 * provider that answers in 200 ms (ideal: one provider call's time), and a for_each of 100 items with concurrency
 * 10 over the same provider (ideal: 10 rounds of 200 ms).
 */
import { post } from './http-client.js';
import { latency, type Latency } from './stats.js';

export interface GraphLatency {
  linear_1: Latency;
  linear_10: Latency;
  /** (p50 of 10 steps - p50 of 1 step) / 9. */
  per_extra_step_p50: number;
  fan_out_8_agents: Latency;
  for_each_100_by_10: Latency;
}

export const PROVIDER_DELAY_MS = 200;

async function put(apiUrl: string, path: string, body: unknown): Promise<void> {
  const response = await fetch(`${apiUrl}${path}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (response.status !== 200 && response.status !== 201) throw new Error(`PUT ${path} answered ${response.status}: ${await response.text()}`);
}

async function call(apiUrl: string, model: string): Promise<number> {
  const body = JSON.stringify({ model, messages: [{ role: 'user', content: 'hello' }] });
  const started = performance.now();
  const answer = await post(`${apiUrl}/v1/chat/completions`, body);
  if (answer.status !== 200) throw new Error(`${model} answered ${answer.status}: ${answer.body}`);
  return performance.now() - started;
}

/** `slowFakeUrl`: an OpenAI-compatible base URL answering every call after PROVIDER_DELAY_MS. Needs the `echo` module. */
export async function measureGraphs(apiUrl: string, slowFakeUrl: string, sizes: { linear: number; fanOut: number; forEach: number }): Promise<GraphLatency> {
  await put(apiUrl, '/v1/workflows/linear-1', { steps: [{ id: 's0', wasm: 'echo' }] });
  await put(apiUrl, '/v1/workflows/linear-10', { steps: Array.from({ length: 10 }, (_, i) => ({ id: `s${i}`, wasm: 'echo' })) });
  await put(apiUrl, '/v1/providers/bench-slow', { type: 'openai', base_url: slowFakeUrl });
  await put(apiUrl, '/v1/agents/bench-slow-agent', { provider: 'bench-slow', model: 'fake-model' });
  await put(apiUrl, '/v1/workflows/fan-out-8', {
    steps: Array.from({ length: 8 }, (_, i) => ({ id: `a${i}`, agent: 'bench-slow-agent', needs: [] })),
  });
  const items = `[${Array.from({ length: 100 }, (_, i) => i).join(',')}]`;
  await put(apiUrl, '/v1/workflows/for-each-100', { steps: [{ id: 'each', agent: 'bench-slow-agent', for_each: items, concurrency: 10 }] });

  const one: number[] = [];
  const ten: number[] = [];
  const warmup = Math.min(100, sizes.linear);
  for (let i = 0; i < warmup + sizes.linear; i++) {
    const a = await call(apiUrl, 'workflow/linear-1');
    const b = await call(apiUrl, 'workflow/linear-10');
    if (i >= warmup) {
      one.push(a);
      ten.push(b);
    }
  }
  const timed = async (model: string, n: number) => {
    await call(apiUrl, model);
    const samples: number[] = [];
    for (let i = 0; i < n; i++) samples.push(await call(apiUrl, model));
    return latency(samples);
  };
  const linear_1 = latency(one);
  const linear_10 = latency(ten);
  return {
    linear_1,
    linear_10,
    per_extra_step_p50: Math.round(((linear_10.p50 - linear_1.p50) / 9) * 1000) / 1000,
    fan_out_8_agents: await timed('workflow/fan-out-8', sizes.fanOut),
    for_each_100_by_10: await timed('workflow/for-each-100', sizes.forEach),
  };
}
