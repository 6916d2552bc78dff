// uppercase: a WASI preview1 command in AssemblyScript. It reads one JSON value from stdin and writes the same
// JSON to stdout with every string value uppercased (full Unicode, e.g. "ß" -> "SS"); object keys, numbers and
// literals are kept as written. Invalid JSON: a message on stderr and exit code 1.
//
// As a tool it receives {"text": "..."} and answers {"text": "..."}: the same code path.
// Built by ../build.mjs; the only imports are the WASI functions declared below.

@external("wasi_snapshot_preview1", "fd_read")
declare function fd_read(fd: u32, iovs: usize, iovsLength: usize, readPointer: usize): u16;

@external("wasi_snapshot_preview1", "fd_write")
declare function fd_write(fd: u32, iovs: usize, iovsLength: usize, writtenPointer: usize): u16;

@external("wasi_snapshot_preview1", "proc_exit")
declare function proc_exit(code: u32): void;

const STDIN: u32 = 0;
const STDOUT: u32 = 1;
const STDERR: u32 = 2;
/** Deeper nesting is refused rather than risking the 32 KiB shadow stack of the incremental GC. */
const MAX_DEPTH: i32 = 512;
const READ_CHUNK: i32 = 64 * 1024;

// One iovec (pointer, length) and the count the call writes back.
const iovec = memory.data(16);

function readStdin(): string {
  let buffer = new Uint8Array(READ_CHUNK);
  let length = 0;
  while (true) {
    if (length == buffer.length) {
      const grown = new Uint8Array(buffer.length * 2);
      grown.set(buffer);
      buffer = grown;
    }
    store<usize>(iovec, buffer.dataStart + <usize>length);
    store<usize>(iovec, <usize>(buffer.length - length), 4);
    if (fd_read(STDIN, iovec, 1, iovec + 8) != 0) fatal("uppercase: cannot read stdin\n");
    const n = load<u32>(iovec + 8);
    if (n == 0) break;
    length += <i32>n;
  }
  return String.UTF8.decodeUnsafe(buffer.dataStart, <usize>length);
}

function writeBytes(fd: u32, start: usize, total: usize): void {
  let offset: usize = 0;
  while (offset < total) {
    store<usize>(iovec, start + offset);
    store<usize>(iovec, total - offset, 4);
    if (fd_write(fd, iovec, 1, iovec + 8) != 0) proc_exit(2);
    offset += <usize>load<u32>(iovec + 8);
  }
}

function writeAll(fd: u32, text: string): void {
  const bytes = String.UTF8.encode(text);
  writeBytes(fd, changetype<usize>(bytes), <usize>bytes.byteLength);
}

function fatal(message: string): void {
  writeAll(STDERR, message);
  proc_exit(1);
}

/** Replaces `env.abort` (asc --use abort=...): report on stderr and exit, so the module needs no host import. */
function abortHandler(message: string | null, fileName: string | null, line: u32, column: u32): void {
  const what = message !== null ? message : "abort";
  const where = fileName !== null ? fileName : "?";
  writeAll(STDERR, "uppercase: " + what + " at " + where + ":" + line.toString() + ":" + column.toString() + "\n");
  proc_exit(134);
}

// ---- The transform: a recursive-descent JSON reader that writes its output as it goes. ----

/**
 * A growable block of bytes outside the GC's heap. The output and each decoded string are built in one of these
 * rather than in an Array<string>: the incremental GC re-scans a whole array each time a string is pushed into it
 * while it marks, so an array that grows with the input made the run quadratic (8,000 small objects, 390 KB:
 * 11 s, against 0.1 s for 1,000).
 */
class Bytes {
  start: usize;
  length: usize = 0;
  capacity: usize;

  constructor(capacity: usize) {
    this.start = heap.alloc(capacity);
    this.capacity = capacity;
  }

