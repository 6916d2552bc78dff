/**
 * Which environment variables a definition may name (`api_key_env`, `base_url_env`, any `*_env` field). A
 * provider's base URL and key both leave the process, so a definition naming DATABASE_URL or MULE_SECRET_KEY
 * could send them to any URL: MULE_ENV_ALLOW lists the names (globs) that may be read, and three names are never
 * readable whatever it says. Checked when a definition is written and again where the variable is read, so a
 * definition stored before the rule cannot leak either.
 */
import { z } from 'zod';
import { MuleError } from './errors.js';
import { globMatches } from './glob.js';

export const DEFAULT_ENV_ALLOW: readonly string[] = ['MULE_PROVIDER_*', 'OPENAI_*', 'GEMINI_*', '*_API_KEY', '*_TOKEN', '*_WEBHOOK_SECRET'];

/** Mule's own secrets: never readable by a definition. Compared without case (Windows' environment ignores it). */
export const NEVER_ALLOWED_ENV: readonly string[] = ['DATABASE_URL', 'MULE_SECRET_KEY', 'MULE_API_KEYS'];

const ENV_GLOB = /^[A-Za-z0-9_*]{1,128}$/;

export function envVarAllowed(name: string, allow: readonly string[]): boolean {
  if (NEVER_ALLOWED_ENV.includes(name.toUpperCase())) return false;
  return allow.some((pattern) => globMatches(pattern, name));
}

/** MULE_ENV_ALLOW: comma-separated globs of variable names; unset or empty is DEFAULT_ENV_ALLOW. */
export const envAllowVar = z
  .string()
  .optional()
  .transform((value, ctx) => {
    const patterns = (value ?? '').split(',').map((pattern) => pattern.trim()).filter(Boolean);
    if (patterns.length === 0) return DEFAULT_ENV_ALLOW;
    if (patterns.some((pattern) => !ENV_GLOB.test(pattern))) {
      ctx.addIssue({ code: 'custom', message: 'must be comma-separated variable names or globs (letters, digits, "_" and "*")' });
      return z.NEVER;
    }
    return patterns as readonly string[];
  });

/**
 * Refuses a definition naming a variable MULE_ENV_ALLOW does not allow: 400 invalid_request whose `param` is the
 * field (e.g. `api_key_env`).
 */
export function checkDefinitionEnv(definition: object, allow: readonly string[]): void {
  for (const [field, value] of Object.entries(definition)) {
    if (!field.endsWith('_env') || typeof value !== 'string') continue;
    if (!envVarAllowed(value, allow)) {
      throw new MuleError(
        'invalid_request',
        `${field}: ${value} may not be read by a definition (allowed: MULE_ENV_ALLOW, never DATABASE_URL, MULE_SECRET_KEY or MULE_API_KEYS)`,
        { param: field },
      );
    }
  }
}
