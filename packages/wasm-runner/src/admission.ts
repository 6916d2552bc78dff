/**
 * Admission: the sandbox policy checked on a module's raw bytes before V8 compiles them. A module must be a plain
 * core module that imports only WASI preview1 functions (with their real signatures), defines at most one
 * unshared 32-bit memory, and exports `_start`. Memory and table maximums are rewritten to the caps so that V8
 * itself refuses growth past them: a worker's `resourceLimits` bound V8's JS heap, and wasm memory lives outside it.
 */
import { createHash } from 'node:crypto';
import { MuleError } from '@mule/core';
import { formatBytes, MAX_TABLE_ELEMENTS, memoryCapPages, resolveLimits, type WasmLimits } from './limits.js';
import {
  checkCode,
  checkData,
  checkDataCount,
  checkElements,
  checkExportCount,
  checkFunctions,
  checkGlobals,
  checkImportCount,
  checkTableCount,
  checkTableTotals,
  checkTags,
  checkTypeCount,
  checkTypeValues,
  reject,
} from './structure-checks.js';
import { maxDataBytes } from './structure-limits.js';
import { WASI_FUNCTIONS, WASI_MEMORYLESS, WASI_MODULE, WASI_NO_RESULT } from './wasi-abi.js';
import {
  BinaryFormatError,
  ByteReader,
  COMPONENT_VERSION,
  CORE_VERSION,
  encodeSection,
  encodeU32,
  hasPrefix,
  MAGIC,
  readSections,
  replaceSections,
  SectionId,
  VALUE_TYPES,
} from './wasm-binary.js';

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Admission on raw bytes (used at upload time too): checks and returns sha256 and size, or throws
 * MuleError('wasm_rejected' | 'payload_too_large'). Also validates the whole module with V8, so that a module
 * that would not compile is refused at upload rather than at its first run.
 */
export function admitModule(bytes: Uint8Array, limits?: Partial<WasmLimits>): { sha256: string; size: number } {
  const prepared = prepareModule(bytes, resolveLimits(limits));
  if (!WebAssembly.validate(prepared)) reject('it is not valid WebAssembly (V8 could not validate it)');
  return { sha256: sha256Hex(bytes), size: bytes.length };
}

/** Checks the policy and returns the bytes to compile: the module with its memory and table maximums capped. */
export function prepareModule(bytes: Uint8Array, limits: WasmLimits): Uint8Array {
  if (bytes.length > limits.maxModuleBytes) {
    throw new MuleError(
      'payload_too_large',
      `The module is ${formatBytes(bytes.length)}; the limit is ${formatBytes(limits.maxModuleBytes)}.`,
    );
  }
  if (!hasPrefix(bytes, 0, MAGIC)) reject('it is not a WebAssembly module (it does not start with "\\0asm")');
  if (hasPrefix(bytes, 4, COMPONENT_VERSION)) {
    reject('it is a WebAssembly component; build a core module for WASI preview1 (wasm32-wasip1) instead');
  }
  if (!hasPrefix(bytes, 4, CORE_VERSION)) reject('it has an unsupported WebAssembly binary version');
  try {
    return checkAndRewrite(bytes, limits);
  } catch (error) {
    if (error instanceof BinaryFormatError) reject(`it is not a well-formed WebAssembly module (${error.message})`);
    throw error;
  }
}

interface FuncType {
  params: string[];
  results: string[];
}

function checkAndRewrite(bytes: Uint8Array, limits: WasmLimits): Uint8Array {
  const sections = readSections(bytes);
  const replacements = new Map<number, Uint8Array>();
  let types: FuncType[] = [];
  let imported: string[] = [];
  let memories = 0;
  let exports = new Map<string, number>();
  for (const section of sections) {
    const reader = new ByteReader(bytes, section.contentStart, section.end);
    switch (section.id) {
      case SectionId.type:
        types = readFuncTypes(reader);
        break;
      case SectionId.import:
        imported = checkImports(reader, types);
        break;
      case SectionId.function:
        checkFunctions(reader, imported.length);
        continue; // the type indexes are left to V8
      case SectionId.table:
        replacements.set(section.start, capTables(reader));
        break;
      case SectionId.global:
        checkGlobals(reader);
        continue; // the globals themselves are left to V8
      case SectionId.tag:
        checkTags(reader);
        continue;
      case SectionId.element:
        checkElements(reader);
        break;
      case SectionId.dataCount:
        checkDataCount(reader);
        break;
      case SectionId.code:
        checkCode(reader);
        break;
      case SectionId.data:
        checkData(reader, maxDataBytes(limits));
        break;
      case SectionId.memory: {
        const { count, content } = capMemories(reader, memoryCapPages(limits), limits.maxMemoryMb);
        memories += count;
        replacements.set(section.start, content);
        break;
      }
      case SectionId.export:
        exports = readExports(reader);
        break;
      default:
        continue;
    }
    if (!reader.atEnd()) throw new BinaryFormatError(`section ${section.id} has trailing bytes`);
  }
  if (memories > 1) reject(`it defines ${memories} memories; one is allowed`);
  if (exports.get('_start') !== 0) {
    reject('it has no "_start" function export; a module must be a WASI command (see docs/wasm-modules.md)');
  }
  if (imported.some((name) => !WASI_MEMORYLESS.has(name)) && exports.get('memory') !== 2) {
    reject('it does not export its memory as "memory", which the WASI functions it imports need');
  }
  return replacements.size === 0 ? bytes : replaceSections(bytes, sections, replacements);
}

