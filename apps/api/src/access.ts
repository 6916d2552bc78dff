/**
 * Access control. With no key ever configured (MULE_API_KEYS unset and no key ever created) the api is open.
 * Once a key exists or has existed it stays closed for good: revoked keys stay in api_keys, so revoking every key
 * never reopens it (on any replica, after any restart), and the last admin key cannot be revoked. Otherwise every /v1 route needs `Authorization: Bearer <key>`: MULE_API_KEYS are admin keys; created keys
 * carry model scopes (`workflow/summarize-*`, `agent/*`; `workflow/x` also allows `async/workflow/x`, and
 * `wasm/<module>` allows POST /v1/wasm/execute), an optional requests-per-minute limit counted in PostgreSQL (shared
 * by every replica), and `admin` for definition and key routes. A key is looked up on every request, so a
 * revoked key stops at once everywhere.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { globMatches, MuleError } from '@mule/core';
import { anyApiKeyEver, authenticateApiKey, hashKey, type Pool } from '@mule/db';

export type Caller =
  | { kind: 'open' }
  | { kind: 'key'; id: string | null; name: string; scopes: string[]; admin: boolean };

const BEARER = /^Bearer\s+([\x21-\x7e]{1,512})$/i;

export class Access {
  /**
   * Whether a key was ever created; cached, refreshed by the `mule_keys_changed` NOTIFY until true (it cannot turn
   * false again: keys are revoked, never deleted).
   */
  private keysExist: Promise<boolean> | null = null;
  private closed = false;

  constructor(
    private readonly pool: Pool,
    private readonly bootstrapHashes: ReadonlySet<string>,
    /** MULE_RATE_WINDOW_SECONDS: the length of a key's rate-limit window (`rpm` counts per window). */
    private readonly rateWindowSeconds = 60,
  ) {}

  /** After a key was created or revoked (here or, by NOTIFY, on another replica). */
  keysChanged(): void {
    if (!this.closed) this.keysExist = null;
  }

  async enabled(): Promise<boolean> {
    if (this.bootstrapHashes.size > 0) return true;
    this.keysExist ??= anyApiKeyEver(this.pool).then(
      (exist) => {
        this.closed ||= exist;
        return exist;
      },
      (error: unknown) => {
        this.keysExist = null;
        throw error;
      },
    );
    return this.keysExist;
  }

  middleware(): RequestHandler {
    return (req: Request, res: Response, next: NextFunction) => {
      this.authenticate(req).then((caller) => {
        res.locals['caller'] = caller;
        next();
      }, next);
    };
  }

  private async authenticate(req: Request): Promise<Caller> {
    if (!(await this.enabled())) return { kind: 'open' };
    const header = req.get('authorization');
    if (header === undefined) {
      throw new MuleError('unauthorized', 'an API key is required: send Authorization: Bearer <key>');
    }
    const token = BEARER.exec(header)?.[1];
    if (!token) throw new MuleError('unauthorized', 'the Authorization header must be "Bearer <key>"');
    const keyHash = hashKey(token);
    if (this.bootstrapHashes.has(keyHash)) return { kind: 'key', id: null, name: 'MULE_API_KEYS', scopes: ['*'], admin: true };
    const key = await authenticateApiKey(this.pool, keyHash, this.rateWindowSeconds);
    if (!key) throw new MuleError('unauthorized', 'the API key is not valid (unknown or revoked)');
    if (key.rpm !== null && key.used !== null && key.used > key.rpm) {
      throw new MuleError('rate_limited', `rate limit of ${key.rpm} requests per minute reached for key "${key.name}"`, {
        details: { retryAfterSeconds: Math.max(1, key.resetSeconds) },
      });
    }
    return { kind: 'key', id: key.id, name: key.name, scopes: key.scopes, admin: key.admin };
  }
}

export function callerOf(res: Response): Caller {
  return (res.locals['caller'] as Caller | undefined) ?? { kind: 'open' };
}

/** Whether a key's scopes allow a model (or `wasm/<module>`). */
export function scopesAllow(scopes: string[], target: string): boolean {
  const asSync = target.startsWith('async/') ? target.slice('async/'.length) : null;
  return scopes.some((pattern) => globMatches(pattern, target) || (asSync !== null && globMatches(pattern, asSync)));
}

export function allows(caller: Caller, target: string): boolean {
  return caller.kind === 'open' || caller.admin || scopesAllow(caller.scopes, target);
}

export function requireScope(caller: Caller, target: string): void {
  if (!allows(caller, target)) {
    throw new MuleError('forbidden', `this API key may not use \`${target}\``, { param: target.startsWith('wasm/') ? 'module' : 'model' });
  }
}

export function requireAdmin(caller: Caller): void {
  if (caller.kind === 'key' && !caller.admin) throw new MuleError('forbidden', 'this route needs an admin API key');
}

/** Admins (and open mode) see every job; other keys the jobs they created. */
export function jobOwnerFilter(caller: Caller): string | undefined {
  return caller.kind === 'key' && !caller.admin ? (caller.id ?? '') : undefined;
}

/** Whether the caller may see a job: another key's job is answered exactly like a job that does not exist. */
export function canSeeJob(caller: Caller, jobApiKeyId: string | null): boolean {
  const owner = jobOwnerFilter(caller);
  return owner === undefined || owner === jobApiKeyId;
}

/** The key id a new job is recorded with. */
export function callerKeyId(caller: Caller): string | null {
  return caller.kind === 'key' ? caller.id : null;
}
