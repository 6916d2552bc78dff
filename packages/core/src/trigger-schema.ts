/**
 * `kind: trigger`: a workflow started by a schedule (5-field cron in an IANA time zone) or by a webhook
 * (`POST /v1/hooks/<name>`, authenticated by its signature). docs/triggers.md describes every field.
 * Validation here is whole: the cron parses, the zone exists, `filter` and `input` compile over the variables a
 * trigger has (`body`, `headers` for a webhook; none for a schedule).
 */
import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { descriptionSchema, nameSchema } from './definition-fields.js';
import { MuleError } from './errors.js';
import { compileCondition, parseTemplate, type Condition, type Template } from './expressions/index.js';
import type { ExpressionVariable } from './expressions/index.js';

export const SIGNATURE_SCHEMES = ['github', 'stripe', 'hmac-sha256', 'none'] as const;
export type SignatureScheme = (typeof SIGNATURE_SCHEMES)[number];

/** What a webhook's `filter` and `input` see; a schedule's input sees nothing (it is data, maybe constant CEL). */
export const WEBHOOK_VARIABLES: readonly ExpressionVariable[] = ['body', 'headers'];
const SCHEDULE_VARIABLES: readonly ExpressionVariable[] = [];

const envNameSchema = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be an environment variable name');

/** A 5-field cron (minute precision): a seconds field would fire more often than the scheduler looks. */
const cronSchema = z
  .string()
  .max(200)
  .superRefine((value, ctx) => {
    const fields = value.trim().split(/\s+/);
    if (fields.length !== 5) {
      ctx.addIssue({ code: 'custom', message: `must be a cron of 5 fields (minute hour day month weekday), got ${fields.length}` });
      return;
    }
    try {
      CronExpressionParser.parse(value.trim(), { tz: 'UTC' });
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: `is not a valid cron: ${(error as Error).message}` });
    }
  });

export function isValidTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const timezoneSchema = z.string().max(64).refine(isValidTimeZone, 'must be an IANA time zone name (e.g. Europe/Paris, UTC)');

export const webhookSchema = z
  .strictObject({
    signature: z.enum(SIGNATURE_SCHEMES),
    secret_env: envNameSchema.optional(),
  })
  .superRefine((value, ctx) => {
    if (value.signature !== 'none' && value.secret_env === undefined) {
      ctx.addIssue({ code: 'custom', path: ['secret_env'], message: `signature ${value.signature} needs secret_env` });
    }
    if (value.signature === 'none' && value.secret_env !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['secret_env'], message: 'signature none checks nothing: remove secret_env' });
    }
  });

export const triggerSchema = z
  .strictObject({
    name: nameSchema,
    description: descriptionSchema.optional(),
    workflow: nameSchema,
    schedule: cronSchema.optional(),
    timezone: timezoneSchema.optional(),
    overlap: z.enum(['skip', 'allow']).optional(),
    webhook: webhookSchema.optional(),
    filter: z.string().max(2000).optional(),
    input: z.unknown().optional(),
  })
  .superRefine((value, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if ((value.schedule === undefined) === (value.webhook === undefined)) {
      issue('schedule', 'give exactly one of schedule and webhook');
      return;
    }
    if (value.webhook) {
      for (const field of ['timezone', 'overlap'] as const) {
        if (value[field] !== undefined) issue(field, `${field} is for a schedule; a webhook starts a job per delivery`);
      }
    }
    if (value.schedule !== undefined && value.filter !== undefined) issue('filter', 'filter is for a webhook (it reads body and headers)');
    const variables = value.webhook ? WEBHOOK_VARIABLES : SCHEDULE_VARIABLES;
    try {
      if (value.filter !== undefined) compileCondition(value.filter, 'filter', variables);
      if (value.input !== undefined) parseTemplate(value.input, 'input', variables);
    } catch (error) {
      // The compile error names its place (`filter`, `input.a.b`); the issue carries it as the path instead.
      const param = error instanceof MuleError && error.param ? error.param : 'input';
      const message = (error as Error).message;
      ctx.addIssue({ code: 'custom', path: param.split('.'), message: message.startsWith(`${param}: `) ? message.slice(param.length + 2) : message });
    }
  });
export type TriggerDefinition = z.infer<typeof triggerSchema>;

/** A trigger's filter and input, compiled once (the api caches them per definition). */
export interface CompiledTrigger {
  filter: Condition | null;
  input: Template | null;
}

export function compileTrigger(definition: TriggerDefinition): CompiledTrigger {
  const variables = definition.webhook ? WEBHOOK_VARIABLES : SCHEDULE_VARIABLES;
  return {
    filter: definition.filter === undefined ? null : compileCondition(definition.filter, 'filter', variables),
    input: definition.input === undefined ? null : parseTemplate(definition.input, 'input', variables),
  };
}

/** The latest time the cron names at or before `now`, in the trigger's zone (default UTC). */
export function latestDueTime(schedule: string, timezone: string | undefined, now: Date): Date {
  // prev() is strictly before currentDate: one millisecond later makes a due time of exactly `now` count.
  const expression = CronExpressionParser.parse(schedule.trim(), { currentDate: new Date(now.getTime() + 1), tz: timezone ?? 'UTC' });
  return expression.prev().toDate();
}
