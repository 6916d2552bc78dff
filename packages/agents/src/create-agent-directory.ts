/**
 * The agent directory as the api and the worker both build it: definitions from the catalog, provider settings from
 * the process environment (only the variables MULE_ENV_ALLOW lets a definition name), stored provider keys
 * decrypted with MULE_SECRET_KEY, and each tool call run as its WASM module.
 */
import { decrypterFor, DEFAULT_WASM_TIMEOUT_MS } from '@mule/core';
import { AgentDirectory, type AgentCatalog } from './named-agent.js';

/**
 * How long one tool call's module may run. A tool (a module's `tool` definition) has no timeout of its own, so a
 * call gets what a WASM step without timeout_ms gets: 10 s, a third of an agent step's default 30 s, so a stuck tool
 * ends as an error the model is told about (agent-tools.ts) while its step still has time for the model to answer.
 */
export const WASM_TOOL_TIMEOUT_MS = DEFAULT_WASM_TIMEOUT_MS;

/** What a tool call asks of the WASM runner (`WasmRunner.run`'s request; this package does not import the runner). */
export interface ToolModuleRun {
  sha256: string;
  loadBytes: (sha256: string) => Promise<Uint8Array>;
  input: unknown;
  timeoutMs: number;
  signal: AbortSignal;
}

export interface AgentDirectoryOptions {
  catalog: AgentCatalog;
  /** The process environment: base_url_env and api_key_env are read from it. */
  env: Record<string, string | undefined>;
  /** MULE_ENV_ALLOW. */
  envAllow: readonly string[];
  /** MULE_SECRET_KEY (null when unset: a stored key then cannot be read, and says so). */
  secretKey: Buffer | null;
  /** The module bytes by sha256, for the runner's compiled-module cache misses. */
  loadBytes: (sha256: string) => Promise<Uint8Array>;
  /** Runs one module: the worker's runner, or the api's without its direct-call bound (agent calls are bounded). */
  runModule: (run: ToolModuleRun) => Promise<{ output: unknown }>;
}

export function createAgentDirectory(options: AgentDirectoryOptions): AgentDirectory {
  const { loadBytes, runModule } = options;
  return new AgentDirectory({
    catalog: options.catalog,
    env: options.env,
    envAllow: options.envAllow,
    decrypt: decrypterFor(options.secretKey),
    runModule: async (sha256, input, signal) => (await runModule({ sha256, loadBytes, input, timeoutMs: WASM_TOOL_TIMEOUT_MS, signal })).output,
  });
}
