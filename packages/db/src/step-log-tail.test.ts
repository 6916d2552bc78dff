/** The tail of a WASM step's stderr that its row keeps: the last 16 KiB of UTF-8, whole characters, no NUL. */
import { expect, test } from '@jest/globals';
import { STEP_LOG_BYTES, stepLogTail } from './job-graph-writes.js';

test('short logs are kept whole; NUL characters (which text columns refuse) are dropped', () => {
  expect(stepLogTail('')).toBe('');
  expect(stepLogTail('warming up\nready\n')).toBe('warming up\nready\n');
  expect(stepLogTail('a\u0000b')).toBe('ab');
});

test('long logs keep their last 16 KiB, starting at a whole character', () => {
  expect(STEP_LOG_BYTES).toBe(16 * 1024);
  expect(stepLogTail('x'.repeat(STEP_LOG_BYTES))).toBe('x'.repeat(STEP_LOG_BYTES));
  expect(stepLogTail(`start${'y'.repeat(STEP_LOG_BYTES)}`)).toBe('y'.repeat(STEP_LOG_BYTES));
  // Three UTF-8 bytes each: 16,384 is not a multiple of 3, so the cut falls inside a character and moves past it.
  const euros = stepLogTail('€'.repeat(10_000));
  expect(euros).toBe('€'.repeat(Math.floor(STEP_LOG_BYTES / 3)));
  expect(Buffer.byteLength(euros)).toBeLessThanOrEqual(STEP_LOG_BYTES);
  const mixed = stepLogTail(`${'é'.repeat(20_000)}end`);
  expect(mixed.endsWith('éend')).toBe(true);
  expect(Buffer.byteLength(mixed)).toBeLessThanOrEqual(STEP_LOG_BYTES);
  expect(mixed).not.toContain('\ufffd');
});
