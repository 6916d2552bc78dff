/**
 * A webhook trigger's `filter` and `input`, compiled once per definition version (compiling is CEL parsing and
 * planning; a delivery then only evaluates). Keyed by name and updated_at: a PUT that changes the trigger changes
 * its updated_at, so a stale entry is never used, on this api or on any other.
 */
import { compileTrigger, triggerSchema, type CompiledTrigger } from '@mule/core';
import type { TriggerRow } from '@mule/db';

/** Bounded like the job view's graph cache: more triggers than this just compile again. */
const MAX_CACHED = 1000;
const cache = new Map<string, { updatedAt: number; compiled: CompiledTrigger }>();

export function compiledTrigger(row: TriggerRow): CompiledTrigger {
  const hit = cache.get(row.name);
  if (hit && hit.updatedAt === row.updatedAt.getTime()) return hit.compiled;
  const compiled = compileTrigger(triggerSchema.parse(row.spec));
  if (cache.size >= MAX_CACHED && !hit) cache.delete(cache.keys().next().value!);
  cache.set(row.name, { updatedAt: row.updatedAt.getTime(), compiled });
  return compiled;
}
