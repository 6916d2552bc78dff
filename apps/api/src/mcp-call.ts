/**
 * `tools/call` on `/mcp`: a workflow tool runs as a sync `workflow/<name>` call does (a job written in one
 * statement, waited for by LISTEN/NOTIFY under a `sync_waiters` slot and MULE_SYNC_TIMEOUT_MS), an agent tool as
 * an `agent/<name>` call does (in the api, under an `agent_calls` slot and the same time bound). What the job or
 * agent answers is the tool result; a Mule error (the job failed, was cancelled or timed out, a full queue, bad
 * arguments) is a tool result with `isError: true` naming its code, so the model reads it; only an unknown tool
 * is a protocol error.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { completionContentOf, formatJobId, isMuleError, MuleError, timeOrderedId } from '@mule/core';
import { runAgent } from '@mule/agents';
import { insertJob, type ToolSource } from '@mule/db';
import { currentTraceContext } from '@mule/observability';
import type { ApiContext } from './api-context.js';
import { promptMessages, jobInputOf } from './mcp-tools.js';
import { outcomeOf } from './workflow-call.js';

/** Where a tool result names its job (the `_meta` key follows MCP's `prefix/name` form). */
export const JOB_ID_META = 'mule/job-id';

export interface SubmittedToolJob {
  /** The job's UUID. */
  id: string;
  createdAt: Date;
}

/** Writes a workflow tool's job (its row and queue entry in one statement, as submit-job.ts does). */
export async function submitToolJob(ctx: ApiContext, id: string, source: ToolSource, args: Record<string, unknown> | undefined, apiKeyId: string | null): Promise<SubmittedToolJob> {
  const input = jobInputOf(source, args);
  const model = `workflow/${source.name}`;
  const target = await ctx.targets.get(source.name);
  if (!target) throw new MuleError('model_not_found', `The model \`${model}\` does not exist`, { param: 'model' });
  await insertJob(ctx.queue, ctx.pool, { id, workflow: source.name, version: target.version, model, input, plan: target.plan, idempotencyKey: null, apiKeyId, traceContext: currentTraceContext() });
  ctx.announceJobs.send();
  return { id, createdAt: new Date() };
}

export function errorResult(error: MuleError, jobId?: string): CallToolResult {
  return {
    isError: true,
    content: [{ type: 'text', text: `${error.code}: ${error.message}` }],
    ...(jobId ? { _meta: { [JOB_ID_META]: jobId } } : {}),
  };
}

/** A finished job's output as a tool result: its text, and the object itself when it is one. */
export function outputResult(output: unknown, jobId: string): CallToolResult {
  const structured = output !== null && typeof output === 'object' && !Array.isArray(output);
  return {
    content: [{ type: 'text', text: completionContentOf(output) }],
    ...(structured ? { structuredContent: output as Record<string, unknown> } : {}),
    _meta: { [JOB_ID_META]: jobId },
  };
}

/** Runs a Mule error into a tool result; anything else (a bug, an unreachable database) stays a thrown error. */
async function asToolResult(work: () => Promise<CallToolResult>, jobId?: () => string | undefined): Promise<CallToolResult> {
  try {
    return await work();
  } catch (error) {
    if (isMuleError(error)) return errorResult(error, jobId?.());
    throw error;
  }
}

export function callWorkflowTool(
  ctx: ApiContext,
  source: ToolSource,
  args: Record<string, unknown> | undefined,
  apiKeyId: string | null,
  signal: AbortSignal,
): Promise<CallToolResult> {
  let publicId: string | undefined;
  return asToolResult(async () => {
    const timeoutMs = ctx.config.MULE_SYNC_TIMEOUT_MS;
    // Refused before the job is written, as on /v1: an `overloaded` result means nothing happened.
    const release = ctx.capacity.syncWaiters.take();
    try {
      const id = timeOrderedId();
      const gone = new AbortController();
      // Wait before the job exists: it cannot finish before we listen for it.
      const waiting = ctx.waiters.wait(id, timeoutMs, AbortSignal.any([signal, gone.signal]));
      try {
        await submitToolJob(ctx, id, source, args, apiKeyId);
      } catch (error) {
        gone.abort();
        throw error;
      }
      publicId = formatJobId(id);
      const result = await waiting;
      // The client went away: nobody reads this result (the job goes on, as on /v1).
      if (result.kind === 'aborted') throw new MuleError('cancelled', `the client went away; job ${publicId} goes on`);
      // Throws what /v1 would answer for a failed, cancelled or timed-out job (a tool error here).
      outcomeOf(result, publicId, timeoutMs);
      const output = result.kind === 'finished' ? result.outcome.output : null;
      return outputResult(output, publicId);
    } finally {
      release();
    }
  }, () => publicId);
}

export function callAgentTool(ctx: ApiContext, source: ToolSource, args: Record<string, unknown> | undefined, signal: AbortSignal): Promise<CallToolResult> {
  return asToolResult(async () => {
    const messages = promptMessages(args);
    const prepared = await ctx.agents.get(source.name);
    if (!prepared) throw new MuleError('model_not_found', `The model \`agent/${source.name}\` does not exist`, { param: 'model' });
    const release = ctx.capacity.agentCalls.take();
    const timeoutMs = ctx.config.MULE_SYNC_TIMEOUT_MS;
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), timeoutMs);
    try {
      const result = await runAgent({ ...prepared, messages, signal: AbortSignal.any([signal, timeout.signal]), overrides: {} }).catch((error: unknown) => {
        // runAgent reports every abort as `cancelled`; a run stopped by the time bound answers as a timeout.
        if (timeout.signal.aborted) {
          throw new MuleError('step_timeout', `agent "${source.name}" ran longer than MULE_SYNC_TIMEOUT_MS (${timeoutMs} ms)`);
        }
        throw error;
      });
      ctx.metrics.tokens(prepared.provider.name, prepared.agent.model, result.usage);
      return { content: [{ type: 'text', text: result.text }] };
    } finally {
      clearTimeout(timer);
      release();
    }
  });
}
