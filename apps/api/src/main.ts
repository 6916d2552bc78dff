/** The api process: HTTP only. It writes jobs and waits for them; it never runs workflow steps. */
import type { AddressInfo } from 'node:net';
import { loadConfigOrExit } from '@mule/core';
import { createAgentDirectory, loadAdk } from '@mule/agents';
import { agentCatalog, anyAgentDefined, CHANNELS, countJobs, hashKey, createPool, createPrisma, JobQueue, Listener, moduleBytesLoader, NotifyBatcher } from '@mule/db';
import type { ApiContext } from './api-context.js';
import { Access } from './access.js';
import { createApp } from './app.js';
import { jobEvents } from './routes/events.js';
import { applyDefinitionFiles } from './apply-definition-files.js';
import { JobWaiters } from './await-job.js';
import { BoundedWasmRunner, createCapacity } from './capacity.js';
import { loadApiConfig } from './config.js';
import { SubmitTargets } from './submit-targets.js';
import { TokenRelay } from './token-relay.js';
import { createLogger, inSpan, recordTokens, setJobCountsReader, startTracing } from '@mule/observability';

const config = loadConfigOrExit(() => loadApiConfig());

const log = createLogger('mule-api', config.LOG_LEVEL);
const tracing = await startTracing({
  endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT,
  protocol: config.OTEL_EXPORTER_OTLP_PROTOCOL,
  serviceName: config.OTEL_SERVICE_NAME,
  logContent: config.MULE_LOG_CONTENT,
});
log.info({ tracing: tracing.enabled, ...(tracing.enabled ? { protocol: config.OTEL_EXPORTER_OTLP_PROTOCOL } : {}) }, tracing.enabled ? 'tracing on' : 'tracing off');
let stopping = false;
const pool = createPool({ connectionString: config.DATABASE_URL, max: config.MULE_DB_POOL_MAX, applicationName: 'mule-api' });
const prisma = createPrisma(pool);
setJobCountsReader(() => countJobs(pool));
const queue = await JobQueue.start({
  pool,
  role: 'api',
  leaseSeconds: config.MULE_LEASE_SECONDS,
  onError: (error) => log.warn({ err: error.message }, 'queue error'),
});
const waiters = new JobWaiters(pool, log, config.MULE_SYNC_RECHECK_MS);
const tokens = new TokenRelay();
const capacity = createCapacity(config);
const access = new Access(pool, new Set(config.MULE_API_KEYS.map(hashKey)), config.MULE_RATE_WINDOW_SECONDS);
const targets = new SubmitTargets(pool);
const wasm = new BoundedWasmRunner(capacity.wasmRuns, {
  threads: config.MULE_WASM_THREADS,
  maxMemoryMb: config.MULE_WASM_MAX_MEMORY_MB,
  maxModuleBytes: config.MULE_WASM_MAX_MODULE_MB * 1024 * 1024,
});
const loadModule = moduleBytesLoader(prisma);

const agents = createAgentDirectory({
  catalog: agentCatalog(prisma),
  env: process.env,
  envAllow: config.MULE_ENV_ALLOW,
  secretKey: config.MULE_SECRET_KEY,
  loadBytes: loadModule,
  runModule: (run) => inSpan('wasm_run', { attributes: { 'mule.wasm.sha256': run.sha256 } }, () => wasm.runUnbounded(run)),
});
const definitionsChangedElsewhere = () => {
  targets.clear();
  agents.clear();
};
// One LISTEN connection per api process: finished jobs wake sync callers; definition changes drop caches.
const listener = new Listener({
  connectionString: config.DATABASE_URL,
  channels: [CHANNELS.jobFinished, CHANNELS.jobQueued, CHANNELS.definitionsChanged, CHANNELS.keysChanged, CHANNELS.jobTokens, CHANNELS.jobProgress],
  applicationName: 'mule-api-listener',
  onNotification: (channel, payload) => {
    if (channel === CHANNELS.jobTokens) return tokens.onTokens(payload);
    // New and finished jobs also feed the dashboard's /v1/events (nothing is read while nobody watches).
    jobEvents.notified(channel, payload);
    if (channel === CHANNELS.jobProgress) return tokens.onProgress(payload);
    if (channel === CHANNELS.jobQueued) return;
    if (channel === CHANNELS.jobFinished) waiters.onFinished(payload);
    else if (channel === CHANNELS.keysChanged) access.keysChanged();
    else definitionsChangedElsewhere();
  },
  onReconnect: () => {
    definitionsChangedElsewhere();
    access.keysChanged();
    tokens.interruptAll();
    waiters.recheckAll();
    jobEvents.reread();
  },
  onError: (error) => log.warn({ err: error.message }, 'listener connection lost; reconnecting'),
});
await listener.start();
const announceJobs = new NotifyBatcher(pool, CHANNELS.jobQueued, (error) =>
  log.warn({ err: error.message }, 'could not announce new jobs; workers will find them on their backstop poll'),
);
const definitionsNotice = new NotifyBatcher(pool, CHANNELS.definitionsChanged, (error) =>
  log.warn({ err: error.message }, 'could not announce a definition change to other api processes'),
);
const definitionsChanged = () => {
  definitionsChangedElsewhere();
  definitionsNotice.send();
};
const keysNotice = new NotifyBatcher(pool, CHANNELS.keysChanged, (error) =>
  log.warn({ err: error.message }, 'could not announce a key change to other api processes'),
);
const keysChanged = () => {
  access.keysChanged();
  keysNotice.send();
};
const ctx: ApiContext = {
  config,
  log,
  pool,
  prisma,
  queue,
  announceJobs,
  waiters,
  tokens,
  listener,
  targets,
  definitionsChanged,
  wasm,
  loadModule,
  agents,
  metrics: { tokens: recordTokens },
  access,
  capacity,
  keysChanged,
  isStopping: () => stopping,
};
const defs = { prisma, config, secretKey: config.MULE_SECRET_KEY };

if (config.MULE_DEFINITIONS) {
  try {
    const applied = await applyDefinitionFiles(defs, config.MULE_DEFINITIONS);
    definitionsChanged();
    log.info({ definitions: config.MULE_DEFINITIONS, applied }, 'definitions applied');
  } catch (error) {
    console.error(`MULE_DEFINITIONS: ${(error as Error).message}`);
    process.exit(1);
  }
}

// ADK takes ~1 s to load: warm it in the background, and only where agents exist.
void anyAgentDefined(prisma)
  .then((any) => (any ? loadAdk() : undefined))
  .catch((error: Error) => log.warn({ err: error.message }, 'could not preload the agent runtime'));

const server = createApp(ctx, defs).listen(config.PORT, config.HOST);
server.keepAliveTimeout = 65_000;
server.on('error', (error) => {
  console.error(`cannot listen on ${config.HOST}:${config.PORT}: ${error.message}`);
  process.exit(1);
});
server.on('listening', () => {
  const { port } = server.address() as AddressInfo;
  log.info({ host: config.HOST, port, url: `http://${config.HOST}:${port}` }, 'api listening');
  log.flush();
  void access.enabled().then(
    (keys) => {
      if (!keys && !['127.0.0.1', '::1', 'localhost'].includes(config.HOST)) {
        log.warn({ host: config.HOST }, 'the api is reachable beyond this machine and has no API keys: anyone who reaches it can use it');
      }
    },
    () => {},
  );
});

async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  const graceMs = config.MULE_SHUTDOWN_GRACE_SECONDS * 1000;
  log.info({ signal, grace_ms: graceMs, waiting: waiters.size }, 'stopping: no new connections; answering requests in flight');
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  // Dashboards' event streams never end by themselves: they end now, and their clients reconnect elsewhere.
  jobEvents.endAll();
  // Sync calls may wait long: they get the grace period, then a 503 naming their job (which goes on).
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, graceMs).unref())]);
  waiters.releaseAll();
  waiters.close();
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
  server.closeAllConnections();
  await announceJobs.drain();
  await Promise.allSettled([listener.stop(), queue.stop(), wasm.close(), agents.close()]);
  await prisma.$disconnect().catch(() => {});
  await pool.end().catch(() => {});
  await tracing.shutdown().catch(() => {});
  log.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
