/** The worker process: claims jobs from the queue and runs their steps (SPEC 1). */
import { ConfigError, formatJobId } from '@mule/core';
import { CHANNELS, createPool, createPrisma, JobQueue, Listener, readJobStatus } from '@mule/db';
import { WasmRunner } from '@mule/wasm-runner';
import { loadWorkerConfig, type WorkerConfig } from './config.js';
import { createLogger } from './logger.js';
import { metrics } from './metrics.js';
import { portOf, startMetricsServer } from './metrics-server.js';
import { runJob, type JobRunnerDeps } from './run-job.js';
import { RunningJobs } from './running-jobs.js';
import { agentStep } from './steps/agent-step.js';
import { wasmStep } from './steps/wasm-step.js';

let config: Readonly<WorkerConfig>;
try {
  config = loadWorkerConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}

const log = createLogger(config.LOG_LEVEL);
const pool = createPool({
  connectionString: config.DATABASE_URL,
  max: config.WORKER_CONCURRENCY * 2 + 2,
  applicationName: 'mule-worker',
});
const prisma = createPrisma(pool);
const wasm = new WasmRunner({ threads: config.MULE_WASM_THREADS, maxMemoryMb: config.MULE_WASM_MAX_MEMORY_MB });
const running = new RunningJobs();
let stopping = false;

// Cancellation: the api NOTIFYs; after a reconnect we re-read the status of every job we run.
const cancels = new Listener({
  connectionString: config.DATABASE_URL,
  channels: [CHANNELS.jobCancel],
  applicationName: 'mule-worker-listener',
  onNotification: (_channel, jobId) => {
    if (running.cancel(jobId)) log.info({ job_id: formatJobId(jobId) }, 'job cancelled; aborting its step');
  },
  onReconnect: () => {
    for (const jobId of running.ids()) {
      void readJobStatus(pool, jobId)
        .then((status) => status === 'cancelled' && running.cancel(jobId))
        .catch(() => {});
    }
  },
  onError: (error) => log.warn({ err: error.message }, 'cancel listener connection lost; reconnecting'),
});
await cancels.start();

const metricsServer = await startMetricsServer(pool, config.METRICS_HOST, config.METRICS_PORT, () => stopping);
const queue = await JobQueue.start({
  connectionString: config.DATABASE_URL,
  role: 'worker',
  leaseSeconds: config.MULE_LEASE_SECONDS,
  onError: (error) => log.warn({ err: error.message }, 'queue error'),
});

const deps: JobRunnerDeps = {
  pool,
  log,
  running,
  logContent: config.MULE_LOG_CONTENT,
  steps: { wasm: wasmStep(wasm, prisma), agent: agentStep() },
};
metrics.slots.set(config.WORKER_CONCURRENCY);
await queue.work(config.WORKER_CONCURRENCY, (job) => runJob(deps, job));
log.info({ port: portOf(metricsServer), concurrency: config.WORKER_CONCURRENCY }, 'worker started');

async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  const graceMs = config.MULE_SHUTDOWN_GRACE_SECONDS * 1000;
  log.info({ signal, running: running.size, grace_ms: graceMs }, 'stopping: no new jobs; letting running steps finish');
  await queue.stop(graceMs).catch((error) => log.warn({ err: (error as Error).message }, 'queue stop failed'));
  await Promise.allSettled([cancels.stop(), wasm.close()]);
  metricsServer.close();
  await prisma.$disconnect().catch(() => {});
  await pool.end().catch(() => {});
  log.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
