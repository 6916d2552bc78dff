/** The api process: HTTP only (SPEC 1). It writes jobs and waits for them; it never runs workflow steps. */
import type { AddressInfo } from 'node:net';
import { ConfigError } from '@mule/core';
import { createPool, createPrisma, JobQueue } from '@mule/db';
import { WasmRunner } from '@mule/wasm-runner';
import { collectDefaultMetrics } from 'prom-client';
import type { ApiContext } from './api-context.js';
import { createApp } from './app.js';
import { applyDefinitionFiles } from './apply-definition-files.js';
import { JobWaiters } from './await-job.js';
import { loadApiConfig, type ApiConfig } from './config.js';
import { createLogger } from './logger.js';

let config: Readonly<ApiConfig>;
try {
  config = loadApiConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}

const log = createLogger(config.LOG_LEVEL);
collectDefaultMetrics();
const pool = createPool({ connectionString: config.DATABASE_URL, max: config.MULE_DB_POOL_MAX, applicationName: 'mule-api' });
const prisma = createPrisma(pool);
const queue = await JobQueue.start({
  connectionString: config.DATABASE_URL,
  role: 'api',
  leaseSeconds: config.MULE_LEASE_SECONDS,
  onError: (error) => log.warn({ err: error.message }, 'queue error'),
});
const waiters = new JobWaiters(pool, config.DATABASE_URL, log);
await waiters.start();
const wasm = new WasmRunner({
  threads: config.MULE_WASM_THREADS,
  maxMemoryMb: config.MULE_WASM_MAX_MEMORY_MB,
  maxModuleBytes: config.MULE_WASM_MAX_MODULE_MB * 1024 * 1024,
});
const ctx: ApiContext = { config, log, pool, prisma, queue, waiters, wasm };
const defs = { prisma, config, secretKey: config.MULE_SECRET_KEY };

if (config.MULE_DEFINITIONS) {
  try {
    const applied = await applyDefinitionFiles(defs, config.MULE_DEFINITIONS);
    log.info({ definitions: config.MULE_DEFINITIONS, applied }, 'definitions applied');
  } catch (error) {
    console.error(`MULE_DEFINITIONS: ${(error as Error).message}`);
    process.exit(1);
  }
}

const server = createApp(ctx, defs).listen(config.PORT, config.HOST);
server.keepAliveTimeout = 65_000;
server.on('error', (error) => {
  console.error(`cannot listen on ${config.HOST}:${config.PORT}: ${error.message}`);
  process.exit(1);
});
server.on('listening', () => {
  const { port } = server.address() as AddressInfo;
  log.info({ host: config.HOST, port, url: `http://${config.HOST}:${port}` }, 'api listening');
  if (!['127.0.0.1', '::1', 'localhost'].includes(config.HOST)) {
    log.warn({ host: config.HOST }, 'the api is reachable beyond this machine and has no API keys configured');
  }
});

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'stopping: no new requests; answering those in flight');
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  // Sync calls may wait long; give in-flight requests a bounded grace, then end them.
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
  server.closeAllConnections();
  await Promise.allSettled([waiters.stop(), queue.stop(), wasm.close()]);
  await prisma.$disconnect().catch(() => {});
  await pool.end().catch(() => {});
  log.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
