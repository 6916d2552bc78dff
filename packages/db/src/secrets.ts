/**
 * Per-database secrets (`mule_secrets`): made once by the first process that needs one, read by every other, so
 * every api replica derives the same values (a resume URL's token) without storing anything per job.
 */
import { randomBytes } from 'node:crypto';
import type { Queryable } from './pool.js';
import { statement } from './prepared.js';

export type SecretName = 'resume_url';

/** 32 bytes: the key size of HMAC-SHA256. */
const SECRET_BYTES = 32;

const cache = new WeakMap<Queryable, Map<SecretName, Promise<Buffer>>>();

async function readOrCreate(db: Queryable, name: SecretName): Promise<Buffer> {
  // Two processes may race to make it: the first INSERT wins, and both read the winner's value.
  await db.query(statement(`INSERT INTO mule_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, [name, randomBytes(SECRET_BYTES)]));
  const { rows } = await db.query<{ value: Buffer }>(statement(`SELECT value FROM mule_secrets WHERE name = $1`, [name]));
  const value = rows[0]?.value;
  if (!value) throw new Error(`mule_secrets has no "${name}" right after writing it`);
  return value;
}

/** The secret `name`, cached per process (per pool); a failed read is not cached. */
export function getSecret(db: Queryable, name: SecretName): Promise<Buffer> {
  let byName = cache.get(db);
  if (!byName) cache.set(db, (byName = new Map()));
  let secret = byName.get(name);
  if (!secret) {
    secret = readOrCreate(db, name);
    byName.set(name, secret);
    secret.catch(() => byName.delete(name));
  }
  return secret;
}
