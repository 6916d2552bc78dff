/**
 * POST /v1/wasm/execute: runs one module in the api's sandbox, without the queue. With tracing on the run is a
 * `wasm_run` span under the request's server span, like a worker's WASM step.
 */
import { Router } from 'express';
import { z } from 'zod';
import { DEFAULT_WASM_TIMEOUT_MS, MuleError, parseWith, SHA256_PATTERN } from '@mule/core';
import { resolveModuleRef } from '@mule/db';
import { inSpan, metrics } from '@mule/observability';
import { outcomeOf } from '@mule/wasm-runner';
import { allows, callerOf } from '../access.js';
import type { ApiContext } from '../api-context.js';
import { jsonObjectBody } from '../json-object-body.js';

/** A direct call holds an HTTP request open: five minutes is the most it may ask for. */
const MAX_TIMEOUT_MS = 300_000;

const executeSchema = z.strictObject({
  module: z.string().min(1).max(256),
  input: z.unknown().optional(),
  timeout_ms: z.int().min(1).max(MAX_TIMEOUT_MS).optional(),
});

export function wasmExecuteRouter(ctx: ApiContext): Router {
  const router = Router();
  router.post('/v1/wasm/execute', async (req, res) => {
    const request = parseWith(executeSchema, jsonObjectBody(req.body));
    const caller = callerOf(res);
    const ref = await resolveModuleRef(ctx.prisma, request.module);
    // Scopes are names: a call by sha256 needs a scope covering a module that has those bytes (a prefix scope
    // such as wasm/a* must not reach other modules through their hashes). A key that may not use the module
    // hears 403 whether it exists or not, as before; a hash (64 hex characters, never a name) is never a name.
    const names = ref?.names ?? (SHA256_PATTERN.test(request.module) ? [] : [request.module]);
    if (caller.kind === 'key' && !caller.admin && !names.some((name) => allows(caller, `wasm/${name}`))) {
      throw new MuleError('forbidden', `this API key may not use \`wasm/${request.module}\``, { param: 'module' });
    }
    if (!ref) throw new MuleError('not_found', `no wasm module "${request.module}"`, { param: 'module' });
    const gone = new AbortController();
    res.on('close', () => gone.abort());
    // Named as the caller named it; a call by hash names no module (several names may share those bytes).
    const moduleName = SHA256_PATTERN.test(request.module) ? null : request.module;
    const attributes = { ...(moduleName ? { 'mule.wasm.module': moduleName } : {}), 'mule.wasm.sha256': ref.sha256 };
    let result;
    try {
      result = await inSpan(moduleName ? `wasm_run ${moduleName}` : 'wasm_run', { attributes }, async (span) => {
        try {
          return await ctx.wasm.run({
            sha256: ref.sha256,
            loadBytes: ctx.loadModule,
            input: request.input ?? null,
            timeoutMs: request.timeout_ms ?? DEFAULT_WASM_TIMEOUT_MS,
            signal: gone.signal,
          });
        } catch (error) {
          // No step span above this one: the run's own span says how it failed (wasm_trap, wasm_timeout, …).
          if (error instanceof MuleError) span.setAttribute('error.type', error.code);
          throw error;
        }
      });
    } catch (error) {
      metrics.wasmExecutions.inc({ outcome: outcomeOf(error) });
      throw error;
    }
    metrics.wasmExecutions.inc({ outcome: 'ok' });
    res.json({ output: result.output, duration_ms: result.durationMs, logs: result.logs });
  });
  return router;
}
