/** What the routes share: built once in main.ts. */
import type { JobQueue, Pool, PrismaClient } from '@mule/db';
import type { WasmRunner } from '@mule/wasm-runner';
import type { JobWaiters } from './await-job.js';
import type { ApiConfig } from './config.js';
import type { Logger } from './logger.js';

export interface ApiContext {
  config: Readonly<ApiConfig>;
  log: Logger;
  pool: Pool;
  prisma: PrismaClient;
  queue: JobQueue;
  waiters: JobWaiters;
  wasm: WasmRunner;
}
