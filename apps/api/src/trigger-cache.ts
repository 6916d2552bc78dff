/**
 * A webhook trigger's definition with its `filter` and `input` compiled, once per definition version (validating
 * compiles them, and compiling is CEL parsing and planning; a delivery then only evaluates). Keyed by name and
 * updated_at: a PUT that changes the trigger changes its updated_at, so a stale entry is never used, on this api or
 * on any other.
 */
import { compileTrigger, triggerSchema, type CompiledTrigger, type TriggerDefinition } from '@mule/core';
import type { TriggerRow } from '@mule/db';

export interface PreparedTrigger {
  definition: TriggerDefinition;
  compiled: CompiledTrigger;
}

/** Bounded like the job view's graph cache: more triggers than this just compile again. */
const MAX_CACHED = 1000;
const cache = new Map<string, { updatedAt: number; prepared: PreparedTrigger | null }>();

/** The stored definition, prepared; null when it no longer validates (it was checked when written). */
export function preparedTrigger(row: TriggerRow): PreparedTrigger | null {
  const hit = cache.get(row.name);
  if (hit && hit.updatedAt === row.updatedAt.getTime()) return hit.prepared;
  const parsed = triggerSchema.safeParse(row.spec);
  const prepared = parsed.success ? { definition: parsed.data, compiled: compileTrigger(parsed.data) } : null;
  if (cache.size >= MAX_CACHED && !hit) cache.delete(cache.keys().next().value!);
  cache.set(row.name, { updatedAt: row.updatedAt.getTime(), prepared });
  return prepared;
}
