/**
 * Admission's counting of what a module asks V8 to allocate (caps in structure-limits.ts): one streaming pass over
 * the sections that declare host-allocated things, reading counts, sizes and local declarations, never decoding
 * instructions. Each refusal names what is too large and the limit.
 */
import { MuleError } from '@mule/core';
import { formatBytes } from './limits.js';
import {
  MAX_DATA_SEGMENTS,
  MAX_ELEMENT_SEGMENTS,
  MAX_EXPORTS,
  MAX_FUNCTION_BODY_BYTES,
  MAX_FUNCTION_LOCALS,
  MAX_FUNCTIONS,
  MAX_GLOBALS,
  MAX_IMPORTS,
  MAX_TABLES,
  MAX_TAGS,
  MAX_TOTAL_LOCALS,
  MAX_TOTAL_SEGMENT_ELEMENTS,
  MAX_TOTAL_TABLE_ELEMENTS,
  MAX_TYPE_VALUES,
  MAX_TYPES,
} from './structure-limits.js';
import { BinaryFormatError, type ByteReader } from './wasm-binary.js';

export function reject(reason: string): never {
  throw new MuleError('wasm_rejected', `The module was refused: ${reason}.`);
}

/** Refuses `count` things when over `limit`: "it declares 70000 tables; the limit is 100". */
export function atMost(count: number, limit: number, what: string, verb = 'declares'): void {
  if (count > limit) reject(`it ${verb} ${count} ${what}; the limit is ${limit}`);
}

export const checkTypeCount = (count: number) => atMost(count, MAX_TYPES, 'function types');
export const checkTypeValues = (count: number) =>
  atMost(count, MAX_TYPE_VALUES, 'params and results over its function types', 'declares at least');
export const checkImportCount = (count: number) => atMost(count, MAX_IMPORTS, 'imports');
export const checkExportCount = (count: number) => atMost(count, MAX_EXPORTS, 'exports');
export const checkTableCount = (count: number) => atMost(count, MAX_TABLES, 'tables');

/** Both sums count every table: minimums are allocated at instantiation, maximums are what `table.grow` can reach. */
export function checkTableTotals(minimums: number, maximums: number): void {
  atMost(minimums, MAX_TOTAL_TABLE_ELEMENTS, 'table elements at start over all its tables', 'needs');
  atMost(maximums, MAX_TOTAL_TABLE_ELEMENTS, 'table elements over all its tables at their maximum size', 'can grow to');
}

/** A count-only section (globals, tags): its first u32. The entries are left to V8's validation. */
export function checkCountOnly(reader: ByteReader, limit: number, what: string): void {
  atMost(reader.u32(), limit, what);
}

export const checkGlobals = (reader: ByteReader) => checkCountOnly(reader, MAX_GLOBALS, 'globals');
export const checkTags = (reader: ByteReader) => checkCountOnly(reader, MAX_TAGS, 'exception tags');
export const checkDataCount = (reader: ByteReader) => checkCountOnly(reader, MAX_DATA_SEGMENTS, 'data segments');

/** The function section: its count plus the imported functions. */
export function checkFunctions(reader: ByteReader, importedFunctions: number): void {
  const defined = reader.u32();
  atMost(importedFunctions + defined, MAX_FUNCTIONS, 'functions (imported and defined)');
}

/** The code section: each body's size and its local declarations; the instructions are left to V8. */
export function checkCode(reader: ByteReader): void {
  const count = reader.u32();
  let totalLocals = 0;
  for (let i = 0; i < count; i++) {
    const size = reader.u32();
    if (size > MAX_FUNCTION_BODY_BYTES) {
      reject(`its function ${i} has a body of ${formatBytes(size)}; the limit is ${formatBytes(MAX_FUNCTION_BODY_BYTES)}`);
    }
    const bodyEnd = reader.offset + size;
    if (bodyEnd > reader.end) throw new BinaryFormatError('a function body ends past its section');
    const entries = reader.u32();
    let locals = 0;
    for (let e = 0; e < entries && locals <= MAX_FUNCTION_LOCALS; e++) {
      locals += reader.u32();
      reader.byte(); // the value type; a typed reference would take more bytes, and V8 refuses it without GC
    }
    if (locals > MAX_FUNCTION_LOCALS) {
      reject(`its function ${i} declares ${locals} locals; the limit is ${MAX_FUNCTION_LOCALS}`);
    }
    totalLocals += locals;
    reader.offset = bodyEnd;
  }
  atMost(totalLocals, MAX_TOTAL_LOCALS, 'locals over all its functions');
}

