/** The worker's configuration (README "Configuration"), parsed once at start; nothing else reads process.env. */
import { z } from 'zod';
import { boolVar, envAllowVar, intVar, logLevelVar, parseConfig, postgresUrlVar, secretKeyVar } from '@mule/core';

const schema = z.object({
  /** PostgreSQL connection string. */
  DATABASE_URL: postgresUrlVar,
  /** Port of /metrics, /healthz and /readyz; 0 picks a free one (logged as `port`). */
  METRICS_PORT: intVar(9464, 0, 65535),
  /** Bind address of the metrics port (containers set 0.0.0.0 so Prometheus can scrape it). */
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** Jobs this process runs at once. */
  WORKER_CONCURRENCY: intVar(4, 1, 256),
  /** How long a silent worker keeps a job before another takes it over (pg-boss heartbeat). */
  MULE_LEASE_SECONDS: intVar(30, 20, 3600),
  /** How long a stopping worker lets running steps finish before handing their jobs back. */
  MULE_SHUTDOWN_GRACE_SECONDS: intVar(25, 0, 3600),
  /** Running attempts of one workflow job at once (parallel steps and for_each items together). */
  MULE_JOB_MAX_PARALLEL: intVar(8, 1, 256),
  /** A whole job's time limit, from its first start; past it the job fails with job_timeout. */
  MULE_JOB_TIMEOUT_SECONDS: intVar(3600, 1, 7 * 24 * 3600),
  /** Finished jobs older than this are deleted (0 keeps them for ever). */
  MULE_JOB_RETENTION_DAYS: intVar(30, 0, 36500),
  /** How often one of the workers deletes expired jobs and refreshes the planner statistics. */
  MULE_RETENTION_INTERVAL_SECONDS: intVar(600, 1, 86400),
  /** How often the workers look for unfinished jobs whose queue entry was lost, and fail them (one worker at a time). */
  MULE_REAPER_INTERVAL_SECONDS: intVar(60, 1, 86400),
  /**
   * How often each worker looks for due schedule triggers. A due time fires only within 60 s after it (no replay of
   * times missed while down), so the tick stays well under that.
   */
  MULE_TRIGGER_TICK_MS: intVar(5000, 100, 30_000),
  /** Linear memory cap of a module run. */
  MULE_WASM_MAX_MEMORY_MB: intVar(64, 1, 4096),
  /** Worker threads running WASM steps and tools. */
  MULE_WASM_THREADS: intVar(2, 1, 64),
  /** 32 random bytes (64 hex or base64) that decrypt stored provider keys. */
  MULE_SECRET_KEY: secretKeyVar,
  /** Globs of the environment variables a definition may name (api_key_env, base_url_env); see core's env-allow.ts. */
  MULE_ENV_ALLOW: envAllowVar,
  /** pino level. */
  LOG_LEVEL: logLevelVar,
  /** Log prompts and outputs (off by default). */
  MULE_LOG_CONTENT: boolVar(false),
  /**
   * OpenTelemetry traces go to this OTLP/HTTP collector (http://collector:4318); unset, no tracing SDK is loaded.
   * The SDK itself also reads the other standard OTEL_* variables (OTEL_EXPORTER_OTLP_HEADERS, ..._TIMEOUT,
   * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) from the environment: those are its own, parsed by it. Empty is unset
   * (compose passes an empty value through to turn tracing off).
   */
  OTEL_EXPORTER_OTLP_ENDPOINT: z
    .union([z.literal(''), z.string().url()])
    .optional()
    .transform((value) => value || undefined),
  /** `http/protobuf` (the OpenTelemetry default) or `http/json`. */
  OTEL_EXPORTER_OTLP_PROTOCOL: z.enum(['http/protobuf', 'http/json']).default('http/protobuf'),
  /** The service name on this process's spans. */
  OTEL_SERVICE_NAME: z.string().min(1).default('mule-worker'),
});

export type WorkerConfig = z.infer<typeof schema>;

export function loadWorkerConfig(env: Record<string, string | undefined> = process.env): Readonly<WorkerConfig> {
  return parseConfig(schema, env);
}
