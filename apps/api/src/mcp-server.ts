/**
 * One MCP server for one HTTP request (stateless Streamable HTTP, routes/mcp.ts): it knows the caller, lists the
 * tools the caller may use, calls them, and answers tasks (mcp-tasks.ts). It keeps nothing between requests, so
 * any api replica answers any request, a task included.
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  CancelTaskRequestSchema,
  ErrorCode,
  GetTaskPayloadRequestSchema,
  GetTaskRequestSchema,
  ListToolsRequestSchema,
  McpError,
  type CallToolResult,
  type CreateTaskResult,
} from '@modelcontextprotocol/sdk/types.js';
import { isMuleError, timeOrderedId } from '@mule/core';
import { findToolSource, listToolSources } from '@mule/db';
import { allows, callerKeyId, type Caller } from './access.js';
import type { ApiContext } from './api-context.js';
import { callAgentTool, callWorkflowTool, submitToolJob } from './mcp-call.js';
import { cancelTask, readTaskJob, taskOf, taskResult } from './mcp-tasks.js';
import { modelOf, parseToolName } from './mcp-tool-names.js';
import { toolsFor } from './mcp-tools.js';

export const MCP_SERVER_NAME = 'mule';

export function createMcpServer(ctx: ApiContext, caller: Caller): Server {
  const server = new Server(
    { name: MCP_SERVER_NAME, version: '0.1.0' },
    {
      capabilities: {
        tools: { listChanged: false },
        tasks: { cancel: {}, requests: { tools: { call: {} } } },
      },
      instructions: 'Each tool runs a Mule workflow (workflow_<name>) or agent (agent_<name>). A workflow tool may be called as a task: its task id is the Mule job id.',
    },
  );

  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: toolsFor(caller, await listToolSources(ctx.prisma)) }));

  server.setRequestHandler(CallToolRequestSchema, async (request, extra): Promise<CallToolResult | CreateTaskResult> => {
    const { name, arguments: args, task } = request.params;
    const target = parseToolName(name);
    const source = target && allows(caller, modelOf(target)) ? await findToolSource(ctx.prisma, target.kind, target.name) : null;
    // A tool the caller may not use is as unknown as one that does not exist (as /v1/models hides it).
    if (!source) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}`);
    if (source.kind === 'agent') {
      if (task) throw new McpError(ErrorCode.InvalidParams, `Tool ${name} does not support task-augmented execution (an agent runs for the length of the call)`);
      return callAgentTool(ctx, source, args, extra.signal);
    }
    if (!task) return callWorkflowTool(ctx, source, args, callerKeyId(caller), extra.signal);
    try {
      const submitted = await submitToolJob(ctx, timeOrderedId(), source, args, callerKeyId(caller));
      return { task: taskOf({ ...submitted, status: 'queued', startedAt: null, completedAt: null }) };
    } catch (error) {
      // Bad arguments or a full queue before anything ran: the error a direct call would answer, as a protocol
      // error since a task-augmented call must answer a task or an error.
      if (isMuleError(error)) throw new McpError(ErrorCode.InvalidParams, `${error.code}: ${error.message}`);
      throw error;
    }
  });

  server.setRequestHandler(GetTaskRequestSchema, async (request) => taskOf(await readTaskJob(ctx, caller, request.params.taskId)));
  server.setRequestHandler(GetTaskPayloadRequestSchema, (request, extra) => taskResult(ctx, caller, request.params.taskId, extra.signal));
  server.setRequestHandler(CancelTaskRequestSchema, (request) => cancelTask(ctx, caller, request.params.taskId));
  return server;
}
