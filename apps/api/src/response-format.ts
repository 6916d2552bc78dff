/**
 * The OpenAI `response` object Mule answers with, and the events of a streamed one. Fields the official client
 * types require but Mule has no use for get their neutral values (no tools, `tool_choice: "auto"`, no reasoning).
 */
import type { TokenUsage } from '@mule/core';

export type ResponseStatus = 'queued' | 'in_progress' | 'completed' | 'failed' | 'cancelled';

export interface ResponseState {
  id: string;
  model: string;
  createdAt: Date;
  status: ResponseStatus;
  /** The answer's text; null while there is none (queued, running, failed). */
  text: string | null;
  error: { code: string; message: string } | null;
  usage: TokenUsage | null;
  completedAt: Date | null;
  instructions: string | null;
  previousResponseId: string | null;
  metadata: Record<string, string>;
  background: boolean;
  store: boolean;
  temperature: number | null;
  topP: number | null;
  maxOutputTokens: number | null;
}

const seconds = (date: Date) => Math.floor(date.getTime() / 1000);

/** The output message's id: derived from the response's, so every read of a response shows the same one. */
export function messageIdOf(responseId: string): string {
  return `msg_${responseId.slice('resp_'.length)}`;
}

export function outputText(text: string) {
  return { type: 'output_text' as const, text, annotations: [] as never[], logprobs: [] as never[] };
}

export function outputMessage(messageId: string, status: 'in_progress' | 'completed', content: ReturnType<typeof outputText>[]) {
  return { type: 'message' as const, id: messageId, status, role: 'assistant' as const, content };
}

export function usageOf(usage: TokenUsage | null) {
  if (!usage) return null;
  return {
    input_tokens: usage.prompt_tokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: usage.completion_tokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: usage.total_tokens,
  };
}

export function responseObject(state: ResponseState) {
  const output = state.text === null ? [] : [outputMessage(messageIdOf(state.id), 'completed', [outputText(state.text)])];
  return {
    id: state.id,
    object: 'response' as const,
    created_at: seconds(state.createdAt),
    status: state.status,
    background: state.background,
    completed_at: state.completedAt && state.status === 'completed' ? seconds(state.completedAt) : null,
    error: state.error,
    incomplete_details: null,
    instructions: state.instructions,
    max_output_tokens: state.maxOutputTokens,
    model: state.model,
    output,
    // What the official client computes itself (the output_text parts of message items, joined): the same value
    // for callers that read the JSON directly.
    output_text: state.text ?? '',
    parallel_tool_calls: false,
    previous_response_id: state.previousResponseId,
    reasoning: null,
    store: state.store,
    temperature: state.temperature,
    text: { format: { type: 'text' as const } },
    tool_choice: 'auto' as const,
    tools: [] as never[],
    top_p: state.topP,
    truncation: 'disabled' as const,
    usage: usageOf(state.usage),
    user: null,
    metadata: state.metadata,
  };
}

/**
 * The events of one streamed response, numbered in order (`sequence_number` from 0). The output message is
 * opened at the first text (or at the end), so a response with no text yet has no output item.
 */
export class ResponseEvents {
  private sequence = 0;
  private text = '';
  private opened = false;

  constructor(private readonly messageId: string) {}

  private event<T extends object>(type: string, fields: T) {
    return { type, sequence_number: this.sequence++, ...fields };
  }

  created(response: ReturnType<typeof responseObject>) {
    return [this.event('response.created', { response }), this.event('response.in_progress', { response: { ...response, status: 'in_progress' } })];
  }

  private open() {
    if (this.opened) return [];
    this.opened = true;
    const item = outputMessage(this.messageId, 'in_progress', []);
    return [
      this.event('response.output_item.added', { output_index: 0, item }),
      this.event('response.content_part.added', { output_index: 0, content_index: 0, item_id: this.messageId, part: outputText('') }),
    ];
  }

  delta(delta: string) {
    this.text += delta;
    return [
      ...this.open(),
      this.event('response.output_text.delta', { output_index: 0, content_index: 0, item_id: this.messageId, delta, logprobs: [] }),
    ];
  }

  /** Closes the output message and ends with `response.completed`. */
  completed(response: ReturnType<typeof responseObject>) {
    const part = outputText(this.text);
    const where = { output_index: 0, content_index: 0, item_id: this.messageId };
    return [
      ...this.open(),
      this.event('response.output_text.done', { ...where, text: this.text, logprobs: [] }),
      this.event('response.content_part.done', { ...where, part }),
      this.event('response.output_item.done', { output_index: 0, item: outputMessage(this.messageId, 'completed', [part]) }),
      this.event('response.completed', { response }),
    ];
  }

  failed(response: ReturnType<typeof responseObject>) {
    return [this.event('response.failed', { response })];
  }
}