  /** Room for `bytes` more bytes; returns where they go. */
  reserve(bytes: usize): usize {
    const needed = this.length + bytes;
    if (needed > this.capacity) {
      let capacity = this.capacity * 2;
      while (capacity < needed) capacity *= 2;
      this.start = heap.realloc(this.start, capacity);
      this.capacity = capacity;
    }
    return this.start + this.length;
  }
}

let source = "";
let pos = 0;
let problem: string | null = null;
/** stdout, as UTF-8. */
const out = new Bytes(<usize>READ_CHUNK);
/** The UTF-16 code units of the string readString is decoding; reused for every string. */
const decoded = new Bytes(1024);

function emitByte(c: i32): void {
  store<u8>(out.reserve(1), <u8>c);
  out.length += 1;
}

/** Appends the code units [start, end) of `text` as UTF-8: at most 3 bytes each. */
function emitRange(text: string, start: i32, end: i32): void {
  const at = out.reserve(<usize>(end - start) * 3);
  out.length += String.UTF8.encodeUnsafe(changetype<usize>(text) + (<usize>start << 1), end - start, at);
}

function emit(text: string): void {
  emitRange(text, 0, text.length);
}

function fail(message: string): bool {
  if (problem === null) problem = message + " at character " + pos.toString();
  return false;
}

function peek(): i32 {
  return pos < source.length ? source.charCodeAt(pos) : -1;
}

function skipWhitespace(): void {
  while (pos < source.length) {
    const c = source.charCodeAt(pos);
    if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) return;
    pos++;
  }
}

function value(depth: i32): bool {
  if (depth > MAX_DEPTH) return fail("nesting deeper than " + MAX_DEPTH.toString());
  skipWhitespace();
  const c = peek();
  if (c == 0x7b) return object(depth);
  if (c == 0x5b) return array(depth);
  if (c == 0x22) {
    const text = readString();
    if (text === null) return false;
    emitQuoted(text.toUpperCase());
    return true;
  }
  if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return number();
  if (literal("true") || literal("false") || literal("null")) return true;
  return fail(c < 0 ? "unexpected end of input" : "unexpected character");
}

function object(depth: i32): bool {
  pos++;
  emitByte(0x7b);
  skipWhitespace();
  if (peek() == 0x7d) {
    pos++;
    emitByte(0x7d);
    return true;
  }
  while (true) {
    skipWhitespace();
    if (peek() != 0x22) return fail("expected a string key");
    const start = pos;
    if (readString() === null) return false;
    emitRange(source, start, pos); // keys are copied exactly as written
    skipWhitespace();
    if (peek() != 0x3a) return fail("expected ':'");
    pos++;
    emitByte(0x3a);
    if (!value(depth + 1)) return false;
    const next = afterItem(0x7d, "}");
    if (next != CONTINUE) return next == CLOSED;
  }
}

function array(depth: i32): bool {
  pos++;
  emitByte(0x5b);
  skipWhitespace();
  if (peek() == 0x5d) {
    pos++;
    emitByte(0x5d);
    return true;
  }
  while (true) {
    if (!value(depth + 1)) return false;
    const next = afterItem(0x5d, "]");
    if (next != CONTINUE) return next == CLOSED;
  }
}

const CONTINUE: i32 = 0;
const CLOSED: i32 = 1;
const FAILED: i32 = 2;

/** After an object member or array item: a comma (CONTINUE), the closing bracket (CLOSED), or an error (FAILED). */
function afterItem(close: i32, closeText: string): i32 {
  skipWhitespace();
  const c = peek();
  if (c == 0x2c) {
    pos++;
    emitByte(0x2c);
    return CONTINUE;
  }
  if (c == close) {
    pos++;
    emitByte(close);
    return CLOSED;
  }
  fail("expected ',' or '" + closeText + "'");
  return FAILED;
}

function digits(): i32 {
  const start = pos;
  while (pos < source.length) {
    const c = source.charCodeAt(pos);
    if (c < 0x30 || c > 0x39) break;
    pos++;
  }
  return pos - start;
}

