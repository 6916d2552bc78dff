/**
 * Time to first token: a one-agent-step workflow streamed (`workflow/<name>`, `stream: true`: submit, queue, claim
 * by a worker, the agent step relays its tokens by NOTIFY through PostgreSQL to the api) against the same agent
 * streamed through `agent/<name>` (the api runs it itself). The provider is the test suite's fake streaming its
 * words 20 ms apart, its first at once, so the difference is what the workflow path adds before the first token.
 * Target: ≤ 10 ms p50.
 *
 * Both use the `openai` client, one call at a time, alternating, so client cost and machine drift fall on both.
 */
import OpenAI from 'openai';
import { latency, type Latency } from './stats.js';

export interface WorkflowTtft {
  n: number;
  /** First content delta of `agent/<name>`. */
  agent: Latency;
  /** First content delta of a workflow whose one step is that agent. */
  workflow: Latency;
  /** workflow minus agent, per percentile (ms). */
  added_p50: number;
  added_p99: number;
}

const PROVIDER = 'bench-stream';
const AGENT = 'bench-streamer';
const WORKFLOW = 'bench-streamed';
const WARMUP = 30;
/** What the fake provider should answer (its `onRequest`): five words 20 ms apart. */
export const TTFT_REPLY = { text: 'one two three four five', tokenDelayMs: 20 };

async function put(apiUrl: string, path: string, body: unknown): Promise<void> {
  const response = await fetch(`${apiUrl}${path}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (response.status !== 200 && response.status !== 201) throw new Error(`PUT ${path} answered ${response.status}: ${await response.text()}`);
}

/** `fakeUrl`: a fake provider answering TTFT_REPLY. The api needs a worker for the workflow side. */
export async function measureWorkflowTtft(apiUrl: string, fakeUrl: string, n: number): Promise<WorkflowTtft> {
  await put(apiUrl, `/v1/providers/${PROVIDER}`, { type: 'openai', base_url: fakeUrl });
  await put(apiUrl, `/v1/agents/${AGENT}`, { provider: PROVIDER, model: 'fake-model', instruction: 'Answer briefly.' });
  await put(apiUrl, `/v1/workflows/${WORKFLOW}`, { steps: [{ id: 'answer', agent: AGENT }] });
  const client = new OpenAI({ apiKey: 'bench', maxRetries: 0, timeout: 30_000, baseURL: `${apiUrl}/v1` });

  const firstToken = async (model: string): Promise<number> => {
    const started = performance.now();
    let first = NaN;
    let text = '';
    const stream = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hello' }], stream: true });
    for await (const chunk of stream) {
      const content = chunk.choices[0]?.delta.content ?? '';
      if (content && Number.isNaN(first)) first = performance.now() - started;
      text += content;
    }
    if (text !== TTFT_REPLY.text) throw new Error(`${model}: unexpected answer ${JSON.stringify(text)}`);
    return first;
  };
  const agentSamples: number[] = [];
  const workflowSamples: number[] = [];
  for (let i = 0; i < WARMUP + n; i++) {
    const order = i % 2 === 0 ? ([`agent/${AGENT}`, `workflow/${WORKFLOW}`] as const) : ([`workflow/${WORKFLOW}`, `agent/${AGENT}`] as const);
    for (const model of order) {
      const ms = await firstToken(model);
      if (i >= WARMUP) (model.startsWith('agent/') ? agentSamples : workflowSamples).push(ms);
    }
  }
  const agent = latency(agentSamples);
  const workflow = latency(workflowSamples);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return { n, agent, workflow, added_p50: round(workflow.p50 - agent.p50), added_p99: round(workflow.p99 - agent.p99) };
}
