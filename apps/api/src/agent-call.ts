/** `agent/<name>` (SPEC 5.1): the api runs the agent itself, with the whole conversation, and answers directly. */
import { randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import { MuleError } from '@mule/core';
import { runAgent } from '@mule/agents';
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

export async function runAgentCall(ctx: ApiContext, _req: Request, res: Response, request: ChatRequest, name: string): Promise<void> {
  const prepared = await ctx.agents.get(name);
  if (!prepared) throw new MuleError('model_not_found', `The model \`${request.model}\` does not exist`, { param: 'model' });
  const gone = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) gone.abort(new MuleError('cancelled', 'the client went away'));
  });
  const id = `chatcmpl-${randomUUID()}`;
  const created = new Date();
  const run = { ...prepared, messages: request.messages, signal: gone.signal, overrides: overridesOf(request) };

  if (!request.stream) {
    const result = await runAgent(run);
    ctx.metrics.tokens(prepared.provider.name, prepared.agent.model, result.usage);
    res.json(completion(id, request.model, created, result.text, result.usage, result.finishReason));
    return;
  }

  const sse = new SseStream(res);
  const chunks = chunker(id, request.model, created);
  let opened = false;
  const open = () => {
    if (!opened) sse.data(chunks.role());
    opened = true;
  };
  try {
    const result = await runAgent({ ...run, onTextDelta: (delta) => (open(), sse.data(chunks.content(delta))) });
    ctx.metrics.tokens(prepared.provider.name, prepared.agent.model, result.usage);
    open();
    sse.data(chunks.finish(result.finishReason));
    sse.data(chunks.usage(result.usage));
    sse.done();
  } catch (error) {
    if (gone.signal.aborted) return sse.dispose();
    if (!sse.started) {
      sse.dispose();
      throw error;
    }
    ctx.log.warn({ err: (error as Error).message, model: request.model }, 'agent stream failed after it started');
    sse.error(error);
  }
}
