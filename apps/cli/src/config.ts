/**
 * The CLI's configuration, read from the environment in this one place (as the api's and the worker's are). Every
 * variable is optional here: each command says what it needs, with its own message, when a variable it needs is
 * missing; and `mule start` hands the whole environment on to the api and worker it runs, which check their own.
 */
import { z } from 'zod';

const schema = z.object({
  /** `mule start`: an outside PostgreSQL (unset: the embedded one). `mule keys create`: the database to write to. */
  DATABASE_URL: z.string().optional(),
  /** `mule start`: where its state lives (embedded PostgreSQL data, the generated secret key); default ./.mule. */
  MULE_HOME: z.string().optional(),
  /** `mule start`: MULE_SECRET_KEY for the api and worker (unset: one generated once into MULE_HOME). */
  MULE_SECRET_KEY: z.string().optional(),
  /** `mule start`: the definitions the api loads (unset: the repository's examples/). */
  MULE_DEFINITIONS: z.string().optional(),
  /** `mule apply`: the api to apply definitions to. */
  MULE_URL: z.string().default('http://127.0.0.1:8080'),
  /** `mule apply`: the API key to send (needed once the api has keys). */
  MULE_API_KEY: z.string().optional(),
});

export type CliConfig = Readonly<z.infer<typeof schema>> & {
  /** The whole environment, for the processes `mule start` runs. */
  readonly env: Readonly<Record<string, string | undefined>>;
};

export function loadCliConfig(env: Record<string, string | undefined> = process.env): CliConfig {
  return Object.freeze({ ...schema.parse(env), env: { ...env } });
}
