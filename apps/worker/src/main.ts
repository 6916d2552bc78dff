/** The worker process: claims jobs from the queue and runs their steps (ARCHITECTURE.md "The flow of one job"). */
import { createAgentDirectory, loadAdk } from '@mule/agents';
import { formatJobId, loadConfigOrExit } from '@mule/core';
import {
  agentCatalog,
  anyAgentDefined,
  CHANNELS,
  CLAIM_ON_FETCH,
  createPool,
  createPrisma,
  JobQueue,
  Listener,
  moduleBytesLoader,
  NotifyBatcher,
  readJobStatus,
} from '@mule/db';
import { WasmRunner } from '@mule/wasm-runner';
import { loadWorkerConfig } from './config.js';
import { createLogger, enableWorkerMetrics, inSpan, metrics, startTracing } from '@mule/observability';
import { ClaimLoop } from './claim-loop.js';
import { portOf, startMetricsServer } from './metrics-server.js';
import { scheduleReaper } from './reaper.js';
import { scheduleRetention } from './retention.js';
import { runJob, type JobRunnerDeps } from './run-job.js';
import { startTriggerScheduler } from './trigger-scheduler.js';
import { RunningJobs } from './running-jobs.js';
import { agentStep } from './steps/agent-step.js';
import { TokenRelays } from './token-relay.js';
import { JobProgress } from './job-progress.js';
import { wasmStep } from './steps/wasm-step.js';

const config = loadConfigOrExit(() => loadWorkerConfig());

const log = createLogger('mule-worker', config.LOG_LEVEL);
const tracing = await startTracing({
  endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT,
  protocol: config.OTEL_EXPORTER_OTLP_PROTOCOL,
  serviceName: config.OTEL_SERVICE_NAME,
  logContent: config.MULE_LOG_CONTENT,
});
log.info({ tracing: tracing.enabled, ...(tracing.enabled ? { protocol: config.OTEL_EXPORTER_OTLP_PROTOCOL } : {}) }, tracing.enabled ? 'tracing on' : 'tracing off');
const pool = createPool({
  connectionString: config.DATABASE_URL,
  // Each running job writes through at most one connection at a time (its driver feeds one event at a time);
  // +3 for the claim loop, retention and metrics.
  max: config.WORKER_CONCURRENCY + 3,
  applicationName: 'mule-worker',
});
const prisma = createPrisma(pool);
const wasm = new WasmRunner({ threads: config.MULE_WASM_THREADS, maxMemoryMb: config.MULE_WASM_MAX_MEMORY_MB });
const loadModule = moduleBytesLoader(prisma);
const agents = createAgentDirectory({
  catalog: agentCatalog(prisma),
  env: process.env,
  envAllow: config.MULE_ENV_ALLOW,
  secretKey: config.MULE_SECRET_KEY,
  loadBytes: loadModule,
  runModule: (run) => inSpan('wasm_run', { attributes: { 'mule.wasm.sha256': run.sha256 } }, () => wasm.run(run)),
});
const running = new RunningJobs();
let stopping = false;

const metricsServer = await startMetricsServer(pool, config.METRICS_HOST, config.METRICS_PORT, () => stopping);
const queue = await JobQueue.start({
  pool,
  role: 'worker',
  leaseSeconds: config.MULE_LEASE_SECONDS,
  onError: (error) => log.warn({ err: error.message }, 'queue error'),
});
let loop: ClaimLoop | null = null;

