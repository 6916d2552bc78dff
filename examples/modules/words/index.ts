// words: a WASI preview1 command in AssemblyScript, for the graph example (examples/word-shout.yaml).
//   a JSON string             -> {"words": [<the words>], "count": <n>}   (split on spaces, tabs and line breaks)
//   a JSON list of strings    -> one string, the items joined by single spaces
// Anything else: a message on stderr and exit code 1. One pass over the input, so linear time.
// Built by ../build.mjs; the only imports are the WASI functions declared below.

@external("wasi_snapshot_preview1", "fd_read")
declare function fd_read(fd: u32, iovs: usize, iovsLength: usize, readPointer: usize): u16;

@external("wasi_snapshot_preview1", "fd_write")
declare function fd_write(fd: u32, iovs: usize, iovsLength: usize, writtenPointer: usize): u16;

@external("wasi_snapshot_preview1", "proc_exit")
declare function proc_exit(code: u32): void;

const iovec = memory.data(16);

function readStdin(): string {
  let buffer = new Uint8Array(64 * 1024);
  let length = 0;
  while (true) {
    if (length == buffer.length) {
      const grown = new Uint8Array(buffer.length * 2);
      grown.set(buffer);
      buffer = grown;
    }
    store<usize>(iovec, buffer.dataStart + <usize>length);
    store<usize>(iovec, <usize>(buffer.length - length), 4);
    if (fd_read(0, iovec, 1, iovec + 8) != 0) fail("cannot read stdin");
    const n = load<u32>(iovec + 8);
    if (n == 0) break;
    length += <i32>n;
  }
  return String.UTF8.decodeUnsafe(buffer.dataStart, <usize>length);
}

function write(fd: u32, text: string): void {
  const bytes = String.UTF8.encode(text);
  const start = changetype<usize>(bytes);
  const total = <usize>bytes.byteLength;
  let offset: usize = 0;
  while (offset < total) {
    store<usize>(iovec, start + offset);
    store<usize>(iovec, total - offset, 4);
    if (fd_write(fd, iovec, 1, iovec + 8) != 0) proc_exit(2);
    offset += <usize>load<u32>(iovec + 8);
  }
}

function fail(message: string): void {
  write(2, "words: " + message + "\n");
  proc_exit(1);
}

/** Replaces `env.abort` (asc --use abort=...), so the module needs no host import. */
function abortHandler(message: string | null, fileName: string | null, line: u32, column: u32): void {
  write(2, "words: " + (message !== null ? message : "abort") + "\n");
  proc_exit(134);
}

/**
 * A growable block of UTF-16 code units outside the GC's heap. Output and decoded strings are built in these, not
 * in an Array<string>: the incremental GC re-scans a whole array of strings each time one is pushed while it marks,
 * which makes a growing array quadratic (see ../uppercase/index.ts).
 */
class Units {
  start: usize;
  length: i32 = 0;
  capacity: i32;

  constructor(capacity: i32) {
    this.start = heap.alloc(<usize>capacity << 1);
    this.capacity = capacity;
  }

  push(c: i32): void {
    if (this.length == this.capacity) {
      this.capacity *= 2;
      this.start = heap.realloc(this.start, <usize>this.capacity << 1);
    }
    store<u16>(this.start + (<usize>this.length << 1), <u16>c);
    this.length++;
  }

  at(i: i32): i32 {
    return <i32>load<u16>(this.start + (<usize>i << 1));
  }

  text(text: string): void {
    for (let i = 0; i < text.length; i++) this.push(text.charCodeAt(i));
  }
}

let source = "";
let pos = 0;
const out = new Units(4096);
const decoded = new Units(1024);

function skipSpace(): void {
  while (pos < source.length && isSpace(source.charCodeAt(pos))) pos++;
}

function isSpace(c: i32): bool {
  return c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d;
}

