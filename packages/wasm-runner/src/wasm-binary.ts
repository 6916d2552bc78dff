/**
 * Just enough of the WebAssembly binary format to inspect a module and rewrite some of its sections before V8 sees
 * it: a bounds-checked byte reader with LEB128, the section list, and the encoders to put a section back together.
 * Everything not read here is validated by V8 when the module is compiled.
 */

/** The bytes are not a well-formed module at the level this reader looks at. */
export class BinaryFormatError extends Error {}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export class ByteReader {
  offset: number;

  constructor(
    readonly bytes: Uint8Array,
    offset: number,
    readonly end: number,
  ) {
    this.offset = offset;
  }

  atEnd(): boolean {
    return this.offset >= this.end;
  }

  byte(): number {
    if (this.offset >= this.end) throw new BinaryFormatError('unexpected end of section');
    return this.bytes[this.offset++] as number;
  }

  /** Unsigned LEB128, at most 5 bytes and at most 2^32-1, as the spec requires for u32. */
  u32(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 5; i++) {
      const b = this.byte();
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (result > 0xffffffff) throw new BinaryFormatError('integer too large');
        return result;
      }
      scale *= 128;
    }
    throw new BinaryFormatError('integer representation too long');
  }

  skip(length: number): void {
    if (length > this.end - this.offset) throw new BinaryFormatError('unexpected end of section');
    this.offset += length;
  }

  /** A length-prefixed UTF-8 name (import and export names). */
  name(): string {
    const length = this.u32();
    const start = this.offset;
    this.skip(length);
    try {
      return utf8.decode(this.bytes.subarray(start, start + length));
    } catch {
      throw new BinaryFormatError('a name is not valid UTF-8');
    }
  }
}

export interface Section {
  id: number;
  /** Offset of the section id byte. */
  start: number;
  /** Offset of the first content byte (after the id and the size). */
  contentStart: number;
  /** Offset just past the section. */
  end: number;
}

export const MAGIC = [0x00, 0x61, 0x73, 0x6d] as const;
/** Version 1 of the core module format. */
export const CORE_VERSION = [0x01, 0x00, 0x00, 0x00] as const;
/** The version/layer field of a component-model binary (version 0x0d, layer 1). */
export const COMPONENT_VERSION = [0x0d, 0x00, 0x01, 0x00] as const;

export function hasPrefix(bytes: Uint8Array, offset: number, expected: readonly number[]): boolean {
  if (bytes.length < offset + expected.length) return false;
  return expected.every((value, i) => bytes[offset + i] === value);
}

/** Lists the sections that follow the 8-byte header; every section must end within the module. */
export function readSections(bytes: Uint8Array): Section[] {
  const sections: Section[] = [];
  const reader = new ByteReader(bytes, 8, bytes.length);
  while (!reader.atEnd()) {
    const start = reader.offset;
    const id = reader.byte();
    const size = reader.u32();
    const contentStart = reader.offset;
    reader.skip(size);
    sections.push({ id, start, contentStart, end: reader.offset });
  }
  return sections;
}

export function encodeU32(value: number): number[] {
  const out: number[] = [];
  let rest = value;
  do {
    let b = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest !== 0) b |= 0x80;
    out.push(b);
  } while (rest !== 0);
  return out;
}

/** A section as bytes: id, content size, content. */
export function encodeSection(id: number, content: readonly number[]): Uint8Array {
  return Uint8Array.from([id, ...encodeU32(content.length), ...content]);
}

/** Builds the module again with some sections replaced (by section start offset); the rest is copied as is. */
export function replaceSections(
  bytes: Uint8Array,
  sections: readonly Section[],
  replacements: ReadonlyMap<number, Uint8Array>,
): Uint8Array {
  const parts: Uint8Array[] = [bytes.subarray(0, 8)];
  for (const section of sections) {
    parts.push(replacements.get(section.start) ?? bytes.subarray(section.start, section.end));
  }
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Section ids of the core format used by admission. */
export const SectionId = {
  custom: 0,
  type: 1,
  import: 2,
  function: 3,
  table: 4,
  memory: 5,
  global: 6,
  export: 7,
  element: 9,
  code: 10,
  data: 11,
  dataCount: 12,
  tag: 13,
} as const;

/** Value type bytes of the core format. */
export const VALUE_TYPES: Readonly<Record<number, string>> = {
  0x7f: 'i32',
  0x7e: 'i64',
  0x7d: 'f32',
  0x7c: 'f64',
  0x7b: 'v128',
  0x70: 'funcref',
  0x6f: 'externref',
};
