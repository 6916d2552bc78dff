/**
 * Mule's tools as ADK tools. Arguments are checked against the tool's JSON Schema before it runs; a failed check,
 * a rejected call and a tool failing with a MuleError (a WASM trap, timeout…) all answer the model with
 * `{ error }` as the tool result, so it can correct itself while max_tool_calls bounds the attempts. An MCP server
 * that cannot be reached (`tool_error`) ends the run: the model cannot fix it. Anything else a tool throws is a bug
 * in Mule, and ends the run as such.
 */
import { isMuleError, toMuleError, type MuleError } from '@mule/core';
import { BaseTool, type RunAsyncToolRequest, type ToolProcessLlmRequest } from './adk.js';
import { REJECTED_CALL_TOOL, type RejectedCallArgs } from './rejected-call.js';
import type { AgentTool } from './run-request.js';
import { checkArguments } from './tool-schema.js';

/** What a tool needs from its run: the signal to stop with, and a way to end the run on a bug. */
export interface ToolRunContext {
  readonly signal: AbortSignal;
  fail(error: MuleError): void;
}

const NO_PARAMETERS = Object.freeze({ type: 'object', properties: {} });

export class MuleTool extends BaseTool {
  constructor(
    private readonly tool: AgentTool,
    private readonly context: ToolRunContext,
  ) {
    super({ name: tool.name, description: tool.description });
  }

  override _getDeclaration(): ReturnType<BaseTool['_getDeclaration']> {
    // Plain JSON Schema: Gemini takes it as is, and the OpenAI adapter needs no conversion.
    return { name: this.name, description: this.description, parametersJsonSchema: this.tool.parameters ?? NO_PARAMETERS };
  }

  override async runAsync({ args }: RunAsyncToolRequest): Promise<unknown> {
    const problem = checkArguments(this.tool.parameters, args);
    if (problem) return { error: problem };
    try {
      return await this.tool.run(args, this.context.signal);
    } catch (error) {
      if (this.context.signal.aborted) throw error;
      if (isMuleError(error) && error.code !== 'tool_error') return { error: error.message };
      this.context.fail(toMuleError(error));
      throw error;
    }
  }
}

/** The hidden tool every rejected call is routed to (see rejected-call.ts); it is never declared to the model. */
export class RejectedCallTool extends BaseTool {
  constructor() {
    super({ name: REJECTED_CALL_TOOL, description: 'Answers tool calls that cannot run with the reason.' });
  }

  override async processLlmRequest({ llmRequest }: ToolProcessLlmRequest): Promise<void> {
    llmRequest.toolsDict[this.name] = this;
  }

  override async runAsync({ args }: RunAsyncToolRequest): Promise<unknown> {
    return { error: String((args as Partial<RejectedCallArgs>).error ?? 'this tool call cannot run') };
  }
}
