/**
 * Agent overhead: `agent/<name>` through Mule's api against the raw `openai` client making the same
 * call to the same provider directly. The provider is the test suite's fake, answering at once, so the difference
 * is what Mule adds: one more HTTP hop, the agent lookup, ADK's run loop and the OpenAI adapter. Target: ≤ 5 ms p50.
 *
 * Both sides use the `openai` client with the same settings, one call at a time, alternating, so client cost and
 * drift of the machine (two cores shared with the api and the fake) fall on both equally.
 */
import OpenAI from 'openai';
import { latency, type Latency } from './stats.js';

export interface AgentOverhead {
  n: number;
  /** The raw `openai` client calling the fake provider directly. */
  direct: Latency;
  /** The same client calling `agent/<name>` on Mule, which calls the fake provider. */
  mule: Latency;
  /** mule minus direct, per percentile (ms). */
  overhead_p50: number;
  overhead_p99: number;
}

const PROVIDER = 'bench-fake';
const AGENT = 'bench-agent';
const MODEL = 'fake-model';
const INSTRUCTION = 'Answer briefly.';
const PROMPT = 'hello';
const WARMUP = 100;

async function put(apiUrl: string, path: string, body: unknown): Promise<void> {
  const response = await fetch(`${apiUrl}${path}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (response.status !== 200 && response.status !== 201) throw new Error(`PUT ${path} answered ${response.status}: ${await response.text()}`);
}

/**
 * Defines a provider pointing at `fakeUrl` (an OpenAI-compatible base URL, e.g. the fake provider's `url`) and an
 * agent on it, then times `n` calls of each kind after a warm-up (which also loads ADK in the api).
 */
export async function measureAgentOverhead(apiUrl: string, fakeUrl: string, n: number): Promise<AgentOverhead> {
  await put(apiUrl, `/v1/providers/${PROVIDER}`, { type: 'openai', base_url: fakeUrl });
  await put(apiUrl, `/v1/agents/${AGENT}`, { provider: PROVIDER, model: MODEL, instruction: INSTRUCTION });

  const options = { apiKey: 'bench', maxRetries: 0, timeout: 30_000 };
  const mule = new OpenAI({ ...options, baseURL: `${apiUrl}/v1` });
  const direct = new OpenAI({ ...options, baseURL: fakeUrl });
  // What Mule sends the provider for this agent: the instruction as a system message, then the user's turn.
  const directCall = () =>
    direct.chat.completions.create({
      model: MODEL,
      messages: [
        { role: 'system', content: INSTRUCTION },
        { role: 'user', content: PROMPT },
      ],
    });
  const muleCall = () => mule.chat.completions.create({ model: `agent/${AGENT}`, messages: [{ role: 'user', content: PROMPT }] });

  const directSamples: number[] = [];
  const muleSamples: number[] = [];
  const time = async (call: () => Promise<OpenAI.ChatCompletion>, samples: number[], keep: boolean) => {
    const started = performance.now();
    const completion = await call();
    const elapsed = performance.now() - started;
    if (completion.choices[0]?.message.content !== PROMPT) throw new Error(`unexpected answer: ${JSON.stringify(completion.choices[0]?.message)}`);
    if (keep) samples.push(elapsed);
  };
  for (let i = 0; i < WARMUP + n; i++) {
    const keep = i >= WARMUP;
    // Alternate which goes first, so neither always runs on a just-woken event loop.
    if (i % 2 === 0) {
      await time(directCall, directSamples, keep);
      await time(muleCall, muleSamples, keep);
    } else {
      await time(muleCall, muleSamples, keep);
      await time(directCall, directSamples, keep);
    }
  }
  const directLatency = latency(directSamples);
  const muleLatency = latency(muleSamples);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    n,
    direct: directLatency,
    mule: muleLatency,
    overhead_p50: round(muleLatency.p50 - directLatency.p50),
    overhead_p99: round(muleLatency.p99 - directLatency.p99),
  };
}
