/**
 * From an agent's name to a ready run: its definition, its provider (env vars read and stored key decrypted in
 * the process that runs it), and its tools bound to the WASM runner. Prepared agents are cached per process;
 * `clear()` after any definition change (the api and the worker hear of changes by NOTIFY); it also closes the MCP
 * sessions of servers that were removed or changed.
 */
import { DEFAULT_ENV_ALLOW, envVarAllowed, KeyedLoader, MuleError, type AgentDefinition, type McpServerDefinition, type ProviderDefinition } from '@mule/core';
import { McpSessionPool, type McpServerTarget } from './mcp-sessions.js';
import { mcpAgentTools, mcpTarget } from './mcp-tools.js';
import type { AgentTool, ProviderConfig } from './run-request.js';

/** A module that declares `tool`, as an agent sees it. */
export interface ToolModule {
  name: string;
  description: string;
  parameters?: Record<string, unknown>;
  sha256: string;
}

/** Where definitions come from (the database, in Mule: prisma/src/agent-catalog.ts). */
export interface AgentCatalog {
  agent(name: string): Promise<AgentDefinition | null>;
  provider(name: string): Promise<{ definition: Omit<ProviderDefinition, 'api_key'>; apiKeyCipher: string | null } | null>;
  tools(names: string[]): Promise<ToolModule[]>;
  /** The MCP servers among `names`, or every one without `names`. */
  mcpServers?(names?: string[]): Promise<McpServerDefinition[]>;
}

export interface AgentRuntime {
  catalog: AgentCatalog;
  /** The environment of the process that runs the agent (base_url_env, api_key_env are read from it). */
  env: Record<string, string | undefined>;
  /** MULE_ENV_ALLOW: the variables a definition may name (DEFAULT_ENV_ALLOW when not given). */
  envAllow?: readonly string[];
  /** Decrypts a stored provider key (MULE_SECRET_KEY); throws when it cannot. */
  decrypt(cipher: string): string;
  /** Runs a tool's module on its input; resolves with its output JSON. */
  runModule(sha256: string, input: unknown, signal: AbortSignal): Promise<unknown>;
  /** The process's MCP sessions (one per server, shared by every run). */
  mcp?: McpSessionPool;
}

export interface PreparedAgent {
  agent: AgentDefinition;
  provider: ProviderConfig;
  tools: AgentTool[];
}

const OPENAI_DEFAULT_BASE_URL = 'https://api.openai.com/v1';

function fromEnv(runtime: AgentRuntime, provider: string, variable: string, what: string): string {
  // Checked here too, not only when the definition is written: one stored before the rule must not leak.
  if (!envVarAllowed(variable, runtime.envAllow ?? DEFAULT_ENV_ALLOW)) {
    throw new MuleError('provider_error', `provider "${provider}": ${what} comes from ${variable}, which MULE_ENV_ALLOW does not allow a definition to read`, {
      retryable: false,
      details: { provider },
    });
  }
  const value = runtime.env[variable];
  if (!value) {
    throw new MuleError('provider_error', `provider "${provider}": ${what} comes from ${variable}, which is not set in this process`, {
      retryable: false,
      details: { provider },
    });
  }
  return value;
}

/**
 * The stored key, decrypted. A process without MULE_SECRET_KEY, or with another one than the key was stored
 * with, cannot run the agent: that is a configuration error to name, not an internal error to hide.
 */
function storedKey(runtime: AgentRuntime, provider: string, cipher: string): string {
  try {
    return runtime.decrypt(cipher);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new MuleError('provider_error', `provider "${provider}": its stored API key cannot be read in this process (${reason})`, {
      retryable: false,
      details: { provider },
      cause: error,
    });
  }
}

export function resolveProvider(
  runtime: AgentRuntime,
  stored: { definition: Omit<ProviderDefinition, 'api_key'>; apiKeyCipher: string | null },
): ProviderConfig {
  const { definition } = stored;
  const baseUrl =
    definition.base_url ??
    (definition.base_url_env ? fromEnv(runtime, definition.name, definition.base_url_env, 'its base URL') : undefined) ??
    (definition.type === 'openai' ? OPENAI_DEFAULT_BASE_URL : undefined);
  const apiKey = definition.api_key_env
    ? fromEnv(runtime, definition.name, definition.api_key_env, 'its API key')
    : stored.apiKeyCipher
      ? storedKey(runtime, definition.name, stored.apiKeyCipher)
      : undefined;
  return {
    name: definition.name,
    type: definition.type,
    ...(baseUrl ? { baseUrl } : {}),
    ...(apiKey ? { apiKey } : {}),
  };
}

export async function prepareAgent(runtime: AgentRuntime, name: string): Promise<PreparedAgent | null> {
  const agent = await runtime.catalog.agent(name);
  if (!agent) return null;
  const order = agent.tools ?? [];
  const [provider, tools, servers] = await Promise.all([
    runtime.catalog.provider(agent.provider),
    runtime.catalog.tools(order),
    runtime.catalog.mcpServers?.(order) ?? [],
  ]);
  if (!provider) throw new MuleError('not_found', `agent "${name}" names provider "${agent.provider}", which does not exist`);
  const resolvedProvider = resolveProvider(runtime, provider);
  // Listing a server's tools connects to it: a server that cannot be reached fails the run with tool_error, and
  // since failures are not cached (KeyedLoader) the next run tries again.
  const serverTools = await Promise.all(
    servers.map(async (server) => ({ name: server.name, tools: await mcpAgentTools(runtime.mcp!, server, runtime.env, runtime.envAllow) })),
  );
  const moduleTools: { name: string; tools: AgentTool[] }[] = tools.map((tool) => ({
    name: tool.name,
    tools: [
      {
        name: tool.name,
        description: tool.description,
        ...(tool.parameters ? { parameters: tool.parameters } : {}),
        run: (args, signal) => runtime.runModule(tool.sha256, args, signal),
      },
    ],
  }));
  const byName = [...moduleTools, ...serverTools].sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
  return { agent, provider: resolvedProvider, tools: byName.flatMap((entry) => entry.tools) };
}

/** Prepared agents by name, cached until `clear()`. */
export class AgentDirectory extends KeyedLoader<PreparedAgent> {
  private readonly mcp: McpSessionPool;

  constructor(private readonly runtime: AgentRuntime) {
    const withPool = { ...runtime, mcp: runtime.mcp ?? new McpSessionPool() };
    super((name) => prepareAgent(withPool, name));
    this.mcp = withPool.mcp;
  }

  /** The process's MCP sessions (for measures and tests of reuse). */
  get mcpSessions(): McpSessionPool {
    return this.mcp;
  }

  override clear(): void {
    super.clear();
    void this.closeStaleSessions();
  }

  /** Closes every MCP session (process shutdown). */
  async close(): Promise<void> {
    super.clear();
    await this.mcp.close();
  }

  private async closeStaleSessions(): Promise<void> {
    try {
      const servers = (await this.runtime.catalog.mcpServers?.()) ?? [];
      const current: McpServerTarget[] = [];
      for (const server of servers) {
        try {
          current.push(mcpTarget(server, this.runtime.env, this.runtime.envAllow));
        } catch {
          // A server whose headers cannot be read any more has no session worth keeping.
        }
      }
      await this.mcp.retain(current);
    } catch {
      // The database is unreachable: keep the sessions; the next change (or a reconnect's clear) sweeps them.
    }
  }
}
