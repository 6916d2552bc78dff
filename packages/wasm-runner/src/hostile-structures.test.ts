import { afterAll, describe, expect, test } from '@jest/globals';
import { admitModule, sha256Hex, WasmRunner } from '@mule/wasm-runner';
import { encodeU32 } from './wasm-binary.js';

/**
 * Hostile modules that ask V8 for many or huge host-allocated structures from a few bytes. Counts in the
 * millions are unwieldy as WAT, so they are built here with a tiny binary builder; each module is the smallest
 * valid-looking WASI command (`_start` exported) around the one structure under test.
 */
const u32 = encodeU32;
/** A vector: its count, then `count` entries made by `entry(i)`. */
function repeat(count: number, entry: (i: number) => readonly number[]): number[] {
  const out = u32(count);
  for (let i = 0; i < count; i++) for (const b of entry(i)) out.push(b);
  return out;
}
type Section = [id: number, content: number[]];
function wasm(sections: Section[]): Uint8Array {
  const out = [0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0];
  for (const [id, content] of sections) {
    out.push(id, ...u32(content.length));
    for (const b of content) out.push(b);
  }
  return Uint8Array.from(out);
}
const END = 0x0b;
const voidType: Section = [1, repeat(1, () => [0x60, 0, 0])];
const functions = (count: number): Section => [3, repeat(count, () => [0])];
const exportStart: Section = [7, [...u32(1), ...u32(6), ...new TextEncoder().encode('_start'), 0, 0]];
const code = (bodies: number[][]): Section => [10, repeat(bodies.length, (i) => [...u32(bodies[i]!.length), ...bodies[i]!])];
const emptyBody = [0, END];
/** A command whose only function is `_start`, with `extra` sections in their place by id. */
function command(extra: Section[], body = emptyBody): Uint8Array {
  const order = [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11];
  const sections = [voidType, functions(1), exportStart, code([body]), ...extra];
  return wasm(sections.sort((a, b) => order.indexOf(a[0]) - order.indexOf(b[0])));
}
const table = (min: number, max?: number) => (max === undefined ? [0x70, 0, ...u32(min)] : [0x70, 1, ...u32(min), ...u32(max)]);
const v128Global = [0x7b, 0, 0xfd, 12, ...new Array<number>(16).fill(0), END];
const procExit = new TextEncoder().encode('proc_exit');
const wasiModule = new TextEncoder().encode('wasi_snapshot_preview1');

