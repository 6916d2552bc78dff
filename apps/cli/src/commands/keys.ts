/**
 * `mule keys create --name <n> [--scope <pattern>]... [--rpm <n>] [--admin]`: creates an API key straight in the
 * database (DATABASE_URL), so the first key can be made before any key exists to call POST /v1/keys with. The
 * key is printed once; only its hash is stored.
 */
import { parseArgs } from 'node:util';
import { SCOPE_PATTERN } from '@mule/core';
import { announceKeysChanged, createApiKey, createPool } from '@mule/db';
import { loadCliConfig } from '../config.js';

const USAGE = 'usage: mule keys create --name <name> [--scope <pattern>]... [--rpm <n>] [--admin]   (needs DATABASE_URL)';

export async function keysCommand(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  if (action !== 'create') {
    console.error(USAGE);
    return 2;
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        name: { type: 'string' },
        scope: { type: 'string', multiple: true },
        rpm: { type: 'string' },
        admin: { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const rpm = values.rpm === undefined ? null : Number(values.rpm);
  const scopes = values.scope ?? [];
  if (!values.name || (rpm !== null && (!Number.isInteger(rpm) || rpm < 1)) || scopes.some((s) => !SCOPE_PATTERN.test(s))) {
    console.error(USAGE);
    return 2;
  }
  const url = loadCliConfig().DATABASE_URL;
  if (!url) {
    console.error('DATABASE_URL is required: keys are created in the database');
    return 1;
  }
  const pool = createPool({ connectionString: url, max: 1, applicationName: 'mule-keys' });
  try {
    const key = await createApiKey(pool, { name: values.name, scopes, rpm, admin: values.admin ?? false });
    await announceKeysChanged(pool);
    console.log(key.key);
    console.error(`created key ${key.id} "${key.name}"${key.admin ? ' (admin)' : ''}; scopes: ${scopes.join(', ') || 'none'}${rpm ? `; ${rpm}/min` : ''}. It is shown only this once.`);
    return 0;
  } catch (error) {
    console.error(`cannot create the key: ${(error as Error).message}`);
    return 1;
  } finally {
    await pool.end();
  }
}
