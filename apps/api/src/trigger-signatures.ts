/**
 * A webhook's authentication: an HMAC-SHA256 of the raw body bytes (never of a re-serialized parse) with the
 * secret from the trigger's `secret_env`, compared in constant time. docs/triggers.md shows each scheme.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { MuleError, type SignatureScheme } from '@mule/core';

/** Stripe's own libraries refuse a signed timestamp more than 300 s from now (a replayed delivery). */
export const STRIPE_TOLERANCE_SECONDS = 300;

type Headers = Record<string, string | undefined>;

const hmacHex = (secret: string, data: Buffer) => createHmac('sha256', secret).update(data).digest();

/** Constant time over the digest bytes; a malformed hex string is simply not equal. */
function sameDigest(expected: Buffer, hex: string): boolean {
  if (!/^[0-9a-f]{64}$/i.test(hex)) return false;
  return timingSafeEqual(expected, Buffer.from(hex, 'hex'));
}

function refuse(message: string): MuleError {
  return new MuleError('unauthorized', message);
}

/** `sha256=<hex>` in `header`, the HMAC of the body (GitHub's X-Hub-Signature-256, and X-Mule-Signature). */
function checkPrefixed(header: string, headers: Headers, secret: string, body: Buffer): void {
  const value = headers[header];
  if (!value) throw refuse(`missing ${header} header`);
  const match = /^sha256=([0-9a-fA-F]+)$/.exec(value.trim());
  if (!match || !sameDigest(hmacHex(secret, body), match[1]!)) throw refuse(`${header} does not match the body`);
}

/** Stripe-Signature: `t=<unix seconds>,v1=<hex>[,v1=<hex>…]`, the HMAC of `<t>.<body>`; any v1 may match (secret rolls). */
function checkStripe(headers: Headers, secret: string, body: Buffer, nowMs: number): void {
  const value = headers['stripe-signature'];
  if (!value) throw refuse('missing stripe-signature header');
  let timestamp: string | null = null;
  const signatures: string[] = [];
  for (const part of value.split(',')) {
    const [key, ...rest] = part.trim().split('=');
    const item = rest.join('=');
    if (key === 't') timestamp = item;
    else if (key === 'v1') signatures.push(item);
  }
  if (timestamp === null || !/^\d{1,12}$/.test(timestamp) || signatures.length === 0) {
    throw refuse('stripe-signature must hold t=<timestamp> and v1=<signature>');
  }
  const expected = hmacHex(secret, Buffer.concat([Buffer.from(`${timestamp}.`), body]));
  // Every candidate is compared, so the time taken does not say which one matched.
  const matched = signatures.map((signature) => sameDigest(expected, signature)).includes(true);
  if (!matched) throw refuse('stripe-signature does not match the body');
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > STRIPE_TOLERANCE_SECONDS) {
    throw refuse(`stripe-signature's timestamp is more than ${STRIPE_TOLERANCE_SECONDS} s from now`);
  }
}

/**
 * Throws `unauthorized` (401) unless the request is signed as `scheme` says. `secret` is null when `secret_env`
 * is unset or not allowed: then nothing can be checked and every signed delivery is refused.
 */
export function verifySignature(
  scheme: SignatureScheme,
  secret: string | null,
  headers: Headers,
  body: Buffer,
  nowMs: number = Date.now(),
): void {
  if (scheme === 'none') return;
  if (secret === null || secret === '') throw refuse("the trigger's secret is not configured on this api; the delivery cannot be checked");
  if (scheme === 'github') return checkPrefixed('x-hub-signature-256', headers, secret, body);
  if (scheme === 'hmac-sha256') return checkPrefixed('x-mule-signature', headers, secret, body);
  return checkStripe(headers, secret, body, nowMs);
}
