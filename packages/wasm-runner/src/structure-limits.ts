/**
 * Caps on what a module's sections ask V8 to allocate, checked by admission before V8 sees the bytes. V8 builds
 * tables, globals, tags and export wrappers eagerly at instantiation, and validates types and locals eagerly at
 * compile, in memory the thread's heap limit and the linear-memory cap do not cover; an instantiation in progress
 * cannot be stopped by terminating its thread. Without these caps a 5 KB module of 1000 tables of 100,000
 * elements made a thread allocate ~3 MB per table and go on allocating past 1 GB after its deadline. Each cap
 * sits far above what WASI toolchains (Rust, C, Go, TinyGo, AssemblyScript, Javy) emit and far below V8's own
 * limits, which are sized for a browser tab, not for a host running many untrusted modules. The figures are
 * documented in docs/wasm-modules.md ("Limits the sandbox enforces").
 */
import { MAX_TABLE_ELEMENTS, type WasmLimits } from './limits.js';

/** Toolchains emit one table (the indirect-call table); V8 allows 100,000. */
export const MAX_TABLES = 100;

/**
 * Elements over all tables, counting each table at its maximum after the rewrite (a table without a maximum
 * counts as MAX_TABLE_ELEMENTS): `table.grow` can reach that. V8 keeps ~30 bytes per funcref slot (measured: 100
 * tables of 100,000 took 314 MB), so 1M elements stay within ~30 MiB.
 */
export const MAX_TOTAL_TABLE_ELEMENTS = 10 * MAX_TABLE_ELEMENTS;

/**
 * Globals: 900,000 v128 globals took 2.3 GB to compile, 10,000 cost ~25 MiB. Rust and C emit a handful,
 * AssemblyScript one per top-level variable.
 */
export const MAX_GLOBALS = 10_000;

/** Imports: only WASI functions are allowed and there are 46 of them, each imported once by toolchains. */
export const MAX_IMPORTS = 1_000;

/** Exports: a command exports `_start`, `memory` and a few more; each export is built at instantiation. */
export const MAX_EXPORTS = 10_000;

/**
 * Functions, imported and defined. 1M empty functions cost ~120 MB and 0.6 s to compile; large Go and Rust
 * programs have 30-60k, and 20 MiB of real code averages far more than 100 bytes a function.
 */
export const MAX_FUNCTIONS = 200_000;

/**
 * Function types. V8 canonicalizes them process-wide at compile, on the thread that compiles (the main one):
 * 100,000 distinct types of 100 params took 31 s, 10,000 took 0.5 s. Linkers deduplicate types, so real modules
 * have hundreds.
 */
export const MAX_TYPES = 10_000;

/** Params and results over all types (V8 allows 1,000 of each per type). */
export const MAX_TYPE_VALUES = 100_000;

/**
 * Bytes of one function body. Compiling a body costs host memory in proportion to its block nesting, ~0.9 KB a
 * level (1M nested blocks, a 2.9 MiB body, took 906 MB): 512 KiB holds at most 174,000 levels, ~160 MB, and a
 * thread compiles one function at a time. V8 allows 7.6 MB; the largest body met in a real program is 268 KiB
 * (PostgreSQL's parser, compiled with Emscripten), most are under 10 KiB.
 */
export const MAX_FUNCTION_BODY_BYTES = 512 * 1024;

/** Locals of one function: V8's own limit, refused here with a clear message. Each costs a stack slot per call. */
export const MAX_FUNCTION_LOCALS = 50_000;

/**
 * Locals over all functions. V8 validates every body's locals at compile, on the main thread: 10,000 functions
 * of 50,000 locals (an 80 KB module) took 0.7 s, ~1.4 ns a local; 10M locals take ~15 ms.
 */
export const MAX_TOTAL_LOCALS = 10_000_000;

/** Element segments, and the elements over all of them (each element a function reference kept per instance). */
export const MAX_ELEMENT_SEGMENTS = 10_000;
export const MAX_TOTAL_SEGMENT_ELEMENTS = 1_000_000;

/** Data segments: V8's own limit (Go's linker splits data into up to this many segments). */
export const MAX_DATA_SEGMENTS = 100_000;

/** Exception tags (each a heap object per instance); C++ and Rust exceptions use one. */
export const MAX_TAGS = 1_000;

/** Data bytes over all segments: data can only go into linear memory, so no more than the memory cap is useful. */
export function maxDataBytes(limits: WasmLimits): number {
  return limits.maxMemoryMb * 1024 * 1024;
}
