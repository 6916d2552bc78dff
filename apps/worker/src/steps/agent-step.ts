/**
 * An AGENT step: `input.prompt` (or the input as JSON) is the user message; the output is
 * `{prompt: <the agent's final text>}`, with token usage stored on the step. When a stream waits on the job and
 * this is its output step, the text is relayed to the api as the provider sends it (token-relay.ts).
 */
import { agentPromptOf, MuleError, storableText, type AgentPlanStep } from '@mule/core';
import { runAgent, type AgentDirectory, type AgentRunResult } from '@mule/agents';
import { recordTokens } from '@mule/observability';
import type { TokenRelays } from '../token-relay.js';
import type { StepRunner } from './step-runner.js';
import { unstorableOutput } from './storable-output.js';

export function agentStep(agents: AgentDirectory, relays?: TokenRelays): StepRunner<AgentPlanStep> {
  return async ({ jobId, step, input, signal }) => {
    const prepared = await agents.get(step.name);
    if (!prepared) throw new MuleError('not_found', `step "${step.id}" names agent "${step.name}", which no longer exists`, { retryable: false });
    const sink = relays?.sinkFor(jobId, step.id) ?? null;
    let result: AgentRunResult;
    try {
      result = await runAgent({
        ...prepared,
        messages: [{ role: 'user', content: agentPromptOf(input) }],
        signal,
        // Only a relayed step asks the provider to stream: the others keep the plain call.
        ...(sink ? { onTextDelta: (delta: string) => sink.push(delta) } : {}),
      });
    } catch (error) {
      sink?.dispose();
      throw error;
    }
    // Every relayed payload is sent before the step's result is written, so the api has them before the job ends.
    await sink?.end();
    recordTokens(prepared.provider.name, prepared.agent.model, result.usage);
    // A model's text is stored as the step's output: what jsonb cannot hold (NUL, unpaired surrogates) is dropped
    // rather than failing a step the provider was paid for. The output is one string deep, so the depth rule of
    // storable-output.ts cannot apply; the check below only guards this shape against a future change.
    const output = { prompt: storableText(result.text) };
    const problem = unstorableOutput(output);
    if (problem) throw new MuleError('internal_error', `the agent step's output ${problem}`, { retryable: false });
    return { output, usage: result.usage };
  };
}
