/**
 * An `mcp_server` definition: a remote MCP server (Streamable HTTP) whose tools agents may call. Storing one never
 * contacts the server. Header values come from environment variables (`headers_env`: header → variable), read
 * where the agent runs and only through MULE_ENV_ALLOW, so a token never sits in the database.
 */
import { z } from 'zod';
import { descriptionSchema, nameSchema } from './definition-fields.js';
import { envVarAllowed } from './env-allow.js';
import { MuleError } from './errors.js';

// RFC 9110 token characters; a header name outside them would be refused by fetch at call time, not at write time.
const headerNameSchema = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/, 'must be an HTTP header name');
const envNameSchema = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be an environment variable name');
// MCP tool names are 1–128 characters (the specification's recommendation); Mule only needs them to be non-empty text.
const mcpToolNameSchema = z.string().min(1).max(128);

export const mcpServerSchema = z
  .strictObject({
    name: nameSchema,
    description: descriptionSchema.optional(),
    url: z
      .string()
      .max(2000)
      .refine((value) => /^https?:\/\//i.test(value) && URL.canParse(value), 'must be an http(s) URL'),
    headers_env: z.record(headerNameSchema, envNameSchema).optional(),
    tools: z.array(mcpToolNameSchema).max(256).optional(),
  })
  .superRefine((value, ctx) => {
    const seen = new Set<string>();
    for (const header of Object.keys(value.headers_env ?? {})) {
      if (seen.has(header.toLowerCase())) ctx.addIssue({ code: 'custom', path: ['headers_env', header], message: `duplicate header "${header}"` });
      seen.add(header.toLowerCase());
    }
  });
export type McpServerDefinition = z.infer<typeof mcpServerSchema>;

/** Refuses a `headers_env` variable MULE_ENV_ALLOW does not allow: 400 whose `param` is `headers_env.<header>`. */
export function checkMcpServerEnv(definition: McpServerDefinition, allow: readonly string[]): void {
  for (const [header, variable] of Object.entries(definition.headers_env ?? {})) {
    if (!envVarAllowed(variable, allow)) {
      throw new MuleError(
        'invalid_request',
        `headers_env.${header}: ${variable} may not be read by a definition (allowed: MULE_ENV_ALLOW, never DATABASE_URL, MULE_SECRET_KEY or MULE_API_KEYS)`,
        { param: `headers_env.${header}` },
      );
    }
  }
}
