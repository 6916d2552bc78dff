/**
 * CEL values back to plain JSON: ints and uints to numbers (refused past 2^53, where a number would silently
 * change), bytes to base64, maps to objects with string keys, timestamps to RFC 3339 text, durations to "<s>s".
 * The size is counted while converting, so a result over `maxBytes` stops before it is built.
 */
import { isCelList, isCelMap, isCelType, isCelUint } from '@bufbuild/cel';
import { MuleError } from '../errors.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Counts the JSON bytes of a template's result across all its expressions. */
export class ByteCounter {
  used = 0;
  constructor(readonly maxBytes: number) {}
  add(bytes: number): void {
    this.used += bytes;
    if (this.used > this.maxBytes) {
      throw new MuleError('expression_error', `the result is larger than its limit of ${this.maxBytes} bytes`, {
        details: { maxBytes: this.maxBytes },
      });
    }
  }
}

export function celToJson(value: unknown, bytes: ByteCounter, depth = 0): JsonValue {
  if (depth > 1000) throw new MuleError('expression_error', 'the result nests deeper than 1000 levels');
  if (value === null || value === undefined) {
    bytes.add(4);
    return null;
  }
  switch (typeof value) {
    case 'boolean':
      bytes.add(5);
      return value;
    case 'string':
      bytes.add(Buffer.byteLength(value) + 2);
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new MuleError('expression_error', `the result ${value} is not a JSON number`);
      bytes.add(String(value).length);
      return value;
    case 'bigint':
      return bigintToJson(value, bytes);
    case 'object':
      break;
    default:
      throw new MuleError('expression_error', `a ${typeof value} cannot be written as JSON`);
  }
  if (isCelUint(value)) return bigintToJson(value.value, bytes);
  if (isCelType(value)) return celToJson(value.name, bytes, depth);
  if (value instanceof Uint8Array) return celToJson(Buffer.from(value).toString('base64'), bytes, depth);
  if (isCelList(value) || Array.isArray(value)) {
    const out: JsonValue[] = [];
    bytes.add(2);
    for (const element of value as Iterable<unknown>) {
      bytes.add(1);
      out.push(celToJson(element, bytes, depth + 1));
    }
    return out;
  }
  if (isCelMap(value)) return entriesToJson(value.entries(), bytes, depth);
  const message = wellKnownMessage(value);
  if (message !== undefined) return celToJson(message, bytes, depth);
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype === Object.prototype || prototype === null) {
    return entriesToJson(Object.entries(value as Record<string, unknown>), bytes, depth);
  }
  throw new MuleError('expression_error', 'the result holds a value that cannot be written as JSON');
}

function bigintToJson(value: bigint, bytes: ByteCounter): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new MuleError('expression_error', `the result ${value} is outside the integers JSON numbers hold exactly`);
  }
  bytes.add(value.toString().length);
  return Number(value);
}

function entriesToJson(entries: Iterable<[unknown, unknown]>, bytes: ByteCounter, depth: number): JsonValue {
  const out: Record<string, JsonValue> = {};
  bytes.add(2);
  for (const [key, child] of entries) {
    const name = isCelUint(key) ? String(key.value) : String(key);
    bytes.add(Buffer.byteLength(name) + 4);
    Object.defineProperty(out, name, {
      value: celToJson(child, bytes, depth + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/** Timestamps and durations as text; undefined for anything else. */
function wellKnownMessage(value: object): string | undefined {
  const reflect = value as { desc?: { typeName?: string }; message?: { seconds?: bigint; nanos?: number } };
  const typeName = reflect.desc?.typeName;
  const seconds = reflect.message?.seconds ?? 0n;
  const nanos = reflect.message?.nanos ?? 0;
  if (typeName === 'google.protobuf.Timestamp') {
    const millis = Number(seconds) * 1000 + Math.floor(nanos / 1e6);
    return new Date(millis).toISOString();
  }
  if (typeName === 'google.protobuf.Duration') {
    return `${(Number(seconds) + nanos / 1e9).toString()}s`;
  }
  return undefined;
}
