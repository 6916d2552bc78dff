/**
 * The jobs this process is running, each with an AbortController: a cancel NOTIFY from the api, a lost claim
 * or shutdown aborts the job's current step (the WASM thread is terminated, the provider call is aborted).
 */
import { MuleError } from '@mule/core';

export class RunningJobs {
  private readonly controllers = new Map<string, AbortController>();
  private readonly wakers = new Map<string, () => void>();

  /** Registers a job; its signal also follows `parent` (pg-boss aborts it when the claim is lost). */
  start(jobId: string, parent?: AbortSignal): AbortController {
    const controller = new AbortController();
    if (parent) {
      if (parent.aborted) controller.abort(new MuleError('cancelled', 'the claim on this job was lost'));
      else parent.addEventListener('abort', () => controller.abort(new MuleError('cancelled', 'the claim on this job was lost')), { once: true });
    }
    this.controllers.set(jobId, controller);
    return controller;
  }

  cancel(jobId: string): boolean {
    const controller = this.controllers.get(jobId);
    if (!controller) return false;
    controller.abort(new MuleError('cancelled', 'the job was cancelled'));
    return true;
  }

  finish(jobId: string): void {
    this.controllers.delete(jobId);
    this.wakers.delete(jobId);
  }

  /** What to call when the api announces news for a running job (a wait resumed or rejected meanwhile). */
  onWake(jobId: string, wake: () => void): void {
    this.wakers.set(jobId, wake);
  }

  wake(jobId: string): boolean {
    const wake = this.wakers.get(jobId);
    wake?.();
    return wake !== undefined;
  }

  ids(): string[] {
    return [...this.controllers.keys()];
  }

  get size(): number {
    return this.controllers.size;
  }
}
