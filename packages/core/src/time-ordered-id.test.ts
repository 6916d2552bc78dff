import { expect, test } from '@jest/globals';
import { z } from 'zod';
import { timeOrderedId } from './time-ordered-id.js';

test('a UUIDv7: version 7, variant 10, the time in its first 48 bits, unique, sorting by time', () => {
  const at = Date.UTC(2026, 11, 1, 12, 0, 0, 123);
  const id = timeOrderedId(at);
  expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(at);
  expect(z.uuid().safeParse(id).success).toBe(true);
  const ids = Array.from({ length: 1000 }, (_, i) => timeOrderedId(at + i));
  expect(new Set(ids).size).toBe(1000);
  expect([...ids].sort()).toEqual(ids);
  expect(timeOrderedId(at)).not.toBe(timeOrderedId(at));
});
