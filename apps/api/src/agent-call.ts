/**
 * `agent/<name>`: the api runs the agent itself, with the whole conversation, and answers directly.
 * A run is bounded in calls by the agent's max_tool_calls and in time by MULE_SYNC_TIMEOUT_MS, the bound a
 * synchronous workflow call has (without it, only the provider client's 10-minute timeout per call would apply),
 * and in number by MULE_MAX_AGENT_CALLS (and MULE_MAX_STREAMS for a stream; capacity.ts).
 */
import { randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import { isMuleError, MuleError } from '@mule/core';
import { runAgent, type AgentRunRequest, type PreparedAgent } from '@mule/agents';
import type { ApiContext } from './api-context.js';
import type { ChatRequest } from './chat-request.js';
import { chunker, completion } from './completion-format.js';
import { SseStream } from './sse.js';

function overridesOf(request: ChatRequest): { temperature?: number; top_p?: number; max_tokens?: number } {
  const maxTokens = request.max_completion_tokens ?? request.max_tokens;
  return {
    ...(typeof request.temperature === 'number' ? { temperature: request.temperature } : {}),
    ...(typeof request.top_p === 'number' ? { top_p: request.top_p } : {}),
    ...(typeof maxTokens === 'number' ? { max_tokens: maxTokens } : {}),
  };
}

/** Stops a run when the client goes away or the time bound passes, and tells the two apart. */
export class CallBound {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  readonly signal: AbortSignal = this.controller.signal;

  constructor(res: Response, name: string, timeoutMs: number) {
    res.on('close', () => {
      if (!res.writableFinished) this.controller.abort(new MuleError('cancelled', 'the client went away'));
    });
    this.timer = setTimeout(
      () => this.controller.abort(new MuleError('step_timeout', `agent "${name}" ran longer than MULE_SYNC_TIMEOUT_MS (${timeoutMs} ms)`)),
      timeoutMs,
    );
  }

  get clientGone(): boolean {
    return this.signal.aborted && isMuleError(this.signal.reason) && this.signal.reason.code === 'cancelled';
  }

  /** runAgent reports every abort as `cancelled`; a run stopped by the timer answers as a timeout. */
  explain(error: unknown): unknown {
    return this.signal.aborted && !this.clientGone ? this.signal.reason : error;
  }

  clear(): void {
    clearTimeout(this.timer);
  }
}

export async function runAgentCall(ctx: ApiContext, _req: Request, res: Response, request: ChatRequest, name: string): Promise<void> {
  const prepared = await ctx.agents.get(name);
  if (!prepared) throw new MuleError('model_not_found', `The model \`${request.model}\` does not exist`, { param: 'model' });
  const releaseCall = ctx.capacity.agentCalls.take();
  let releaseStream = () => {};
  try {
    if (request.stream) releaseStream = ctx.capacity.streams.take();
    await callAgent(ctx, res, request, name, prepared);
  } finally {
    releaseStream();
    releaseCall();
  }
}

async function callAgent(
  ctx: ApiContext,
  res: Response,
  request: ChatRequest,
  name: string,
  prepared: PreparedAgent,
): Promise<void> {
  const bound = new CallBound(res, name, ctx.config.MULE_SYNC_TIMEOUT_MS);
  const id = `chatcmpl-${randomUUID()}`;
  const created = new Date();
  const run: AgentRunRequest = { ...prepared, messages: request.messages, signal: bound.signal, overrides: overridesOf(request) };
  try {
    if (!request.stream) {
      const result = await runAgent(run).catch((error: unknown) => Promise.reject(bound.explain(error)));
      ctx.metrics.tokens(prepared.provider.name, prepared.agent.model, result.usage);
      res.json(completion(id, request.model, created, result.text, result.usage, result.finishReason));
      return;
    }
    await streamAgent(ctx, res, request, run, bound, chunker(id, request.model, created));
  } finally {
    bound.clear();
  }
}

async function streamAgent(
  ctx: ApiContext,
  res: Response,
  request: ChatRequest,
  run: AgentRunRequest,
  bound: CallBound,
  chunks: ReturnType<typeof chunker>,
): Promise<void> {
  const sse = new SseStream(res);
  let opened = false;
  const open = () => {
    if (!opened) sse.data(chunks.role());
    opened = true;
  };
  try {
    const result = await runAgent({ ...run, onTextDelta: (delta) => (open(), sse.data(chunks.content(delta))) });
    ctx.metrics.tokens(run.provider.name, run.agent.model, result.usage);
    open();
    sse.data(chunks.finish(result.finishReason));
    sse.data(chunks.usage(result.usage));
    sse.done();
  } catch (caught) {
    if (bound.clientGone) return sse.dispose();
    const error = bound.explain(caught);
    if (!sse.started) {
      sse.dispose();
      throw error;
    }
    ctx.log.warn({ err: (error as Error).message, model: request.model }, 'agent stream failed after it started');
    sse.error(error);
  }
}
