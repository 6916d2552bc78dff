/**
 * The public shapes of one agent run: what the api and the worker hand to `runAgent`, and what they get back.
 * Kept free of ADK and provider SDK types so importing them costs nothing.
 */
import type { AgentDefinition, ChatMessage, TokenUsage } from '@mule/core';

/** A provider as the caller resolved it: env vars already read, stored keys already decrypted. */
export interface ProviderConfig {
  name: string;
  type: 'openai' | 'gemini';
  baseUrl?: string;
  apiKey?: string;
}

/** A tool the agent may call; the caller wires `run` to the WASM runner. */
export interface AgentTool {
  name: string;
  description: string;
  /** JSON Schema of the arguments (type object); arguments are checked against it before `run`. */
  parameters?: Record<string, unknown>;
  run(args: unknown, signal: AbortSignal): Promise<unknown>;
}

export interface AgentRunRequest {
  /** instruction, model, temperature/top_p/max_tokens, max_tool_calls (default 10). */
  agent: AgentDefinition;
  provider: ProviderConfig;
  /** The agent's tools, resolved by the caller. */
  tools: AgentTool[];
  /**
   * The whole conversation. System (and developer) messages add to the instruction; user and assistant turns
   * reach the provider in order; the last message must be a user message. Tool messages are not Mule's
   * (its tools run inside the agent) and are left out.
   */
  messages: ChatMessage[];
  /** Aborting it aborts the provider request and any tool run; `runAgent` then rejects with `cancelled`. */
  signal?: AbortSignal;
  /** When set, the provider is called in streaming mode and text deltas are reported as they arrive. */
  onTextDelta?: (delta: string) => void;
  /** Per-request model parameters (from the chat request); they win over the agent definition's. */
  overrides?: { temperature?: number; top_p?: number; max_tokens?: number };
}

export type AgentFinishReason = 'stop' | 'length' | 'content_filter';

export interface AgentRunResult {
  /** The model's text across the run (turns separated by a blank line); equals the streamed deltas joined. */
  text: string;
  /** Summed over every LLM call of the run. */
  usage: TokenUsage;
  /** The finish reason of the last LLM call. */
  finishReason: AgentFinishReason;
  llmCalls: number;
  /** Tool calls the model made, including rejected ones (unknown tool, malformed or invalid arguments). */
  toolCalls: number;
}
