/**
 * Helpers for the apps' configuration schemas (each app has one zod schema, parsed once at start). A bad value
 * becomes one clear line naming the variable.
 */
import { z } from 'zod';
import { parseSecretKey } from './secret-box.js';

export class ConfigError extends Error {}

/** Parses `env` with `schema`; throws ConfigError("NAME: problem") for the first bad variable. */
export function parseConfig<T>(schema: z.ZodType<T>, env: Record<string, string | undefined>): Readonly<T> {
  const result = schema.safeParse(env);
  if (result.success) return Object.freeze(result.data);
  const issue = result.error.issues[0]!;
  const name = String(issue.path[0] ?? 'configuration');
  const value = env[name];
  // Secrets (keys, connection strings with passwords) are never echoed, even when wrong.
  const secret = /KEY|SECRET|PASSWORD|TOKEN|DATABASE_URL/.test(name);
  const shown = value === undefined ? 'unset' : secret ? 'set' : `"${value.length > 40 ? value.slice(0, 40) + '…' : value}"`;
  throw new ConfigError(`invalid configuration: ${name} (${shown}): ${issue.message}`);
}

/** An integer variable with bounds and a default. */
export const intVar = (fallback: number, min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === '') return fallback;
      const parsed = Number(value);
      if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
        ctx.addIssue({ code: 'custom', message: `must be an integer from ${min} to ${max}` });
        return z.NEVER;
      }
      return parsed;
    });

/** A boolean variable: true/false/1/0/yes/no. */
export const boolVar = (fallback: boolean) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === '') return fallback;
      const normalized = value.trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(normalized)) return true;
      if (['false', '0', 'no', 'off'].includes(normalized)) return false;
      ctx.addIssue({ code: 'custom', message: 'must be true or false' });
      return z.NEVER;
    });

export const postgresUrlVar = z
  .string({ error: 'is required (a postgres:// connection string)' })
  .refine((value) => /^postgres(ql)?:\/\//.test(value) && URL.canParse(value), 'must be a postgres:// connection string');

/** MULE_SECRET_KEY: 32 bytes as 64 hex characters or base64; null when unset. */
export const secretKeyVar = z
  .string()
  .optional()
  .transform((value, ctx) => {
    if (value === undefined || value === '') return null;
    const key = parseSecretKey(value);
    if (!key) {
      ctx.addIssue({ code: 'custom', message: 'must be 32 bytes as 64 hex characters or base64' });
      return z.NEVER;
    }
    return key;
  });

/** Loads a process's configuration, or prints the one line naming the bad variable and exits (a bad setting must stop a process at start, not at first use). */
export function loadConfigOrExit<T>(load: () => T): T {
  try {
    return load();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
}

export const logLevelVar = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info');
