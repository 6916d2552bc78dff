/**
 * What a submit needs to know about a workflow (its current version and the sha256 of every module it names),
 * cached per api process so a submit costs no read. Any definition change clears it: on this process at once
 * (the routes call `clear()` after their commit), on other api processes through the `mule_definitions_changed`
 * NOTIFY, and after the listener reconnects (a notification may have been missed).
 */
import { findSubmitTarget, type Pool, type SubmitTarget } from '@mule/db';

export class SubmitTargets {
  private readonly cache = new Map<string, Promise<SubmitTarget | null>>();

  constructor(private readonly pool: Pool) {}

  get(workflow: string): Promise<SubmitTarget | null> {
    let target = this.cache.get(workflow);
    if (!target) {
      target = findSubmitTarget(this.pool, workflow);
      // Unknown names are not kept: a miss must not hold memory or hide a workflow created a moment later.
      target.then(
        (found) => found === null && this.cache.get(workflow) === target && this.cache.delete(workflow),
        () => this.cache.get(workflow) === target && this.cache.delete(workflow),
      );
      this.cache.set(workflow, target);
    }
    return target;
  }

  clear(): void {
    this.cache.clear();
  }
}
