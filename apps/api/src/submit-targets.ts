/**
 * What a submit needs to know about a workflow (its current version and the sha256 of every module it names),
 * cached per api process so a submit costs no read. Any definition change clears it: on this process at once
 * (the routes call `clear()` after their commit), on other api processes through the `mule_definitions_changed`
 * NOTIFY, and after the listener reconnects (a notification may have been missed).
 */
import { KeyedLoader } from '@mule/core';
import { findSubmitTarget, type Pool, type SubmitTarget } from '@mule/db';

export class SubmitTargets extends KeyedLoader<SubmitTarget> {
  constructor(pool: Pool) {
    super((workflow) => findSubmitTarget(pool, workflow));
  }
}
