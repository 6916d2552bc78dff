/**
 * @mule/agents: the one place that imports Google ADK and provider SDKs. `runAgent` runs an agent definition
 * on ADK against an OpenAI-compatible provider or Gemini, with Mule's tools, for both the api and the worker.
 *
 * Importing this module is cheap; ADK (~1 s) loads on the first run, or at process start through `loadAdk`.
 */
import type { AgentRunRequest, AgentRunResult } from './run-request.js';

export type { AgentFinishReason, AgentRunRequest, AgentRunResult, AgentTool, ProviderConfig } from './run-request.js';

type Engine = typeof import('./run-agent.js');
let engine: Promise<Engine> | undefined;

function loadEngine(): Promise<Engine> {
  // One import per process; a failed import (a broken install) is not cached, so the next call reports it again.
  engine ??= import('./run-agent.js').catch((error: unknown) => {
    engine = undefined;
    throw error;
  });
  return engine;
}

/** Optional warm-up: loads ADK once, so the first agent run does not pay for it. */
export async function loadAdk(): Promise<void> {
  await loadEngine();
}

/** Runs one agent over a conversation; rejects with a MuleError (provider_error, tool_call_limit, cancelled…). */
export async function runAgent(request: AgentRunRequest): Promise<AgentRunResult> {
  const { runAgentWithAdk } = await loadEngine();
  return runAgentWithAdk(request);
}

export { AgentDirectory, prepareAgent, resolveProvider } from './named-agent.js';
export { createAgentDirectory, WASM_TOOL_TIMEOUT_MS, type AgentDirectoryOptions, type ToolModuleRun } from './create-agent-directory.js';
export type { AgentCatalog, AgentRuntime, PreparedAgent, ToolModule } from './named-agent.js';
export { McpSessionPool, type McpServerTarget, type McpToolInfo } from './mcp-sessions.js';
export { MCP_TOOL_SEPARATOR } from './mcp-tools.js';