/**
 * Function types by index. Anything else in the type section (GC structs and arrays, typed references) is
 * refused: GC objects would live in the thread's JS heap, outside the linear-memory cap, and no WASI toolchain
 * (Rust, C, Go, TinyGo, AssemblyScript, Javy) emits them.
 */
function readFuncTypes(reader: ByteReader): FuncType[] {
  const count = reader.u32();
  checkTypeCount(count);
  const types: FuncType[] = [];
  let values = 0;
  const valueTypes = (): string[] => {
    const n = reader.u32();
    checkTypeValues((values += n));
    const list: string[] = [];
    for (let i = 0; i < n; i++) {
      const name = VALUE_TYPES[reader.byte()];
      if (name === undefined) reject('it uses typed references, which this sandbox does not support');
      list.push(name);
    }
    return list;
  };
  for (let i = 0; i < count; i++) {
    if (reader.byte() !== 0x60) reject('it defines WebAssembly GC types, which this sandbox does not support');
    const params = valueTypes();
    types.push({ params, results: valueTypes() });
  }
  return types;
}

const IMPORT_KINDS = ['function', 'table', 'memory', 'global', 'tag'];

function checkImports(reader: ByteReader, types: readonly FuncType[]): string[] {
  const count = reader.u32();
  checkImportCount(count);
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const module = reader.name();
    const field = reader.name();
    const kind = reader.byte();
    const what = `${module}.${field}`;
    if (kind === 2) reject(`it imports its memory (${what}); a module must define its own memory`);
    if (kind !== 0) {
      reject(`it imports a ${IMPORT_KINDS[kind] ?? 'value'} (${what}); only WASI functions may be imported`);
    }
    const typeIndex = reader.u32();
    if (module !== WASI_MODULE) {
      reject(`it imports ${what}; only ${WASI_MODULE} functions are allowed (no network, files or host calls)`);
    }
    if (!Object.hasOwn(WASI_FUNCTIONS, field)) {
      reject(`it imports ${what}, which is not a WASI preview1 function`);
    }
    const type = types[typeIndex];
    if (type) checkSignature(what, field, type); // a bad index is left to V8's validation
    names.push(field);
  }
  return names;
}

function checkSignature(what: string, field: string, type: FuncType): void {
  const params = [...(WASI_FUNCTIONS[field] ?? '')].map((letter) => (letter === 'I' ? 'i64' : 'i32'));
  const results = WASI_NO_RESULT.has(field) ? [] : ['i32'];
  const show = (t: FuncType) => `(${t.params.join(', ')}) -> (${t.results.join(', ')})`;
  if (show(type) !== show({ params, results })) {
    reject(`its import ${what} has the signature ${show(type)}, but WASI defines ${show({ params, results })}`);
  }
}

interface Limits {
  min: number;
  max: number | null;
}

function readLimits(reader: ByteReader, what: 'memory' | 'table'): Limits {
  const flags = reader.byte();
  if (what === 'memory' && (flags === 0x02 || flags === 0x03)) reject('it declares a shared memory');
  if (flags >= 0x04 && flags <= 0x07) reject(`it declares a 64-bit ${what}; only 32-bit ones are supported`);
  if (flags !== 0x00 && flags !== 0x01) reject(`it declares a ${what} with unsupported limits (flags ${flags})`);
  const min = reader.u32();
  const max = flags === 0x01 ? reader.u32() : null;
  return { min, max };
}

function limitsBytes(min: number, max: number): number[] {
  return [0x01, ...encodeU32(min), ...encodeU32(max)];
}

function capMemories(reader: ByteReader, capPages: number, capMb: number): { count: number; content: Uint8Array } {
  const count = reader.u32();
  if (count > 1) reject(`it defines ${count} memories; one is allowed`);
  const content = [...encodeU32(count)];
  for (let i = 0; i < count; i++) {
    const { min, max } = readLimits(reader, 'memory');
    if (min > capPages) {
      reject(`it needs ${formatBytes(min * 65536)} of memory at start; the limit is ${capMb} MiB`);
    }
    content.push(...limitsBytes(min, Math.min(max ?? capPages, capPages)));
  }
  return { count, content: encodeSection(SectionId.memory, content) };
}

function capTables(reader: ByteReader): Uint8Array {
  const count = reader.u32();
  checkTableCount(count);
  const content = [...encodeU32(count)];
  let minimums = 0;
  let maximums = 0;
  for (let i = 0; i < count; i++) {
    const refType = reader.byte();
    if (refType === 0x40) reject('it declares a table with an initializer expression, which is not supported');
    if (refType !== 0x70 && refType !== 0x6f) reject('it declares a table of an unsupported reference type');
    const { min, max } = readLimits(reader, 'table');
    if (min > MAX_TABLE_ELEMENTS) {
      reject(`it declares a table of ${min} elements; the limit is ${MAX_TABLE_ELEMENTS}`);
    }
    const capped = Math.min(max ?? MAX_TABLE_ELEMENTS, MAX_TABLE_ELEMENTS);
    minimums += min;
    maximums += Math.max(min, capped); // a maximum under the minimum is left to V8's validation
    content.push(refType, ...limitsBytes(min, capped));
  }
  checkTableTotals(minimums, maximums);
  return encodeSection(SectionId.table, content);
}

/** Export name -> export kind (0 function, 1 table, 2 memory, 3 global, 4 tag). */
function readExports(reader: ByteReader): Map<string, number> {
  const count = reader.u32();
  checkExportCount(count);
  const exports = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const name = reader.name();
    const kind = reader.byte();
    reader.u32();
    exports.set(name, kind);
  }
  return exports;
}
