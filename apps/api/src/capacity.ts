/**
 * The api's bounded queues. Everything a caller can make the api hold — a sync call waiting for its job, an open
 * SSE stream, a direct WASM run waiting for a sandbox thread, an agent run — takes a slot here first; when the
 * slots of its kind are all taken the request is refused at once with 429 `overloaded` and a Retry-After, before
 * anything is written, so a retry is always safe. A slot is a counter: taking and releasing one costs an
 * increment, nothing measurable next to the ~5 ms of a sync call.
 */
import { MuleError } from '@mule/core';
import { enableApiMetrics, metrics } from '@mule/observability';
import { WasmRunner, type WasmRunnerOptions, type WasmRunRequest, type WasmRunResult } from '@mule/wasm-runner';
import type { ApiConfig } from './config.js';

/**
 * What a refused caller is told to wait. The queues drain in milliseconds (a WASM run, a sync call's ~5 ms) to
 * seconds (an agent run): one second is long enough not to hammer a full api, short enough to lose little.
 */
const RETRY_AFTER_SECONDS = 1;

export type QueueName = 'sync_waiters' | 'streams' | 'wasm_runs' | 'agent_calls';

/** One bounded count of things in flight. */
export class Slots {
  private used = 0;

  constructor(
    readonly name: QueueName,
    readonly limit: number,
    /** The variable that sets `limit`, named in the refusal so an operator knows what to raise. */
    private readonly variable: string,
  ) {}

  get inUse(): number {
    return this.used;
  }

  /** Takes a slot, or throws 429 `overloaded`. The returned release may be called more than once. */
  take(): () => void {
    if (this.used >= this.limit) {
      metrics.overloaded.inc({ queue: this.name });
      throw new MuleError('overloaded', `the api is at its limit of ${this.limit} ${this.name.replace('_', ' ')} (${this.variable}); try again shortly`, {
        details: { retryAfterSeconds: RETRY_AFTER_SECONDS },
      });
    }
    this.used++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.used--;
    };
  }

  /** Runs `work` holding a slot (refused at once when none is free). */
  async hold<T>(work: () => Promise<T>): Promise<T> {
    const release = this.take();
    try {
      return await work();
    } finally {
      release();
    }
  }
}

export interface Capacity {
  /** `workflow/…` calls waiting for their job (not streaming). */
  syncWaiters: Slots;
  /** Open SSE streams, workflow and agent. */
  streams: Slots;
  /** `POST /v1/wasm/execute` runs, running on a sandbox thread or waiting for one. */
  wasmRuns: Slots;
  /** `agent/…` calls the api runs, streaming or not. */
  agentCalls: Slots;
}

export function createCapacity(config: Readonly<ApiConfig>): Capacity {
  const capacity: Capacity = {
    syncWaiters: new Slots('sync_waiters', config.MULE_MAX_SYNC_WAITERS, 'MULE_MAX_SYNC_WAITERS'),
    streams: new Slots('streams', config.MULE_MAX_STREAMS, 'MULE_MAX_STREAMS'),
    // Every thread busy plus a bounded wait: the sandbox pool's own queue never grows past MULE_WASM_MAX_QUEUED.
    wasmRuns: new Slots('wasm_runs', config.MULE_WASM_THREADS + config.MULE_WASM_MAX_QUEUED, 'MULE_WASM_THREADS + MULE_WASM_MAX_QUEUED'),
    agentCalls: new Slots('agent_calls', config.MULE_MAX_AGENT_CALLS, 'MULE_MAX_AGENT_CALLS'),
  };
  enableApiMetrics(() => Object.fromEntries(Object.values(capacity).map((slots: Slots) => [slots.name, slots.inUse])));
  return capacity;
}

/**
 * The api's sandbox: `run` (what `POST /v1/wasm/execute` calls) holds a `wasm_runs` slot. Agent tools use
 * `runUnbounded`: they are bounded already, by MULE_MAX_AGENT_CALLS times their agent's max_tool_calls.
 */
export class BoundedWasmRunner extends WasmRunner {
  constructor(
    private readonly slots: Slots,
    options: WasmRunnerOptions,
  ) {
    super(options);
  }

  override run(request: WasmRunRequest): Promise<WasmRunResult> {
    return this.slots.hold(() => super.run(request));
  }

  runUnbounded(request: WasmRunRequest): Promise<WasmRunResult> {
    return super.run(request);
  }
}
