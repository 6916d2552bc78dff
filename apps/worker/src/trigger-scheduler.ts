/**
 * Schedule triggers (docs/triggers.md): every worker looks at the schedules every MULE_TRIGGER_TICK_MS and fires
 * each one whose latest due time is newer than its `last_fired_at` and at most MAX_LATENESS_MS old. Which worker
 * fires a due time is decided by the database, not by an election: the fire advances `last_fired_at` with a
 * conditional UPDATE in the job's transaction (packages/db/src/triggers-repo.ts), so a due time starts one job
 * however many workers see it. A due time older than the window (everything was down) is not replayed.
 *
 * With tracing on, a fire has no caller whose trace it could continue: it starts a trace of its own, a
 * `schedule <trigger>` root span whose context is stored with the job, so the job's claims are its children.
 */
import {
  buildPlan,
  compileTrigger,
  evaluateTemplate,
  formatJobId,
  latestDueTime,
  timeOrderedId,
  triggerSchema,
  workflowSchema,
  type TriggerDefinition,
} from '@mule/core';
import { CHANNELS, findSubmitTarget, fireSchedule, listScheduledTriggers, NotifyBatcher, type JobQueue, type Pool, type ScheduledTrigger } from '@mule/db';
import { metrics, SpanKind, SpanStatusCode, traceContextIn, tracer, type Logger } from '@mule/observability';

/**
 * A due time fires only within this long after it: ticks are 5 s apart by default, so 60 s leaves room for a
 * slow tick or a short database outage, and a worker that comes back after an outage does not start old runs.
 */
export const MAX_LATENESS_MS = 60_000;

interface SchedulerDeps {
  pool: Pool;
  queue: JobQueue;
  log: Logger;
}

/** Starts the ticks, every `tickMs` (MULE_TRIGGER_TICK_MS); the returned function stops them (shutdown). */
export function startTriggerScheduler(deps: SchedulerDeps, tickMs: number): () => void {
  const announce = new NotifyBatcher(deps.pool, CHANNELS.jobQueued, (error) =>
    deps.log.warn({ err: error.message }, 'could not announce a scheduled job; workers find it by their poll'),
  );
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      for (const trigger of await listScheduledTriggers(deps.pool)) {
        await fireIfDue(deps, trigger, new Date()).then(
          (started) => started && announce.send(),
          (error: Error) => deps.log.warn({ trigger: trigger.name, err: error.message }, 'schedule trigger could not fire; the next tick tries again'),
        );
      }
    } catch (error) {
      deps.log.warn({ err: (error as Error).message }, 'schedule triggers could not be read; the next tick tries again');
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), tickMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** Fires the trigger's latest due time if it is new and recent; true when a job was started. */
export async function fireIfDue(deps: SchedulerDeps, row: ScheduledTrigger, now: Date): Promise<boolean> {
  // Only the schedule is read on every tick; the whole definition is validated (its templates compiled) when due.
  const { schedule, timezone } = row.spec as { schedule?: unknown; timezone?: unknown };
  if (typeof schedule !== 'string') return false;
  const due = latestDueTime(schedule, typeof timezone === 'string' ? timezone : undefined, now);
  if (row.lastFiredAt && due.getTime() <= row.lastFiredAt.getTime()) return false;
  if (now.getTime() - due.getTime() > MAX_LATENESS_MS) return false;
  const parsed = triggerSchema.safeParse(row.spec);
  if (!parsed.success) return false;
  const definition: TriggerDefinition = parsed.data;
  const target = await findSubmitTarget(deps.pool, definition.workflow);
  if (!target) return false;
  const compiled = compileTrigger(definition);
  const input = compiled.input ? evaluateTemplate(compiled.input, { input: null, steps: {} }) : {};
  const id = timeOrderedId();
  const span = tracer.startSpan(`schedule ${row.name}`, {
    root: true,
    kind: SpanKind.PRODUCER,
    attributes: { 'mule.trigger.name': row.name, 'mule.trigger.due': due.toISOString(), 'mule.workflow': definition.workflow },
  });
  let outcome;
  try {
    outcome = await fireSchedule(deps.pool, deps.queue, {
      trigger: row.name,
      due,
      overlapSkip: (definition.overlap ?? 'skip') === 'skip',
      job: {
        id,
        workflow: definition.workflow,
        version: target.version,
        model: `workflow/${definition.workflow}`,
        input,
        plan: buildPlan(workflowSchema.parse(target.spec), new Map(Object.entries(target.modules))),
        idempotencyKey: null,
        apiKeyId: null,
        traceContext: traceContextIn(span),
      },
    });
  } catch (error) {
    span.recordException(error as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
    span.end();
    throw error;
  }
  // Another worker fired this due time, and its span is the trace of that fire. This one is never ended, so it is
  // never exported (the SDK sends ended spans only): a due time is one trace however many workers saw it.
  if (outcome === 'already_fired') return false;
  span.setAttributes({ 'mule.trigger.outcome': outcome, ...(outcome === 'started' ? { 'mule.job.id': id } : {}) });
  span.end();
  metrics.triggerFires.inc({ trigger: row.name, outcome });
  const fields = { trigger: row.name, due: due.toISOString() };
  if (outcome === 'started') deps.log.info({ ...fields, job_id: formatJobId(id) }, 'schedule trigger started a job');
  else deps.log.info(fields, 'schedule trigger skipped: its last job has not finished (overlap: skip)');
  return outcome === 'started';
}
