/**
 * A fixed number of pre-started sandbox threads. A thread costs ~37 ms and ~8 MiB to start (measured here), so threads
 * are reused from run to run; a run waits in a FIFO queue while all are busy. The deadline is enforced here, from
 * the main thread: wasm cannot be interrupted from inside its own thread, so on expiry (or abort) the thread is
 * terminated, which stops even a loop in a start function within ~10 ms, and a new one is started in its place
 * once it has exited.
 * Other runs, on other threads, never notice.
 */
import { Worker } from 'node:worker_threads';
import { MuleError } from '@mule/core';
import type { FromThread, RunMessage, RunReply, ThreadInit } from './thread-protocol.js';

export interface PoolJob {
  sha256: string;
  module: WebAssembly.Module;
  input: string;
  /** Counted from the moment a thread takes the job: waiting in the queue is not the module's fault. */
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

interface Job extends PoolJob {
  id: number;
  resolve: (reply: RunReply) => void;
  reject: (error: MuleError) => void;
  slot: Slot | null;
  timer: NodeJS.Timeout | null;
  onAbort: (() => void) | null;
  settled: boolean;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  job: Job | null;
  /** Modules this thread already holds, so they are posted to it once (posting one costs ~75 us). */
  modules: Set<string>;
  /** Terminated or crashed: its events are ignored from then on. */
  gone: boolean;
}

/** A thread's JS heap holds only its capture buffers and one input; wasm memory is capped by admission. */
const THREAD_HEAP_MB = 256;
/** After this many threads in a row died before becoming ready, wait before starting more. */
const START_FAILURES_BEFORE_PAUSE = 3;
const START_PAUSE_MS = 1000;

export class ThreadPool {
  private readonly slots = new Set<Slot>();
  private readonly queue: Job[] = [];
  private readonly readyWaiters: Array<{ resolve: () => void; reject: (error: MuleError) => void }> = [];
  /** Threads stopped by a deadline or an abort that have not exited yet; each has its replacement to come. */
  private readonly exiting = new Set<Promise<void>>();
  private restartTimer: NodeJS.Timeout | null = null;
  private pendingRestarts = 0;
  private nextId = 1;
  /** Holds taken by pending runs and readiness waits: threads keep the process alive only while there are some. */
  private holds = 0;
  private startFailures = 0;
  private closed = false;

  constructor(
    private readonly size: number,
    private readonly init: ThreadInit,
  ) {
    for (let i = 0; i < size; i++) this.spawn();
  }

  run(request: PoolJob): Promise<RunReply> {
    if (this.closed) return Promise.reject(closedError());
    if (request.signal?.aborted) return Promise.reject(cancelledError());
    return new Promise<RunReply>((resolve, reject) => {
      const pending = { slot: null, timer: null, onAbort: null, settled: false };
      const job: Job = { ...request, ...pending, id: this.nextId++, resolve, reject };
      if (request.signal) {
        const onAbort = () => this.stop(job, cancelledError());
        job.onAbort = onAbort;
        request.signal.addEventListener('abort', onAbort, { once: true });
      }
      const slot = this.idleSlot();
      if (slot) this.dispatch(slot, job);
      else this.queue.push(job);
    });
  }

  /** A module left the runner's cache: threads that hold it drop it. */
  forget(sha256: string): void {
    for (const slot of this.slots) {
      if (slot.modules.delete(sha256)) slot.worker.postMessage({ type: 'forget', sha256 });
    }
  }

  /** Resolves once every thread has started (runs queue until then anyway). */
  whenReady(): Promise<void> {
    if (this.allReady()) return Promise.resolve();
    const release = this.hold();
    return new Promise<void>((resolve, reject) => this.readyWaiters.push({ resolve, reject })).finally(release);
  }

