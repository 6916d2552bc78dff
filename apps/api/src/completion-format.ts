/** The OpenAI chat-completion objects Mule answers with: whole completions and streaming chunks. */
import type { TokenUsage } from '@mule/core';

export type FinishReason = 'stop' | 'length' | 'content_filter';

const seconds = (date: Date) => Math.floor(date.getTime() / 1000);

export function completion(id: string, model: string, created: Date, content: string, usage: TokenUsage, finishReason: FinishReason = 'stop') {
  return {
    id,
    object: 'chat.completion' as const,
    created: seconds(created),
    model,
    choices: [{ index: 0, message: { role: 'assistant' as const, content, refusal: null }, logprobs: null, finish_reason: finishReason }],
    usage,
    system_fingerprint: null,
  };
}

/** Builds the chunks of one streamed completion. */
export function chunker(id: string, model: string, created: Date) {
  const base = { id, object: 'chat.completion.chunk' as const, created: seconds(created), model, system_fingerprint: null };
  return {
    role: () => ({ ...base, choices: [{ index: 0, delta: { role: 'assistant' as const, content: '' }, logprobs: null, finish_reason: null }] }),
    content: (text: string) => ({ ...base, choices: [{ index: 0, delta: { content: text }, logprobs: null, finish_reason: null }] }),
    finish: (finishReason: FinishReason) => ({ ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: finishReason }] }),
    /** The last chunk: usage, with no choices (as OpenAI sends it with stream_options.include_usage). */
    usage: (usage: TokenUsage) => ({ ...base, choices: [], usage }),
  };
}
