/**
 * API keys (README "API keys"). A key is `mule_` + 32 random bytes (base64url); only its sha256 is stored. A fast hash is
 * right here (unlike passwords): a key has 256 bits of entropy, so there is nothing to guess, and the lookup runs
 * on every request. The stored hash is useless to present: it would be hashed again.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { CHANNELS, notify } from './listener.js';
import { withTransaction, type Pool, type Queryable } from './pool.js';
import { statement } from './prepared.js';

export interface ApiKeyRecord {
  id: string;
  name: string;
  keyPrefix: string;
  scopes: string[];
  rpm: number | null;
  admin: boolean;
  createdAt: Date;
  revokedAt: Date | null;
}

const RECORD_COLUMNS = `id, name, key_prefix AS "keyPrefix", scopes, rpm, admin, created_at AS "createdAt", revoked_at AS "revokedAt"`;

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export interface NewApiKey {
  name: string;
  scopes: string[];
  rpm: number | null;
  admin: boolean;
}

/** Creates a key; the returned `key` is the only time it exists in clear. */
export async function createApiKey(db: Queryable, input: NewApiKey): Promise<ApiKeyRecord & { key: string }> {
  const key = `mule_${randomBytes(32).toString('base64url')}`;
  const { rows } = await db.query<ApiKeyRecord>(
    `INSERT INTO api_keys (id, name, key_hash, key_prefix, scopes, rpm, admin) VALUES ($1, $2, $3, $4, $5, $6, $7)
     RETURNING ${RECORD_COLUMNS}`,
    [randomUUID(), input.name, hashKey(key), key.slice(0, 12), input.scopes, input.rpm, input.admin],
  );
  return { ...rows[0]!, key };
}

export async function listApiKeys(db: Queryable): Promise<ApiKeyRecord[]> {
  const { rows } = await db.query<ApiKeyRecord>(
    `SELECT ${RECORD_COLUMNS} FROM api_keys ORDER BY created_at DESC, id`,
  );
  return rows;
}

/**
 * Revokes a key at once. A revoked key keeps its row (that is what "keys have existed" means, see
 * anyApiKeyEver). The last active admin key is not revoked unless `otherAdminExists` (MULE_API_KEYS): that would
 * leave nobody able to manage keys over the API. The active admin keys are locked first, so two concurrent
 * revocations of the last two admin keys cannot both succeed.
 */
export async function revokeApiKey(pool: Pool, id: string, otherAdminExists: boolean): Promise<'revoked' | 'not_found' | 'last_admin'> {
  return withTransaction(pool, async (client) => {
    const { rows: admins } = await client.query<{ id: string }>(
      `SELECT id FROM api_keys WHERE admin AND revoked_at IS NULL ORDER BY id FOR UPDATE`,
    );
    const { rows } = await client.query<{ admin: boolean }>(`SELECT admin FROM api_keys WHERE id = $1 AND revoked_at IS NULL FOR UPDATE`, [id]);
    if (rows.length === 0) return 'not_found';
    if (rows[0]!.admin && !otherAdminExists && admins.every((admin) => admin.id === id)) return 'last_admin';
    await client.query(`UPDATE api_keys SET revoked_at = now() WHERE id = $1`, [id]);
    return 'revoked';
  });
}

/**
 * Tells every api process that keys changed (`mule_keys_changed`), for a writer that has no api process's
 * NotifyBatcher (the CLI). Send it after the change committed.
 */
export async function announceKeysChanged(db: Queryable): Promise<void> {
  await notify(db, CHANNELS.keysChanged, '');
}

/** Whether a key was ever created (revoked ones count): from then on every /v1 route needs a key. */
export async function anyApiKeyEver(db: Queryable): Promise<boolean> {
  const { rows } = await db.query<{ any: boolean }>(`SELECT EXISTS (SELECT 1 FROM api_keys) AS any`);
  return rows[0]?.any === true;
}

export interface AuthenticatedKey {
  id: string;
  name: string;
  scopes: string[];
  rpm: number | null;
  admin: boolean;
  /** Requests in the current window, this one included (null without a limit). */
  used: number | null;
  /** Seconds until the current window ends. */
  resetSeconds: number;
}

/**
 * Finds an active key by its hash and, when it has a limit, counts this request in the current window: one round
 * trip. The counter lives in PostgreSQL so every api replica shares it. Revocation shows at once: nothing is cached.
 * Windows are fixed and aligned to the epoch (60 s: the clock's minutes), so every replica counts in the same one.
 */
export async function authenticateApiKey(db: Queryable, keyHash: string, windowSeconds = 60): Promise<AuthenticatedKey | null> {
  const { rows } = await db.query<AuthenticatedKey>(
    statement(
      `WITH k AS (SELECT id, name, scopes, rpm, admin FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL),
            w AS (SELECT to_timestamp(floor(EXTRACT(EPOCH FROM now()) / $2::int) * $2::int) AS start),
            u AS (
              INSERT INTO api_key_usage (key_id, window_start, count)
              SELECT id, (SELECT start FROM w), 1 FROM k WHERE rpm IS NOT NULL
              ON CONFLICT (key_id, window_start) DO UPDATE SET count = api_key_usage.count + 1
              RETURNING count)
       SELECT k.id, k.name, k.scopes, k.rpm, k.admin, (SELECT count FROM u) AS used,
              ceil(EXTRACT(EPOCH FROM (SELECT start FROM w) + make_interval(secs => $2::int) - now()))::int AS "resetSeconds"
         FROM k`,
      [keyHash, windowSeconds],
    ),
  );
  return rows[0] ?? null;
}

/** Drops usage windows older than an hour (run by the retention pass). */
export async function pruneApiKeyUsage(db: Queryable): Promise<void> {
  await db.query(`DELETE FROM api_key_usage WHERE window_start < now() - interval '1 hour'`);
}