const hostile: Array<[what: string, bytes: () => Uint8Array, message: RegExp]> = [
  ['70,000 tables of 100,000 elements', () => command([[4, repeat(70_000, () => table(100_000))]]), /declares 70000 tables; the limit is 100\b/],
  ['100 tables of 100,000 elements', () => command([[4, repeat(100, () => table(100_000))]]), /needs 10000000 table elements at start over all its tables; the limit is 1000000/],
  ['20 tables that may grow to 100,000', () => command([[4, repeat(20, () => table(1))]]), /can grow to 2000000 table elements .*the limit is 1000000/],
  ['900,000 v128 globals', () => command([[6, repeat(900_000, () => v128Global)]]), /declares 900000 globals; the limit is 10000\b/],
  ['20,000 element segments', () => command([[9, repeat(20_000, () => [1, 0, 1, 0])]]), /declares 20000 element segments; the limit is 10000\b/],
  ['5M elements in one segment', () => command([[9, [1, 1, 0, ...repeat(5_000_000, () => [0])]]]), /hold at least 5000000 elements; the limit is 1000000/],
  ['200,000 data segments', () => command([[5, [1, 0, 1]], [12, u32(200_000)], [11, repeat(200_000, () => [1, 0])]]), /declares 200000 data segments; the limit is 100000\b/],
  ['1M functions', () => wasm([voidType, functions(1_000_000), exportStart, code(Array.from({ length: 1_000_000 }, () => emptyBody))]), /declares 1000000 functions \(imported and defined\); the limit is 200000/],
  ['a function of 4 billion locals', () => command([], [1, ...u32(4_000_000_000), 0x7f, END]), /function 0 declares 4000000000 locals; the limit is 50000\b/],
  ['100,000 functions of 50,000 locals', () => wasm([voidType, functions(100_000), exportStart, code(Array.from({ length: 100_000 }, () => [1, ...u32(50_000), 0x7f, END]))]), /declares 5000000000 locals over all its functions; the limit is 10000000/],
  ['1M nested blocks', () => command([], [0, ...new Array<number>(1_000_000).fill(0).flatMap(() => [0x02, 0x40]), ...new Array<number>(1_000_001).fill(END)]), /function 0 has a body of 2\.9 MiB; the limit is 512 KiB/],
  ['50,000 distinct function types', () => wasm([[1, repeat(50_000, (i) => [0x60, ...u32(100), ...Array.from({ length: 100 }, (_, j) => (j < 16 ? 0x7c + ((i >> j) & 1) * 3 : 0x7f)), 0])], functions(1), exportStart, code([emptyBody])]), /declares 50000 function types; the limit is 10000\b/],
  ['2,000 types of 100 params', () => wasm([[1, repeat(2_000, () => [0x60, ...u32(100), ...new Array<number>(100).fill(0x7f), 0])], functions(1), exportStart, code([emptyBody])]), /at least 100100 params and results .*the limit is 100000/],
  ['2,000 WASI imports', () => wasm([[1, [2, 0x60, 1, 0x7f, 0, 0x60, 0, 0]], [2, repeat(2_000, () => [...u32(wasiModule.length), ...wasiModule, ...u32(procExit.length), ...procExit, 0, 0])], [3, [1, 1]], [7, [...u32(1), ...u32(6), ...new TextEncoder().encode('_start'), 0, ...u32(2_000)]], code([emptyBody])]), /declares 2000 imports; the limit is 1000\b/],
  ['20,000 exports', () => wasm([voidType, functions(1), [7, repeat(20_000, (i) => { const name = new TextEncoder().encode(i === 0 ? '_start' : `f${i}`); return [...u32(name.length), ...name, 0, 0]; })], code([emptyBody])]), /declares 20000 exports; the limit is 10000\b/],
  ['100,000 exception tags', () => command([[13, repeat(100_000, () => [0, 0])]]), /declares 100000 exception tags; the limit is 1000\b/],
  ['4 billion memories', () => command([[5, [...u32(4_000_000_000), 0, 1]]]), /defines 4000000000 memories; one is allowed/],
];

const runner = new WasmRunner({ threads: 1 });
afterAll(() => runner.close());

/** RSS growth allowed while a hostile module is refused; before the caps, most of these took gigabytes. */
const RSS_BOUND = 200 * 1024 * 1024;

describe('a module asking V8 for too many host-allocated structures is refused by admission', () => {
  test.each(hostile)('%s: wasm_rejected at upload, naming the structure and the limit', (_what, bytes, message) => {
    expect(() => admitModule(bytes())).toThrow(expect.objectContaining({ code: 'wasm_rejected', message: expect.stringMatching(message) }));
  });

  test.each(hostile)('%s: wasm_rejected at run, with the process memory bounded', async (_what, build, message) => {
    const bytes = build();
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    try {
      const run = runner.run({ sha256: sha256Hex(bytes), loadBytes: async () => bytes, input: {}, timeoutMs: 10_000 });
      await expect(run).rejects.toMatchObject({ code: 'wasm_rejected', message: expect.stringMatching(message) });
      peak = Math.max(peak, process.memoryUsage().rss);
    } finally {
      clearInterval(sampler);
    }
    expect(peak - before).toBeLessThan(RSS_BOUND);
  });

  test('data past the memory cap is refused: it could only be copied into linear memory', () => {
    const data = command([[5, [1, 0, 1]], [11, repeat(1, () => [1, ...u32(2 * 1024 * 1024), ...new Array<number>(2 * 1024 * 1024).fill(0)])]]);
    expect(() => admitModule(data, { maxMemoryMb: 1 })).toThrow(/declares 2 MiB of data; the limit is 1 MiB, the memory cap/);
    expect(admitModule(data, { maxMemoryMb: 2 }).size).toBe(data.length);
  });

  test('structures at their caps are admitted and run', async () => {
    const atCaps = command([[4, repeat(10, () => table(100_000))], [6, repeat(10_000, () => [0x7f, 0, 0x41, 0, END])]]);
    await expect(runner.run({ sha256: sha256Hex(atCaps), loadBytes: async () => atCaps, input: {}, timeoutMs: 10_000 })).rejects.toMatchObject({
      code: 'wasm_bad_output', // it ran: its `_start` wrote nothing
    });
  });
});
