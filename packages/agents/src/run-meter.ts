/**
 * What one run's model adapter reports besides the responses ADK sees: calls made, tokens used, the last finish
 * reason, and a provider failure with its typed details. ADK turns model failures into events carrying only an
 * `errorCode` string, so the typed error travels here instead; the model instance is created per run for this.
 */
import { MuleError, ZERO_USAGE, addUsage, type TokenUsage } from '@mule/core';
import type { AgentFinishReason } from './run-request.js';

export class RunMeter {
  llmCalls = 0;
  usage: TokenUsage = ZERO_USAGE;
  finishReason: AgentFinishReason = 'stop';
  failure: MuleError | undefined;

  startCall(): void {
    this.llmCalls += 1;
    this.finishReason = 'stop';
  }

  addUsage(promptTokens: number | undefined, completionTokens: number | undefined, totalTokens?: number): void {
    const prompt = promptTokens ?? 0;
    const completion = completionTokens ?? 0;
    this.usage = addUsage(this.usage, {
      prompt_tokens: prompt,
      completion_tokens: completion,
      total_tokens: totalTokens ?? prompt + completion,
    });
  }

  fail(error: MuleError): void {
    this.failure ??= error;
  }
}