function number(): bool {
  const start = pos;
  if (peek() == 0x2d) pos++;
  if (peek() == 0x30) pos++;
  else if (digits() == 0) return fail("invalid number");
  if (peek() == 0x2e) {
    pos++;
    if (digits() == 0) return fail("invalid number");
  }
  if (peek() == 0x65 || peek() == 0x45) {
    pos++;
    if (peek() == 0x2b || peek() == 0x2d) pos++;
    if (digits() == 0) return fail("invalid number");
  }
  emitRange(source, start, pos);
  return true;
}

function literal(word: string): bool {
  if (source.substring(pos, pos + word.length) != word) return false;
  pos += word.length;
  emit(word);
  return true;
}

function hexValue(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

function decodedUnit(c: i32): void {
  store<u16>(decoded.reserve(2), <u16>c);
  decoded.length += 2;
}

/** Reads the string at `pos` (on its opening quote) and returns its decoded text, or null if invalid. */
function readString(): string | null {
  pos++;
  decoded.length = 0;
  while (true) {
    if (pos >= source.length) {
      fail("unterminated string");
      return null;
    }
    const c = source.charCodeAt(pos);
    if (c == 0x22) {
      pos++;
      return String.UTF16.decodeUnsafe(decoded.start, decoded.length);
    }
    if (c < 0x20) {
      fail("control character in a string");
      return null;
    }
    pos++;
    if (c != 0x5c) {
      decodedUnit(c);
      continue;
    }
    const e = peek();
    pos++;
    if (e == 0x22 || e == 0x5c || e == 0x2f) decodedUnit(e);
    else if (e == 0x62) decodedUnit(0x08);
    else if (e == 0x66) decodedUnit(0x0c);
    else if (e == 0x6e) decodedUnit(0x0a);
    else if (e == 0x72) decodedUnit(0x0d);
    else if (e == 0x74) decodedUnit(0x09);
    else if (e == 0x75) {
      let code = 0;
      for (let i = 0; i < 4; i++) {
        const h = hexValue(peek());
        if (h < 0) {
          fail("invalid \\u escape");
          return null;
        }
        code = code * 16 + h;
        pos++;
      }
      decodedUnit(code);
    } else {
      pos--;
      fail("invalid escape");
      return null;
    }
  }
}

const HEX = "0123456789abcdef";

function emitUnicodeEscape(c: i32): void {
  emitByte(0x5c);
  emitByte(0x75);
  for (let shift = 12; shift >= 0; shift -= 4) emitByte(HEX.charCodeAt((c >> shift) & 15));
}

/** Appends the text as a JSON string: quotes, backslashes and control characters escaped, lone surrogates as \\uXXXX. */
function emitQuoted(text: string): void {
  emitByte(0x22);
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    let escape = 0; // the letter after the backslash; -1 for \uXXXX
    if (c == 0x22 || c == 0x5c) escape = c;
    else if (c == 0x0a) escape = 0x6e;
    else if (c == 0x0d) escape = 0x72;
    else if (c == 0x09) escape = 0x74;
    else if (c == 0x08) escape = 0x62;
    else if (c == 0x0c) escape = 0x66;
    else if (c < 0x20) escape = -1;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (next >= 0xdc00 && next <= 0xdfff) i++; // a valid pair stays as it is
      else escape = -1;
    } else if (c >= 0xdc00 && c <= 0xdfff) escape = -1;
    if (escape != 0) {
      emitRange(text, run, i);
      if (escape < 0) emitUnicodeEscape(c);
      else {
        emitByte(0x5c);
        emitByte(escape);
      }
      run = i + 1;
    }
  }
  emitRange(text, run, text.length);
  emitByte(0x22);
}

// ---- The command: exported as _start (asc --exportStart _start). ----

source = readStdin();
if (value(0)) {
  skipWhitespace();
  if (pos < source.length) fail("unexpected text after the JSON value");
}
if (problem !== null) {
  fatal("uppercase: the input is not valid JSON: " + (problem as string) + "\n");
} else {
  emitByte(0x0a);
  writeBytes(STDOUT, out.start, out.length);
}
