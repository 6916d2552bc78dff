/**
 * Ids for rows that are inserted all the time (jobs, their queue entries): UUIDv7 (RFC 9562), a 48-bit
 * millisecond timestamp then random bits. A random (v4) id puts each insert on a random page of the primary-key
 * index, and after each checkpoint the first write to a page copies the whole page into the WAL: with a million
 * finished jobs in the table, a job's WAL grew from ~5.5 KB to 16-33 KB. Time-ordered ids keep inserts on the
 * newest pages. The creation time they reveal is in the job view anyway.
 */
import { randomBytes } from 'node:crypto';

/** Random bytes drawn 4 KiB at a time: one draw per id showed up as ~2% of the api's CPU in a profile. */
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let used = POOL_BYTES;

export function timeOrderedId(now: number = Date.now()): string {
  if (used + 16 > pool.length) {
    pool = randomBytes(POOL_BYTES);
    used = 0;
  }
  const bytes = Buffer.from(pool.subarray(used, used + 16));
  used += 16;
  bytes.writeUIntBE(now, 0, 6);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70; // version 7
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // variant 10
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
