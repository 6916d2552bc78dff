/** The sandbox's limits, their defaults, and how they are shown to people. */

export interface WasmLimits {
  /** Linear memory cap in MiB; each module's declared maximum is rewritten to it (64 KiB pages). Default 64. */
  maxMemoryMb: number;
  /** stdout cap in bytes; a module that writes more fails with wasm_output_too_large. Default 1 MiB. */
  maxOutputBytes: number;
  /** stderr kept in bytes (the last ones); more is dropped from the front, never an error. Default 64 KiB. */
  maxLogBytes: number;
  /** Module size cap in bytes, checked before anything else. Default 20 MiB. */
  maxModuleBytes: number;
}

export const DEFAULT_LIMITS: Readonly<WasmLimits> = Object.freeze({
  maxMemoryMb: 64,
  maxOutputBytes: 1024 * 1024,
  maxLogBytes: 64 * 1024,
  maxModuleBytes: 20 * 1024 * 1024,
});

export const WASM_PAGE_BYTES = 64 * 1024;

/** wasm32 addresses at most 65536 pages (4 GiB). */
const MAX_MEMORY_MB = 4096;

/**
 * Cap on table elements, not configurable. V8 keeps roughly 8-32 bytes per funcref slot, so 100k slots stay
 * within a few MiB per run, while real toolchains stay far below it (function tables hold one slot per
 * address-taken function: a few thousand in large Rust, C or Go programs). V8's own limit is 10M slots.
 */
export const MAX_TABLE_ELEMENTS = 100_000;

export function resolveLimits(partial: Partial<WasmLimits> = {}): WasmLimits {
  const limits: WasmLimits = {
    maxMemoryMb: partial.maxMemoryMb ?? DEFAULT_LIMITS.maxMemoryMb,
    maxOutputBytes: partial.maxOutputBytes ?? DEFAULT_LIMITS.maxOutputBytes,
    maxLogBytes: partial.maxLogBytes ?? DEFAULT_LIMITS.maxLogBytes,
    maxModuleBytes: partial.maxModuleBytes ?? DEFAULT_LIMITS.maxModuleBytes,
  };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new RangeError(`wasm limit ${name} must be a positive integer, got ${String(value)}`);
    }
  }
  if (limits.maxMemoryMb > MAX_MEMORY_MB) {
    throw new RangeError(`wasm limit maxMemoryMb must be at most ${MAX_MEMORY_MB} (wasm32), got ${limits.maxMemoryMb}`);
  }
  return limits;
}

export function memoryCapPages(limits: WasmLimits): number {
  return (limits.maxMemoryMb * 1024 * 1024) / WASM_PAGE_BYTES;
}

/** "1 MiB", "64 KiB", "1.5 MiB", "300 bytes": sizes as people read them in error messages. */
export function formatBytes(bytes: number): string {
  const units: Array<[number, string]> = [
    [1024 * 1024, 'MiB'],
    [1024, 'KiB'],
  ];
  for (const [size, unit] of units) {
    if (bytes >= size) {
      const value = bytes / size;
      return `${Number.isInteger(value) ? value : value.toFixed(1)} ${unit}`;
    }
  }
  return `${bytes} bytes`;
}
