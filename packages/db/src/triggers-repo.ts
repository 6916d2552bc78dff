/**
 * Triggers (docs/triggers.md): their definitions through Prisma, and a schedule's fire. A fire is one
 * transaction that advances `last_fired_at` to the due time only while it is older (the row lock makes a second
 * worker wait, then see the new value and change nothing), and inserts the job with its queue entry; so a due
 * time starts at most one job however many workers look at it, with or without any other coordination.
 */
import { canonicalJson } from '@mule/core';
import { MissingReferenceError, type PutOutcome, type SpecRow } from './definitions-repo.js';
import { jobRowsStatement, type NewJob } from './job-rows.js';
import type { Pool } from './pool.js';
import { Prisma, type PrismaClient } from './prisma-client.js';
import type { JobQueue } from './queue.js';

export interface TriggerRow extends SpecRow {
  workflowName: string;
  lastFiredAt: Date | null;
}

export function listTriggers(prisma: PrismaClient): Promise<TriggerRow[]> {
  return prisma.trigger.findMany({ orderBy: { name: 'asc' } });
}

export function getTrigger(prisma: PrismaClient, name: string): Promise<TriggerRow | null> {
  return prisma.trigger.findUnique({ where: { name } });
}

const scheduleOf = (spec: unknown) => {
  const { schedule, timezone } = (spec ?? {}) as Record<string, unknown>;
  return canonicalJson({ schedule, timezone });
};

/**
 * Creates or replaces a trigger; its workflow must exist (locked FOR SHARE until the commit, so a concurrent
 * DELETE of the workflow waits and then sees this trigger). A new schedule (or a changed one) starts counting
 * from now: only due times after the definition was written fire.
 */
export async function putTrigger(prisma: PrismaClient, name: string, spec: { workflow: string }): Promise<PutOutcome> {
  return prisma.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`trigger/${name}`}, 0))`;
    const workflow = await tx.$queryRaw<{ name: string }[]>`SELECT name FROM workflows WHERE name = ${spec.workflow} FOR SHARE`;
    if (workflow.length === 0) throw new MissingReferenceError('workflow', [spec.workflow]);
    const existing = await tx.trigger.findUnique({ where: { name } });
    if (existing && canonicalJson(existing.spec) === canonicalJson(spec)) return 'unchanged';
    const json = spec as Prisma.InputJsonValue;
    const now = new Date();
    const lastFiredAt = existing && scheduleOf(existing.spec) === scheduleOf(spec) ? existing.lastFiredAt : now;
    await tx.trigger.upsert({
      where: { name },
      create: { name, workflowName: spec.workflow, spec: json, lastFiredAt },
      update: { workflowName: spec.workflow, spec: json, lastFiredAt, updatedAt: now },
    });
    return existing ? ('replaced' as const) : ('created' as const);
  });
}

export async function deleteTrigger(prisma: PrismaClient, name: string): Promise<boolean> {
  const { count } = await prisma.trigger.deleteMany({ where: { name } });
  return count > 0;
}

export interface ScheduledTrigger {
  name: string;
  workflowName: string;
  spec: unknown;
  lastFiredAt: Date | null;
}

/** Every schedule trigger (the scheduler computes their due times; there are few). */
export async function listScheduledTriggers(pool: Pool): Promise<ScheduledTrigger[]> {
  const { rows } = await pool.query<ScheduledTrigger>(
    `SELECT name, workflow_name AS "workflowName", spec, last_fired_at AS "lastFiredAt" FROM triggers WHERE spec ? 'schedule' ORDER BY name`,
  );
  return rows;
}

export type FireOutcome = 'started' | 'skipped_overlap' | 'already_fired';

/**
 * Fires a schedule's due time: `started` (the job and its queue entry are written), `skipped_overlap` (overlap:
 * skip and a job of this trigger is still queued, running or waiting: the due time is used up, nothing starts)
 * or `already_fired` (another worker fired this due time, or a later one). One transaction: pg-boss's insert
 * always writes its entry, so a skip that must still advance `last_fired_at` cannot share the job's statement.
 */
export async function fireSchedule(
  pool: Pool,
  queue: JobQueue,
  fire: { trigger: string; due: Date; overlapSkip: boolean; job: NewJob },
): Promise<FireOutcome> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    try {
      const advanced = await client.query(
        `UPDATE triggers SET last_fired_at = $2 WHERE name = $1 AND (last_fired_at IS NULL OR last_fired_at < $2)`,
        [fire.trigger, fire.due],
      );
      if (advanced.rowCount === 0) {
        await client.query('ROLLBACK');
        return 'already_fired';
      }
      if (fire.overlapSkip) {
        const busy = await client.query<{ busy: boolean }>(
          `SELECT EXISTS (SELECT 1 FROM jobs WHERE trigger = $1 AND status IN ('queued', 'running', 'waiting')) AS busy`,
          [fire.trigger],
        );
        if (busy.rows[0]?.busy) {
          await client.query('COMMIT');
          return 'skipped_overlap';
        }
      }
      await queue.sendMany(client, [fire.job.id], jobRowsStatement([{ ...fire.job, trigger: fire.trigger }]), null);
      await client.query('COMMIT');
      return 'started';
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    }
  } finally {
    client.release();
  }
}
