/** What the routes share: built once in main.ts. */
import type { TokenUsage } from '@mule/core';
import type { JobQueue, Listener, NotifyBatcher, Pool, PrismaClient } from '@mule/db';
import type { AgentDirectory } from '@mule/agents';
import type { WasmRunner } from '@mule/wasm-runner';
import type { JobWaiters } from './await-job.js';
import type { Capacity } from './capacity.js';
import type { ApiConfig } from './config.js';
import type { Logger } from '@mule/observability';
import type { Access } from './access.js';
import type { SubmitTargets } from './submit-targets.js';
import type { TokenRelay } from './token-relay.js';

export interface ApiContext {
  config: Readonly<ApiConfig>;
  log: Logger;
  pool: Pool;
  prisma: PrismaClient;
  queue: JobQueue;
  /** Wakes idle worker slots after jobs are committed (one coalesced NOTIFY). */
  announceJobs: NotifyBatcher;
  waiters: JobWaiters;
  /** Streamed jobs' tokens as their workers relay them (mule_job_tokens). */
  tokens: TokenRelay;
  /** The process's LISTEN connection (job finished, definitions changed). */
  listener: Listener;
  targets: SubmitTargets;
  /** Call after a definition change commits: drops caches here and, by NOTIFY, in other api processes. */
  definitionsChanged: () => void;
  /** The sandbox; `run` holds a `wasm_runs` slot (capacity.ts). */
  wasm: WasmRunner;
  /** Module bytes by sha256 (the runner calls it on a compiled-cache miss). */
  loadModule: (sha256: string) => Promise<Uint8Array>;
  /** Agents by name, prepared (provider resolved, tools bound) and cached until a definition changes. */
  agents: AgentDirectory;
  metrics: { tokens(provider: string, model: string, usage: TokenUsage): void };
  access: Access;
  /** The bounded queues (sync waiters, streams, wasm runs, agent calls): full means 429 overloaded. */
  capacity: Capacity;
  /** True once SIGTERM/SIGINT arrived: new requests get 503. */
  isStopping: () => boolean;
  /** Call after an API key was created or revoked: here at once, elsewhere by NOTIFY. */
  keysChanged: () => void;
}