/** The element section: segment count and elements over all segments. */
export function checkElements(reader: ByteReader): void {
  const count = reader.u32();
  atMost(count, MAX_ELEMENT_SEGMENTS, 'element segments');
  let total = 0;
  for (let i = 0; i < count; i++) {
    const flags = reader.u32();
    if (flags > 7) throw new BinaryFormatError(`element segment flags ${flags}`);
    const passiveOrDeclarative = (flags & 1) !== 0;
    if (flags & 2 && !passiveOrDeclarative) reader.u32(); // table index
    if (!passiveOrDeclarative) skipConstExpr(reader); // offset
    if (flags & 3) reader.byte(); // element kind (0x00) or reference type
    const elements = reader.u32();
    total += elements;
    if (total > MAX_TOTAL_SEGMENT_ELEMENTS) {
      reject(`its element segments hold at least ${total} elements; the limit is ${MAX_TOTAL_SEGMENT_ELEMENTS}`);
    }
    for (let e = 0; e < elements; e++) {
      if (flags & 4) skipConstExpr(reader);
      else reader.u32();
    }
  }
}

/** The data section: segment count and bytes over all segments. */
export function checkData(reader: ByteReader, maxBytes: number): void {
  const count = reader.u32();
  atMost(count, MAX_DATA_SEGMENTS, 'data segments');
  let total = 0;
  for (let i = 0; i < count; i++) {
    const flags = reader.u32();
    if (flags > 2) throw new BinaryFormatError(`data segment flags ${flags}`);
    if (flags === 2) reader.u32(); // memory index
    if (flags !== 1) skipConstExpr(reader); // offset
    const size = reader.u32();
    total += size;
    reader.skip(size);
  }
  if (total > maxBytes) {
    reject(`it declares ${formatBytes(total)} of data; the limit is ${formatBytes(maxBytes)}, the memory cap`);
  }
}

/**
 * Skips a constant expression (a segment offset or element): the instructions V8 accepts there without GC.
 * Anything else is not well-formed here, and V8 would refuse it too.
 */
function skipConstExpr(reader: ByteReader): void {
  for (;;) {
    const opcode = reader.byte();
    switch (opcode) {
      case 0x0b: // end
        return;
      case 0x41: // i32.const
      case 0x42: // i64.const
        skipLeb(reader);
        break;
      case 0x43: // f32.const
        reader.skip(4);
        break;
      case 0x44: // f64.const
        reader.skip(8);
        break;
      case 0x23: // global.get
      case 0xd2: // ref.func
        reader.u32();
        break;
      case 0xd0: // ref.null heaptype
        skipLeb(reader);
        break;
      case 0x6a: // i32.add, i32.sub, i32.mul, i64.add, i64.sub, i64.mul (extended constant expressions)
      case 0x6b:
      case 0x6c:
      case 0x7c:
      case 0x7d:
      case 0x7e:
        break;
      case 0xfd: // v128.const
        if (reader.u32() !== 12) throw new BinaryFormatError('a constant expression uses a SIMD instruction');
        reader.skip(16);
        break;
      default:
        throw new BinaryFormatError(`opcode 0x${opcode.toString(16)} in a constant expression`);
    }
  }
}

/** A signed or unsigned LEB128 of up to 10 bytes (s64). */
function skipLeb(reader: ByteReader): void {
  for (let i = 0; i < 10; i++) if ((reader.byte() & 0x80) === 0) return;
  throw new BinaryFormatError('integer representation too long');
}
