import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { admitModule, sha256Hex } from '@mule/wasm-runner';

// Modules built from test/modules/*.wat by `node test/modules/build.mjs`.
function moduleBytes(name: string): Uint8Array {
  return readFileSync(new URL(`../../../test/modules/${name}.wasm`, import.meta.url));
}

function refusal(bytes: Uint8Array, limits?: Parameters<typeof admitModule>[1]): { code: string; message: string } {
  try {
    admitModule(bytes, limits);
  } catch (error) {
    return error as { code: string; message: string };
  }
  throw new Error('the module was admitted');
}

describe('admitModule', () => {
  test('admits a WASI command and returns its sha256 and size', () => {
    const bytes = moduleBytes('echo');
    expect(admitModule(bytes)).toEqual({ sha256: sha256Hex(bytes), size: bytes.length });
    expect(sha256Hex(bytes)).toMatch(/^[0-9a-f]{64}$/);
  });

  test('admits a module without imports or memory', () => {
    expect(admitModule(moduleBytes('loop')).size).toBeGreaterThan(8);
  });

  test.each([
    ['bytes that are not WASM', new TextEncoder().encode('#!/bin/sh\nrm -rf /\n'), /not a WebAssembly module/],
    ['an empty file', new Uint8Array(0), /not a WebAssembly module/],
    ['a component', Uint8Array.from([0, 0x61, 0x73, 0x6d, 0x0d, 0, 0x01, 0]), /component/],
    ['an unknown version', Uint8Array.from([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0]), /version/],
    ['a truncated section', Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 0x10, 0]), /well-formed/],
    // a type section holding one GC struct type: (type (struct (field i32)))
    ['a GC type', Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 5, 1, 0x5f, 1, 0x7f, 0]), /GC types/],
  ])('refuses %s', (_what, bytes, message) => {
    expect(refusal(bytes)).toMatchObject({ code: 'wasm_rejected', message: expect.stringMatching(message) });
  });

  test.each([
    ['an import outside WASI', 'import-env', /env\.read_host_file.*only wasi_snapshot_preview1/],
    ['a WASI import with the wrong signature', 'bad-signature', /fd_write has the signature \(i32\) -> \(i32\)/],
    ['an imported memory', 'import-memory', /imports its memory/],
    ['a shared memory', 'shared-memory', /shared memory/],
    ['a 64-bit memory', 'memory64', /64-bit memory/],
    ['an initial memory over the cap', 'memory-huge', /128 MiB of memory at start; the limit is 64 MiB/],
    ['a table over the cap', 'table-huge', /5000000 elements; the limit is 100000/],
    ['tables over the cap in all', 'tables-total', /needs 1100000 table elements at start over all its tables; the limit is 1000000/],
    ['a module without _start', 'no-start', /no "_start"/],
  ])('refuses %s', (_what, name, message) => {
    expect(refusal(moduleBytes(name))).toMatchObject({ code: 'wasm_rejected', message: expect.stringMatching(message) });
  });

  test('refuses a module over the size limit with payload_too_large', () => {
    const bytes = moduleBytes('echo');
    expect(refusal(bytes, { maxModuleBytes: 100 })).toMatchObject({
      code: 'payload_too_large',
      message: expect.stringMatching(/^The module is 259 bytes; the limit is 100 bytes\.$/),
    });
  });

  test('refuses a module over the default 20 MiB limit', () => {
    const bytes = new Uint8Array(20 * 1024 * 1024 + 1);
    bytes.set(moduleBytes('echo'));
    expect(refusal(bytes)).toMatchObject({ code: 'payload_too_large', message: expect.stringMatching(/20 MiB/) });
  });

  test('the memory cap follows maxMemoryMb', () => {
    expect(refusal(moduleBytes('memory-huge'), { maxMemoryMb: 100 }).message).toMatch(/the limit is 100 MiB/);
    expect(admitModule(moduleBytes('memory-huge'), { maxMemoryMb: 128 }).size).toBeGreaterThan(0);
  });

  test('refuses a module whose code V8 does not validate', () => {
    // echo with one instruction byte of its function body replaced by an undefined opcode (0xff)
    const bytes = Uint8Array.from(moduleBytes('echo'));
    bytes[bytes.length - 2] = 0xff;
    expect(refusal(bytes)).toMatchObject({ code: 'wasm_rejected', message: expect.stringMatching(/not valid WebAssembly/) });
  });
});