// One LISTEN connection: new jobs wake idle slots; cancels abort running jobs. After a reconnect, whatever was
// announced meanwhile is caught up: idle slots fetch, and the status of every running job is read again.
const listener = new Listener({
  connectionString: config.DATABASE_URL,
  channels: [CHANNELS.jobQueued, CHANNELS.jobCancel, CHANNELS.definitionsChanged],
  applicationName: 'mule-worker-listener',
  onNotification: (channel, payload) => {
    if (channel === CHANNELS.jobQueued) {
      loop?.wake();
      // A wait of a job running here may have been resumed or rejected (the api names the job).
      for (const jobId of payload.split(',')) running.wake(jobId);
      return;
    }
    if (channel === CHANNELS.definitionsChanged) {
      agents.clear();
      return;
    }
    for (const jobId of payload.split(',')) {
      if (running.cancel(jobId)) log.info({ job_id: formatJobId(jobId) }, 'job cancelled; aborting its step');
    }
  },
  onReconnect: () => {
    loop?.wake();
    agents.clear();
    for (const jobId of running.ids()) {
      void readJobStatus(pool, jobId)
        .then((status) => status === 'cancelled' && running.cancel(jobId))
        .catch(() => {});
    }
  },
  onError: (error) => log.warn({ err: error.message }, 'listener connection lost; reconnecting'),
});
await listener.start();
const finished = new NotifyBatcher(pool, CHANNELS.jobFinished, (error) =>
  log.warn({ err: error.message }, 'could not announce finished jobs; waiting callers re-read them after reconnecting'),
);

const relays = new TokenRelays(pool, log);
const progress = new JobProgress(pool, log);
const deps: JobRunnerDeps = {
  pool,
  log,
  running,
  finished,
  queue,
  jobTimeoutMs: config.MULE_JOB_TIMEOUT_SECONDS * 1000,
  maxParallel: config.MULE_JOB_MAX_PARALLEL,
  logContent: config.MULE_LOG_CONTENT,
  steps: { wasm: wasmStep(wasm, loadModule), agent: agentStep(agents, relays) },
  relays,
  progress,
};
enableWorkerMetrics();
metrics.slots.set(config.WORKER_CONCURRENCY);
const stopRetention = scheduleRetention(pool, log, config.MULE_JOB_RETENTION_DAYS, config.MULE_RETENTION_INTERVAL_SECONDS);
const stopReaper = scheduleReaper(pool, log, finished, config.MULE_REAPER_INTERVAL_SECONDS);
const stopTriggers = startTriggerScheduler({ pool, queue, log }, config.MULE_TRIGGER_TICK_MS);
// ADK takes ~1 s to load: warm it in the background, and only where agents exist.
void anyAgentDefined(prisma)
  .then((any) => (any ? loadAdk() : undefined))
  .catch((error: Error) => log.warn({ err: error.message }, 'could not preload the agent runtime'));
loop = new ClaimLoop({
  ...queue.claims(CLAIM_ON_FETCH),
  slots: config.WORKER_CONCURRENCY,
  // An idle worker looks for jobs without a NOTIFY (takeovers, retries, missed wake-ups) every 2 s.
  backstopMs: 2000,
  // Every 3 s: inside pg-boss's smallest heartbeat window (10 s) three times over, so a job keeps its claim
  // even when the api that sent it runs with a shorter lease than this worker. One statement per 3 s.
  heartbeatMs: 3000,
  handler: (job) => runJob(deps, job),
  onError: (error) => log.warn({ err: error.message }, 'queue error'),
  onClaimLost: (jobId, reason) => log.warn({ job_id: formatJobId(jobId), reason }, 'lost the claim on a job; aborting it'),
});
loop.start();
log.info({ port: portOf(metricsServer), concurrency: config.WORKER_CONCURRENCY }, 'worker started');
log.flush();

async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  const graceMs = config.MULE_SHUTDOWN_GRACE_SECONDS * 1000;
  log.info({ signal, running: running.size, grace_ms: graceMs }, 'stopping: no new jobs; letting running steps finish');
  stopRetention();
  stopReaper();
  stopTriggers();
  await loop?.stop(graceMs).catch((error) => log.warn({ err: (error as Error).message }, 'claim loop stop failed'));
  await queue.stop().catch((error) => log.warn({ err: (error as Error).message }, 'queue stop failed'));
  await finished.drain();
  await progress.drain();
  await Promise.allSettled([listener.stop(), wasm.close(), agents.close()]);
  metricsServer.close();
  await prisma.$disconnect().catch(() => {});
  await pool.end().catch(() => {});
  await tracing.shutdown().catch(() => {});
  log.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