  /**
   * Keeps the threads referenced until the returned function is called. Idle threads are unref'd so that an
   * idle runner never keeps a process from exiting; a pending run (loading, compiling, queued or running) or a
   * readiness wait must keep them, or a script awaiting only the runner would exit half-way.
   */
  hold(): () => void {
    if (this.holds++ === 0) for (const slot of this.slots) slot.worker.ref();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.holds === 0) for (const slot of this.slots) slot.worker.unref();
    };
  }

  stats(): { threads: number; busy: number; queued: number } {
    let threads = 0;
    let busy = 0;
    for (const slot of this.slots) {
      if (slot.ready) threads++;
      if (slot.job) busy++;
    }
    return { threads, busy, queued: this.queue.length };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const job of this.queue.splice(0)) this.fail(job, closedError());
    const exits: Array<Promise<number>> = [];
    for (const slot of this.slots) {
      slot.gone = true;
      if (slot.job) this.fail(slot.job, closedError());
      exits.push(slot.worker.terminate());
    }
    this.slots.clear();
    if (this.restartTimer) clearTimeout(this.restartTimer);
    for (const waiter of this.readyWaiters.splice(0)) waiter.resolve();
    await Promise.all([...exits, ...this.exiting]);
  }

  private spawn(): void {
    const worker = new Worker(new URL('./thread.js', import.meta.url), {
      workerData: this.init,
      // The host's flags (--inspect, --eval, loaders) are no business of a sandbox thread; nor its environment.
      execArgv: [],
      env: {},
      resourceLimits: { maxOldGenerationSizeMb: THREAD_HEAP_MB },
    });
    const slot: Slot = { worker, ready: false, job: null, modules: new Set(), gone: false };
    this.slots.add(slot);
    if (this.holds === 0) worker.unref();
    worker.on('message', (message: FromThread) => this.onMessage(slot, message));
    worker.on('error', (error) => this.onDeath(slot, error.message));
    worker.on('exit', (code) => this.onDeath(slot, `it exited with code ${code}`));
  }

  private onMessage(slot: Slot, message: FromThread): void {
    if (slot.gone) return;
    if (message.type === 'ready') {
      slot.ready = true;
      this.startFailures = 0;
      if (this.allReady()) for (const waiter of this.readyWaiters.splice(0)) waiter.resolve();
      this.next(slot);
      return;
    }
    const job = slot.job;
    if (job === null || job.id !== message.id) return;
    slot.job = null;
    this.settle(job);
    job.resolve(message);
    this.next(slot);
  }

  /** A thread that dies on its own (a crash, or its heap limit) fails its run and is replaced. */
  private onDeath(slot: Slot, reason: string): void {
    if (slot.gone) return;
    slot.gone = true;
    this.slots.delete(slot);
    if (slot.job) this.fail(slot.job, new MuleError('wasm_trap', `The module crashed its sandbox thread: ${reason}.`));
    if (this.closed) return;
    if (slot.ready) return this.spawn();
    if (++this.startFailures < START_FAILURES_BEFORE_PAUSE) return this.spawn();
    const error = new MuleError('internal_error', `The WASM sandbox threads fail to start: ${reason}.`);
    for (const job of this.queue.splice(0)) this.fail(job, error);
    for (const waiter of this.readyWaiters.splice(0)) waiter.reject(error);
    this.pendingRestarts++;
    this.restartTimer ??= setTimeout(() => {
      this.restartTimer = null;
      for (; this.pendingRestarts > 0; this.pendingRestarts--) this.spawn();
    }, START_PAUSE_MS);
  }

  private dispatch(slot: Slot, job: Job): void {
    slot.job = job;
    job.slot = slot;
    const { id, sha256, input, timeoutMs } = job;
    const message: RunMessage = { type: 'run', id, sha256, input, timeoutMs };
    if (!slot.modules.has(job.sha256)) {
      message.module = job.module;
      slot.modules.add(job.sha256);
    }
    job.timer = setTimeout(() => this.stop(job, timeoutError(job.timeoutMs)), job.timeoutMs);
    slot.worker.postMessage(message);
  }

  private next(slot: Slot): void {
    const job = this.queue.shift();
    if (job) this.dispatch(slot, job);
  }

  /** Timeout or abort: a queued job just leaves the queue; a running one takes its thread down with it. */
  private stop(job: Job, error: MuleError): void {
    if (job.settled) return;
    const slot = job.slot;
    if (slot === null) {
      const index = this.queue.indexOf(job);
      if (index >= 0) this.queue.splice(index, 1);
    } else if (!slot.gone) {
      slot.gone = true;
      slot.job = null;
      this.slots.delete(slot);
      this.replaceOnExit(slot);
    }
    this.fail(job, error);
  }

  /**
   * Terminates a thread and starts its replacement once it has exited. terminate() stops wasm code, but not an
   * instantiation or compilation in progress inside V8: a thread stopped at its deadline while instantiating
   * 1000 tables went on allocating (~100 MB/s, past 1 GB) after the run had failed. Waiting for the exit keeps
   * the threads alive at any time to the pool's size, so what they hold stays bounded by the admission caps.
   */
  private replaceOnExit(slot: Slot): void {
    const exited = slot.worker.terminate().then(
      () => undefined,
      () => undefined,
    );
    this.exiting.add(exited);
    void exited.then(() => {
      this.exiting.delete(exited);
      if (!this.closed) this.spawn();
    });
  }

  private fail(job: Job, error: MuleError): void {
    if (job.settled) return;
    this.settle(job);
    job.reject(error);
  }

  private settle(job: Job): void {
    job.settled = true;
    if (job.timer) clearTimeout(job.timer);
    if (job.onAbort) job.signal?.removeEventListener('abort', job.onAbort);
  }

  private idleSlot(): Slot | null {
    for (const slot of this.slots) if (slot.ready && slot.job === null) return slot;
    return null;
  }

  private allReady(): boolean {
    if (this.slots.size < this.size) return false;
    for (const slot of this.slots) if (!slot.ready) return false;
    return true;
  }

}

function timeoutError(timeoutMs: number): MuleError {
  return new MuleError('wasm_timeout', `The module ran longer than its ${timeoutMs} ms time limit and was stopped.`);
}

function cancelledError(): MuleError {
  return new MuleError('cancelled', 'The module run was cancelled.');
}

function closedError(): MuleError {
  return new MuleError('cancelled', 'The WASM runner was shut down before the module ran to completion.');
}
