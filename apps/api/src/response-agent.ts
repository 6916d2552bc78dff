/**
 * A response from `agent/…`: the api runs the agent itself (runAgent, as agent-call.ts does), bounded the same way
 * (MULE_MAX_AGENT_CALLS, MULE_MAX_STREAMS for a stream, MULE_SYNC_TIMEOUT_MS). A stream sends the text deltas as the
 * provider's tokens arrive; it opens at the first token, so a run that fails before any output is a plain HTTP
 * error with the same code and status as chat completions. The response is stored (unless `store: false`) before
 * the answer is sent, so a client can continue it at once; a run the client left is not stored.
 */
import type { Response } from 'express';
import { MuleError } from '@mule/core';
import { runAgent, type AgentRunRequest, type PreparedAgent } from '@mule/agents';
import { insertStoredResponse } from '@mule/db';
import { CallBound } from './agent-call.js';
import type { ApiContext } from './api-context.js';
import { errorResponse } from './http-errors.js';
import { ResponseEvents, messageIdOf, responseObject, type ResponseState } from './response-format.js';
import type { ResponseRequest } from './response-request.js';
import { SseStream } from './sse.js';
import { agentResponseId, type Conversation } from './response-store.js';

export interface AgentResponseCall {
  request: ResponseRequest;
  conversation: Conversation;
  name: string;
  apiKeyId: string | null;
}

function overridesOf(request: ResponseRequest): AgentRunRequest['overrides'] {
  return {
    ...(request.temperature !== null ? { temperature: request.temperature } : {}),
    ...(request.topP !== null ? { top_p: request.topP } : {}),
    ...(request.maxOutputTokens !== null ? { max_tokens: request.maxOutputTokens } : {}),
  };
}

export async function createAgentResponse(ctx: ApiContext, res: Response, call: AgentResponseCall): Promise<void> {
  const { request } = call;
  if (request.background) {
    throw new MuleError('invalid_request', 'background is supported for workflow models (workflow/…); agent/… answers directly', {
      param: 'background',
    });
  }
  const prepared = await ctx.agents.get(call.name);
  if (!prepared) throw new MuleError('model_not_found', `The model \`${request.model}\` does not exist`, { param: 'model' });
  const releaseCall = ctx.capacity.agentCalls.take();
  let releaseStream = () => {};
  try {
    if (request.stream) releaseStream = ctx.capacity.streams.take();
    await runAgentResponse(ctx, res, call, prepared);
  } finally {
    releaseStream();
    releaseCall();
  }
}

async function runAgentResponse(ctx: ApiContext, res: Response, call: AgentResponseCall, prepared: PreparedAgent): Promise<void> {
  const { request } = call;
  const bound = new CallBound(res, call.name, ctx.config.MULE_SYNC_TIMEOUT_MS);
  const state: ResponseState = {
    id: agentResponseId(),
    model: request.model,
    createdAt: new Date(),
    status: 'in_progress',
    text: null,
    error: null,
    usage: null,
    completedAt: null,
    instructions: request.instructions,
    previousResponseId: request.previousResponseId,
    metadata: request.metadata,
    background: false,
    store: request.store,
    temperature: request.temperature,
    topP: request.topP,
    maxOutputTokens: request.maxOutputTokens,
  };
  const store = async (done: ResponseState) => {
    if (!request.store) return;
    await insertStoredResponse(ctx.pool, {
      id: done.id,
      apiKeyId: call.apiKeyId,
      model: request.model,
      jobId: null,
      previousResponseId: request.previousResponseId,
      instructions: request.instructions,
      messages: call.conversation.messages,
      metadata: request.metadata,
      background: false,
      status: done.status === 'completed' ? 'completed' : 'failed',
      outputText: done.text,
      error: done.error,
      usage: done.usage,
    });
  };
  const run: AgentRunRequest = { ...prepared, messages: call.conversation.run, signal: bound.signal, overrides: overridesOf(request) };
  try {
    if (!request.stream) {
      const result = await runAgent(run).catch((error: unknown) => Promise.reject(bound.explain(error)));
      ctx.metrics.tokens(prepared.provider.name, prepared.agent.model, result.usage);
      const done: ResponseState = { ...state, status: 'completed', text: result.text, usage: result.usage, completedAt: new Date() };
      await store(done);
      res.json(responseObject(done));
      return;
    }
    await streamAgent(ctx, res, run, bound, state, store);
  } finally {
    bound.clear();
  }
}

async function streamAgent(
  ctx: ApiContext,
  res: Response,
  run: AgentRunRequest,
  bound: CallBound,
  state: ResponseState,
  store: (done: ResponseState) => Promise<void>,
): Promise<void> {
  const sse = new SseStream(res);
  const events = new ResponseEvents(messageIdOf(state.id));
  const open = () => {
    if (!sse.started) sse.events(events.created(responseObject({ ...state, status: 'in_progress' })));
  };
  try {
    const result = await runAgent({ ...run, onTextDelta: (delta) => (open(), sse.events(events.delta(delta))) });
    ctx.metrics.tokens(run.provider.name, run.agent.model, result.usage);
    const done: ResponseState = { ...state, status: 'completed', text: result.text, usage: result.usage, completedAt: new Date() };
    await store(done);
    open();
    sse.events(events.completed(responseObject(done)));
    sse.end();
  } catch (caught) {
    if (bound.clientGone) return sse.dispose();
    const error = bound.explain(caught);
    if (!sse.started) {
      sse.dispose();
      throw error;
    }
    ctx.log.warn({ err: (error as Error).message, model: state.model }, 'agent response stream failed after it started');
    const { code, message } = errorResponse(error).body.error;
    const failed: ResponseState = { ...state, status: 'failed', error: { code, message }, completedAt: new Date() };
    await store(failed).catch((storeError: unknown) => ctx.log.warn({ err: (storeError as Error).message }, 'could not store a failed response'));
    sse.events(events.failed(responseObject(failed)));
    sse.end();
  }
}
