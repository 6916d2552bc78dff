/**
 * OpenAI chat messages as Mule reads them, and the data-flow rules (README "Behaviour where the spec is silent"): what a job's input is, what an
 * agent step sends as its user message, and what the chat completion's content is.
 */
import { z } from 'zod';

const contentPartSchema = z.looseObject({ type: z.string().max(64) });

/** One message as OpenAI clients send it; fields Mule does not use are accepted and kept. */
export const chatMessageSchema = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  content: z.union([z.string(), z.null(), z.array(contentPartSchema).max(1000)]).optional(),
  name: z.string().max(256).optional(),
});
export type ChatMessage = z.infer<typeof chatMessageSchema>;

export const JOB_STATUSES = ['queued', 'running', 'waiting', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const FINISHED_STATUSES: readonly JobStatus[] = ['completed', 'failed', 'cancelled'];

export function isFinished(status: JobStatus): boolean {
  return FINISHED_STATUSES.includes(status);
}

/**
 * A step attempt's status (one `job_steps` row per attempt; it never waits in a queue, so it has no `queued`):
 * `waiting` is a wait step until resumed, `skipped` a step whose `if` was false.
 */
export const STEP_STATUSES = ['running', 'waiting', 'completed', 'failed', 'skipped', 'cancelled'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

/** A message's text: a string as is; an array of parts as its text parts joined by newlines. */
export function messageText(message: Pick<ChatMessage, 'content'>): string {
  const content = message.content;
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .filter((part) => part['type'] === 'text' && typeof part['text'] === 'string')
    .map((part) => part['text'] as string)
    .join('\n');
}

export interface JobInput {
  prompt: string;
  messages: ChatMessage[];
}

/** A job's input: `{prompt: <text of the last user message>, messages}`; prompt is "" when no user spoke. */
export function buildJobInput(messages: ChatMessage[]): JobInput {
  const lastUser = [...messages].reverse().find((message) => message.role === 'user');
  return { prompt: lastUser ? messageText(lastUser) : '', messages };
}

/** What an agent step sends as the user message: `input.prompt` when a string, else the input as JSON. */
export function agentPromptOf(input: unknown): string {
  if (input && typeof input === 'object' && typeof (input as { prompt?: unknown }).prompt === 'string') {
    return (input as { prompt: string }).prompt;
  }
  return JSON.stringify(input ?? null);
}

/** The chat completion's content for a job output: `output.prompt` when a string, else the output as JSON. */
export function completionContentOf(output: unknown): string {
  return agentPromptOf(output);
}

export interface TokenUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export function addUsage(total: TokenUsage, more: TokenUsage | null | undefined): TokenUsage {
  if (!more) return total;
  return {
    prompt_tokens: total.prompt_tokens + more.prompt_tokens,
    completion_tokens: total.completion_tokens + more.completion_tokens,
    total_tokens: total.total_tokens + more.total_tokens,
  };
}

export const ZERO_USAGE: TokenUsage = Object.freeze({ prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });
