/**
 * What a submit needs to know about a workflow: its current version and the job plan (its steps with the sha256
 * of every module they name), built once and cached per api process so a submit costs no read, no validation and
 * no plan building. Any definition change clears it: on this process at once (the routes call `clear()` after
 * their commit), on other api processes through the `mule_definitions_changed` NOTIFY, and after the listener
 * reconnects (a notification may have been missed).
 */
import { buildPlan, KeyedLoader, workflowSchema, type JobPlan } from '@mule/core';
import { findSubmitTarget, type Pool } from '@mule/db';

export interface SubmitTarget {
  version: number;
  plan: JobPlan;
}

export class SubmitTargets extends KeyedLoader<SubmitTarget> {
  constructor(pool: Pool) {
    super(async (workflow) => {
      const found = await findSubmitTarget(pool, workflow);
      if (!found) return null;
      return { version: found.version, plan: buildPlan(workflowSchema.parse(found.spec), new Map(Object.entries(found.modules))) };
    });
  }
}
