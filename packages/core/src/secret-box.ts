/**
 * Provider API keys at rest: AES-256-GCM under MULE_SECRET_KEY (32 bytes, given as 64 hex characters or
 * base64). Stored as `v1.<iv>.<tag>.<ciphertext>` in base64url, so a dump of the database holds no usable key.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { MuleError } from './errors.js';

export function parseSecretKey(text: string): Buffer | null {
  const trimmed = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)) {
    const bytes = Buffer.from(trimmed, 'base64');
    if (bytes.length === 32) return bytes;
  }
  return null;
}

export function encryptSecret(key: Buffer, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
}

/** A decrypter for stored provider keys; without MULE_SECRET_KEY it refuses with a provider_error that says so. */
export function decrypterFor(key: Buffer | null): (sealed: string) => string {
  return (sealed) => {
    if (!key) {
      throw new MuleError('provider_error', 'a stored provider key cannot be read: MULE_SECRET_KEY is not set', { retryable: false });
    }
    return decryptSecret(key, sealed);
  };
}

export function decryptSecret(key: Buffer, sealed: string): string {
  const [version, iv, tag, body] = sealed.split('.');
  if (version !== 'v1' || !iv || !tag || body === undefined) {
    throw new MuleError('internal_error', 'stored secret has an unknown format');
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  } catch (error) {
    throw new MuleError('internal_error', 'a stored provider key cannot be decrypted: MULE_SECRET_KEY differs from the key it was stored with', {
      cause: error,
    });
  }
}
