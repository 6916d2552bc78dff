/**
 * Resume URLs: a waiting step's link that resumes (or, with /reject, rejects) it without an API key. The token is
 * base64url(HMAC-SHA256(secret, `<job uuid>:<step id>:<attempt>`)) under the database's `resume_url` secret, so
 * every api replica computes and checks the same token and nothing is stored per job; it names one attempt of one
 * step, so it cannot open another job or step.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { formatJobId } from '@mule/core';
import { getSecret, type JobRow, type Queryable } from '@mule/db';
import type { Caller } from './access.js';
import type { ApiContext } from './api-context.js';
import { hasWaitingStep } from './job-view.js';

/** POST /v1/jobs/{id}/steps/{step}/resume|reject (the path as the /v1 middleware sees it). */
const WAIT_ROUTE = /^\/jobs\/[^/]+\/steps\/[^/]+\/(resume|reject)$/;

/** A caller that is nobody: no scopes, and a key id no job has. What a request with a resume token is, until the token is checked. */
export const TOKEN_CALLER: Caller = { kind: 'key', id: '', name: 'resume token', scopes: [], admin: false };

export function resumeToken(secret: Buffer, jobId: string, stepId: string, attempt: number): string {
  return createHmac('sha256', secret).update(`${jobId}:${stepId}:${attempt}`).digest('base64url');
}

export function tokenMatches(secret: Buffer, jobId: string, stepId: string, attempt: number, token: string): boolean {
  const expected = Buffer.from(resumeToken(secret, jobId, stepId, attempt));
  const given = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export function resumeSecret(db: Queryable): Promise<Buffer> {
  return getSecret(db, 'resume_url');
}

/** `token` as the query has it, or null (absent, or not one string). */
export function tokenOf(req: Request): string | null {
  const token = req.query['token'];
  return typeof token === 'string' && token.length > 0 ? token : null;
}

/**
 * The /v1 access check, except for a resume or reject that carries a `token`: that request is authorized by the
 * token alone (checked by the route), never by a key, so it skips the key lookup and runs as TOKEN_CALLER, which
 * may do nothing else. A wrong token is refused even where a key or the open api would have passed.
 */
export function keyOrResumeToken(keyCheck: RequestHandler): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method === 'POST' && WAIT_ROUTE.test(req.path) && tokenOf(req) !== null) {
      res.locals['caller'] = TOKEN_CALLER;
      res.locals['resumeToken'] = tokenOf(req);
      next();
      return;
    }
    keyCheck(req, res, next);
  };
}

/** A request's Host header when it is a plain host[:port] (anything else is not put into a URL). */
const HOST_HEADER = /^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](:\d{1,5})?$/;

/**
 * The base of the resume URLs in an answer: MULE_PUBLIC_URL when set; otherwise the address the caller reached
 * this api at (its Host header), which is what it can reach again; without one, the socket's own address.
 */
export function publicBaseUrl(publicUrl: string | undefined, req: Request): string {
  if (publicUrl) return publicUrl.replace(/\/+$/, '');
  const host = req.get('host');
  if (host && HOST_HEADER.test(host)) return `http://${host}`;
  const address = req.socket.localAddress ?? '127.0.0.1';
  return `http://${address.includes(':') ? `[${address}]` : address}:${req.socket.localPort ?? 80}`;
}

export type ResumeUrlOf = (jobId: string, stepId: string, attempt: number) => string;

export function resumeUrlMaker(secret: Buffer, baseUrl: string): ResumeUrlOf {
  return (jobId, stepId, attempt) =>
    `${baseUrl}/v1/jobs/${formatJobId(jobId)}/steps/${encodeURIComponent(stepId)}/resume?token=${resumeToken(secret, jobId, stepId, attempt)}`;
}

/**
 * What the views of `jobs` need to show resume URLs: undefined when none of them has a waiting step (then the
 * secret is not even read), or when the caller came with a resume token (a token opens its own step, and the
 * answer must not hand out the links of the job's other waits).
 */
export async function resumeUrlsFor(ctx: Pick<ApiContext, 'pool' | 'config'>, req: Request, res: Response, jobs: readonly JobRow[]): Promise<ResumeUrlOf | undefined> {
  if (res.locals['resumeToken'] !== undefined || !jobs.some(hasWaitingStep)) return undefined;
  return resumeUrlMaker(await resumeSecret(ctx.pool), publicBaseUrl(ctx.config.MULE_PUBLIC_URL, req));
}
