/**
 * An `mcp_server` definition as agent tools: its tools (those its `tools` allow-list names, or all), each declared
 * with the server's JSON input schema and called over the process's shared session (mcp-sessions.ts).
 *
 * The model sees `<server>__<tool>`: servers often share tool names (`search`, `fetch`), and a WASM tool module
 * may be named like a server's tool, so the server's name keeps every name an agent sees distinct.
 * A result the server flags `isError` goes back to the model as `{ error }`, like a WASM tool's failure; a server
 * that cannot be reached is `tool_error` and ends the run (agent-tools.ts).
 */
import { DEFAULT_ENV_ALLOW, envVarAllowed, MuleError, type McpServerDefinition } from '@mule/core';
import type { McpServerTarget, McpSessionPool } from './mcp-sessions.js';
import type { AgentTool } from './run-request.js';

export const MCP_TOOL_SEPARATOR = '__';

/** The server with its header values read from `env`, each variable checked against MULE_ENV_ALLOW again. */
export function mcpTarget(definition: McpServerDefinition, env: Record<string, string | undefined>, envAllow: readonly string[] = DEFAULT_ENV_ALLOW): McpServerTarget {
  const headers: Record<string, string> = {};
  for (const [header, variable] of Object.entries(definition.headers_env ?? {})) {
    const problem = !envVarAllowed(variable, envAllow)
      ? `${variable}, which MULE_ENV_ALLOW does not allow a definition to read`
      : env[variable]
        ? undefined
        : `${variable}, which is not set in this process`;
    if (problem) {
      throw new MuleError('tool_error', `MCP server "${definition.name}": header ${header} comes from ${problem}`, {
        retryable: false,
        details: { server: definition.name },
      });
    }
    headers[header] = env[variable]!;
  }
  return { name: definition.name, url: definition.url, headers };
}

export async function mcpAgentTools(
  pool: McpSessionPool,
  definition: McpServerDefinition,
  env: Record<string, string | undefined>,
  envAllow?: readonly string[],
): Promise<AgentTool[]> {
  const target = mcpTarget(definition, env, envAllow);
  const allowed = definition.tools ? new Set(definition.tools) : undefined;
  const tools = (await pool.listTools(target)).filter((tool) => !allowed || allowed.has(tool.name));
  return tools.map((tool) => ({
    name: `${definition.name}${MCP_TOOL_SEPARATOR}${tool.name}`,
    description: tool.description,
    parameters: tool.inputSchema,
    run: async (args, signal) => {
      const answer = await pool.callTool(target, tool.name, (args ?? {}) as Record<string, unknown>, signal);
      return answer.isError ? { error: answer.text } : { result: answer.text };
    },
  }));
}