function hexValue(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** Decodes the JSON string at `pos` (on its opening quote) into `decoded`. */
function readString(): void {
  if (pos >= source.length || source.charCodeAt(pos) != 0x22) fail("expected a JSON string");
  pos++;
  decoded.length = 0;
  while (true) {
    if (pos >= source.length) fail("unterminated string");
    const c = source.charCodeAt(pos++);
    if (c == 0x22) return;
    if (c < 0x20) fail("control character in a string");
    if (c != 0x5c) {
      decoded.push(c);
      continue;
    }
    const e = pos < source.length ? source.charCodeAt(pos++) : -1;
    if (e == 0x22 || e == 0x5c || e == 0x2f) decoded.push(e);
    else if (e == 0x62) decoded.push(0x08);
    else if (e == 0x66) decoded.push(0x0c);
    else if (e == 0x6e) decoded.push(0x0a);
    else if (e == 0x72) decoded.push(0x0d);
    else if (e == 0x74) decoded.push(0x09);
    else if (e == 0x75) {
      let code = 0;
      for (let i = 0; i < 4; i++) {
        const h = pos < source.length ? hexValue(source.charCodeAt(pos)) : -1;
        if (h < 0) fail("invalid \\u escape");
        code = code * 16 + h;
        pos++;
      }
      decoded.push(code);
    } else fail("invalid escape");
  }
}

const HEX = "0123456789abcdef";

/** Appends one code unit inside a JSON string: quotes, backslashes, control characters and surrogates escaped. */
function emitEscaped(c: i32): void {
  if (c == 0x22 || c == 0x5c) {
    out.push(0x5c);
    out.push(c);
  } else if (c < 0x20 || (c >= 0xd800 && c <= 0xdfff)) {
    // A surrogate pair written as two \uXXXX escapes is still the same character to any JSON reader.
    out.text("\\u");
    for (let shift = 12; shift >= 0; shift -= 4) out.push(HEX.charCodeAt((c >> shift) & 15));
  } else out.push(c);
}

/** The decoded text's words as {"words": [...], "count": n}. */
function split(): void {
  out.text('{"words":[');
  let count = 0;
  let inWord = false;
  for (let i = 0; i < decoded.length; i++) {
    const c = decoded.at(i);
    if (isSpace(c)) {
      if (inWord) out.push(0x22);
      inWord = false;
      continue;
    }
    if (!inWord) {
      if (count > 0) out.push(0x2c);
      out.push(0x22);
      count++;
      inWord = true;
    }
    emitEscaped(c);
  }
  if (inWord) out.push(0x22);
  out.text('],"count":' + count.toString() + "}");
}

/** A list of strings (at `pos`, on its "[") as one string, the items joined by single spaces. */
function join(): void {
  pos++;
  out.push(0x22);
  skipSpace();
  if (pos < source.length && source.charCodeAt(pos) == 0x5d) {
    pos++;
    out.push(0x22);
    return;
  }
  let first = true;
  while (true) {
    skipSpace();
    readString();
    if (!first) out.push(0x20);
    first = false;
    for (let i = 0; i < decoded.length; i++) emitEscaped(decoded.at(i));
    skipSpace();
    const c = pos < source.length ? source.charCodeAt(pos++) : -1;
    if (c == 0x5d) break;
    if (c != 0x2c) fail("expected ',' or ']' in a list of strings");
  }
  out.push(0x22);
}

// ---- The command: exported as _start (asc --exportStart _start). ----

source = readStdin();
skipSpace();
const opening = pos < source.length ? source.charCodeAt(pos) : -1;
if (opening == 0x22) {
  readString();
  split();
} else if (opening == 0x5b) join();
else fail("the input must be a JSON string (to split) or a list of strings (to join)");
skipSpace();
if (pos < source.length) fail("unexpected text after the JSON value");
out.push(0x0a);
write(1, String.UTF16.decodeUnsafe(out.start, <usize>out.length << 1));
