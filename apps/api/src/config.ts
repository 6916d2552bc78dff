/** The api's configuration, parsed once at start; nothing else reads process.env. */
import { z } from 'zod';
import { boolVar, envAllowVar, intVar, logLevelVar, parseConfig, postgresUrlVar, secretKeyVar } from '@mule/core';

const schema = z.object({
  /** PostgreSQL connection string. */
  DATABASE_URL: postgresUrlVar,
  /**
   * The api's address as callers reach it (https://mule.example.com), the base of the resume URLs in job views.
   * Unset: the address each request reached the api at (its Host header), right when nothing (a proxy, another
   * host name) stands between callers and the api.
   */
  MULE_PUBLIC_URL: z
    .string()
    .regex(/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/, 'must be an http(s) URL without query or fragment (https://mule.example.com)')
    .optional(),
  /** HTTP port; 0 picks a free one (logged as `port`). */
  PORT: intVar(8080, 0, 65535),
  /** Bind address; loopback unless set (containers set 0.0.0.0). */
  HOST: z.string().min(1).default('127.0.0.1'),
  /** How long a synchronous workflow call waits before answering 504 (the job goes on). */
  MULE_SYNC_TIMEOUT_MS: intVar(300_000, 1, 24 * 3600 * 1000),
  /**
   * How often every waiting sync call's job is read again, in one query, in case its finish NOTIFY was lost: a
   * lost NOTIFY costs at most this long instead of MULE_SYNC_TIMEOUT_MS. One indexed read of all waiters every
   * 5 s is nothing next to the ~5 ms each call costs anyway.
   */
  MULE_SYNC_RECHECK_MS: intVar(5_000, 100, 3600 * 1000),
  /**
   * Sync `workflow/…` calls waiting at once (429 `overloaded` above). Each holds a socket, a timer and its job id
   * in the recheck query; 10000 is about 100 MB of sockets and buffers, and 2000 calls/s at the ~5 ms a call takes
   * uses 10.
   */
  MULE_MAX_SYNC_WAITERS: intVar(10_000, 1, 1_000_000),
  /**
   * Open SSE streams, workflow and agent (429 `overloaded` above). Streams live for a whole job or agent run
   * (minutes) and each keeps a timer: 1000 is far more than one api of 2 cores should hold open.
   */
  MULE_MAX_STREAMS: intVar(1_000, 1, 1_000_000),
  /**
   * Direct WASM runs (`POST /v1/wasm/execute`) waiting for a sandbox thread beyond the MULE_WASM_THREADS running
   * (429 `overloaded` above). Each waiting run holds its input (up to MULE_MAX_BODY_BYTES): 64 bounds that to
   * 64 MiB, and 64 runs of the usual ~1 ms wait 32 ms on 2 threads.
   */
  MULE_WASM_MAX_QUEUED: intVar(64, 0, 100_000),
  /**
   * `agent/…` calls the api runs at once (429 `overloaded` above). Each holds a provider request for seconds;
   * 256 is more than providers' usual per-key concurrency, so the provider refuses before we do.
   */
  MULE_MAX_AGENT_CALLS: intVar(256, 1, 100_000),
  /** Largest JSON request body (413 above). */
  MULE_MAX_BODY_BYTES: intVar(1_048_576, 1024, 512 * 1024 * 1024),
  /** Largest module upload (413 above). */
  MULE_WASM_MAX_MODULE_MB: intVar(20, 1, 512),
  /** Linear memory cap of a module run. */
  MULE_WASM_MAX_MEMORY_MB: intVar(64, 1, 4096),
  /** Worker threads for /v1/wasm/execute and agent tools. */
  MULE_WASM_THREADS: intVar(2, 1, 64),
  /** A file or folder of definitions applied at start. */
  MULE_DEFINITIONS: z.string().min(1).optional(),
  /** Lease of a job's claim; sent with each queued job (the worker heartbeats within it). */
  MULE_LEASE_SECONDS: intVar(30, 20, 3600),
  /** 32 random bytes (64 hex characters or base64) that encrypt provider API keys at rest. */
  MULE_SECRET_KEY: secretKeyVar,
  /** Globs of the environment variables a definition may name (api_key_env, base_url_env); see core's env-allow.ts. */
  MULE_ENV_ALLOW: envAllowVar,
  /** Bootstrap admin API keys, comma-separated (at least 16 characters each). Unset: see access.ts. */
  MULE_API_KEYS: z
    .string()
    .optional()
    .transform((value, ctx) => {
      const keys = (value ?? '').split(',').map((key) => key.trim()).filter(Boolean);
      if (keys.some((key) => key.length < 16 || !/^[\x21-\x7e]+$/.test(key))) {
        ctx.addIssue({ code: 'custom', message: 'each key must be at least 16 visible ASCII characters' });
        return z.NEVER;
      }
      return keys;
    }),
  /**
   * Length of a key's rate-limit window: `rpm` counts requests per window. 60 makes it per minute, as the API
   * promises; tests set a few seconds so a window ends while they wait. At most 3600: retention prunes usage
   * windows older than an hour.
   */
  MULE_RATE_WINDOW_SECONDS: intVar(60, 1, 3600),
  /** How long a stopping api lets requests in flight finish (sync calls still waiting then get 503 with their job id). */
  MULE_SHUTDOWN_GRACE_SECONDS: intVar(25, 0, 3600),
  /** Connections in the api's pool. */
  MULE_DB_POOL_MAX: intVar(20, 2, 500),
  /** pino level. */
  LOG_LEVEL: logLevelVar,
  /** Log prompts and outputs (off by default: they may hold personal data). */
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
  OTEL_SERVICE_NAME: z.string().min(1).default('mule-api'),
});

export type ApiConfig = z.infer<typeof schema>;

export function loadApiConfig(env: Record<string, string | undefined> = process.env): Readonly<ApiConfig> {
  return parseConfig(schema, env);
}
