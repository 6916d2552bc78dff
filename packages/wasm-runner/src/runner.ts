/**
 * The runner: module bytes (by sha256) + input + a time limit -> the module's JSON output, or a MuleError with a
 * stable code. It owns the compiled-module cache and the thread pool; it knows nothing of jobs or HTTP.
 */
import { isMuleError, MuleError, untilAborted } from '@mule/core';
import { admitModule, prepareModule, sha256Hex } from './admission.js';
import { resolveLimits, type WasmLimits } from './limits.js';
import { ModuleCache, type CompiledModule } from './module-cache.js';
import { toResult, type WasmRunResult } from './outcome.js';
import { ThreadPool } from './pool.js';

export interface WasmRunnerOptions extends Partial<WasmLimits> {
  /** Sandbox threads, each running one module at a time. Default 2. */
  threads?: number;
  /** Bound on the compiled-module cache, counted in module bytes. Default 256 MiB. */
  cacheBytes?: number;
}

export interface WasmRunRequest {
  /** Content hash of the module (lower-case hex). */
  sha256: string;
  /** Called only on a compiled-cache miss; the bytes are verified against sha256. */
  loadBytes: (sha256: string) => Promise<Uint8Array>;
  /** A JSON value, serialized to stdin. */
  input: unknown;
  /** Covers instantiation (start functions) and the run, counted from when a thread takes the run. */
  timeoutMs: number;
  /** Abort => a queued run leaves the queue, a running one's thread is terminated and replaced. */
  signal?: AbortSignal;
}

/** setTimeout fires at once for delays past 2^31-1 ms (24.8 days); longer limits mean "no practical limit". */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export class WasmRunner {
  readonly limits: Readonly<WasmLimits>;
  private readonly pool: ThreadPool;
  private readonly cache: ModuleCache;

  constructor(options: WasmRunnerOptions = {}) {
    const { threads = 2, cacheBytes = 256 * 1024 * 1024, ...limits } = options;
    if (!Number.isSafeInteger(threads) || threads < 1) {
      throw new RangeError(`threads must be a whole number of at least 1, got ${threads}`);
    }
    if (!(cacheBytes > 0)) throw new RangeError(`cacheBytes must be positive, got ${cacheBytes}`);
    this.limits = Object.freeze(resolveLimits(limits));
    this.pool = new ThreadPool(threads, {
      maxOutputBytes: this.limits.maxOutputBytes,
      maxLogBytes: this.limits.maxLogBytes,
    });
    this.cache = new ModuleCache(cacheBytes, (sha256) => this.pool.forget(sha256));
  }

  async run(request: WasmRunRequest): Promise<WasmRunResult> {
    const { sha256, timeoutMs, signal } = request;
    if (!(timeoutMs > 0)) {
      const message = `The time limit must be a positive number of milliseconds, got ${timeoutMs}.`;
      throw new MuleError('invalid_request', message, { param: 'timeout_ms' });
    }
    if (signal?.aborted) throw cancelled();
    const input = serializeInput(request.input);
    const release = this.pool.hold();
    try {
      const module = await untilAborted(this.cache.get(sha256, () => this.compile(request)), signal, cancelled);
      const limitMs = Math.min(timeoutMs, MAX_TIMEOUT_MS);
      const reply = await this.pool.run({ sha256, module, input, timeoutMs: limitMs, signal });
      return toResult(reply, this.limits);
    } finally {
      release();
    }
  }

  /** The same admission the runner applies, with this runner's limits (for uploads). */
  admit(bytes: Uint8Array): { sha256: string; size: number } {
    return admitModule(bytes, this.limits);
  }

  /** Resolves once every sandbox thread has started; runs submitted earlier simply wait for one. */
  ready(): Promise<void> {
    return this.pool.whenReady();
  }

  stats(): { threads: number; busy: number; queued: number; cachedModules: number; cachedBytes: number } {
    const cache = this.cache.stats();
    return { ...this.pool.stats(), cachedModules: cache.modules, cachedBytes: cache.bytes };
  }

  /** Stops every thread; runs still queued or running reject with `cancelled`. */
  async close(): Promise<void> {
    await this.pool.close();
    this.cache.clear();
  }

  private async compile(request: WasmRunRequest): Promise<CompiledModule> {
    const bytes = await request.loadBytes(request.sha256);
    const actual = sha256Hex(bytes);
    if (actual !== request.sha256) {
      throw new MuleError(
        'internal_error',
        `The stored module ${request.sha256} is corrupt: its bytes hash to ${actual}.`,
        { retryable: false },
      );
    }
    let prepared: Uint8Array;
    try {
      prepared = prepareModule(bytes, this.limits);
    } catch (error) {
      // At run time an oversized module is a policy refusal like any other (422), not a request body issue.
      if (isMuleError(error) && error.code === 'payload_too_large') {
        throw new MuleError('wasm_rejected', `The module was refused: ${error.message}`);
      }
      throw error;
    }
    try {
      return { module: await WebAssembly.compile(prepared), size: bytes.length };
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new MuleError('wasm_rejected', `The module was refused: it is not valid WebAssembly (${reason}).`);
    }
  }
}

function serializeInput(input: unknown): string {
  try {
    return JSON.stringify(input) ?? 'null';
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new MuleError('invalid_request', `The input cannot be written as JSON: ${reason}.`, { param: 'input' });
  }
}

function cancelled(): MuleError {
  return new MuleError('cancelled', 'The module run was cancelled.');
}

