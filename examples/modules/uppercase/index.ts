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

function writeAll(fd: u32, text: string): void {
  const bytes = String.UTF8.encode(text);
  let offset: usize = 0;
  const total = <usize>bytes.byteLength;
  while (offset < total) {
    store<usize>(iovec, changetype<usize>(bytes) + offset);
    store<usize>(iovec, total - offset, 4);
    if (fd_write(fd, iovec, 1, iovec + 8) != 0) proc_exit(2);
    offset += <usize>load<u32>(iovec + 8);
  }
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

let source = "";
let pos = 0;
let problem: string | null = null;
const out = new Array<string>();

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
    out.push(quote(text.toUpperCase()));
    return true;
  }
  if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return number();
  if (literal("true") || literal("false") || literal("null")) return true;
  return fail(c < 0 ? "unexpected end of input" : "unexpected character");
}

function object(depth: i32): bool {
  pos++;
  out.push("{");
  skipWhitespace();
  if (peek() == 0x7d) {
    pos++;
    out.push("}");
    return true;
  }
  while (true) {
    skipWhitespace();
    if (peek() != 0x22) return fail("expected a string key");
    const start = pos;
    if (readString() === null) return false;
    out.push(source.substring(start, pos)); // keys are copied exactly as written
    skipWhitespace();
    if (peek() != 0x3a) return fail("expected ':'");
    pos++;
    out.push(":");
    if (!value(depth + 1)) return false;
    const next = afterItem(0x7d, "}");
    if (next != CONTINUE) return next == CLOSED;
  }
}

function array(depth: i32): bool {
  pos++;
  out.push("[");
  skipWhitespace();
  if (peek() == 0x5d) {
    pos++;
    out.push("]");
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
    out.push(",");
    return CONTINUE;
  }
  if (c == close) {
    pos++;
    out.push(closeText);
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
  out.push(source.substring(start, pos));
  return true;
}

function literal(word: string): bool {
  if (source.substring(pos, pos + word.length) != word) return false;
  pos += word.length;
  out.push(word);
  return true;
}

function hexValue(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** Reads the string at `pos` (on its opening quote) and returns its decoded text, or null if invalid. */
function readString(): string | null {
  pos++;
  const parts = new Array<string>();
  let run = pos;
  while (true) {
    if (pos >= source.length) {
      fail("unterminated string");
      return null;
    }
    const c = source.charCodeAt(pos);
    if (c == 0x22) {
      parts.push(source.substring(run, pos));
      pos++;
      return parts.join("");
    }
    if (c < 0x20) {
      fail("control character in a string");
      return null;
    }
    if (c != 0x5c) {
      pos++;
      continue;
    }
    parts.push(source.substring(run, pos));
    pos++;
    const e = peek();
    pos++;
    if (e == 0x22) parts.push("\"");
    else if (e == 0x5c) parts.push("\\");
    else if (e == 0x2f) parts.push("/");
    else if (e == 0x62) parts.push("\b");
    else if (e == 0x66) parts.push("\f");
    else if (e == 0x6e) parts.push("\n");
    else if (e == 0x72) parts.push("\r");
    else if (e == 0x74) parts.push("\t");
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
      parts.push(String.fromCharCode(code));
    } else {
      pos--;
      fail("invalid escape");
      return null;
    }
    run = pos;
  }
}

const HEX = "0123456789abcdef";

function unicodeEscape(c: i32): string {
  return "\\u" + HEX.charAt((c >> 12) & 15) + HEX.charAt((c >> 8) & 15) + HEX.charAt((c >> 4) & 15) + HEX.charAt(c & 15);
}

/** The text as a JSON string: quotes, backslashes and control characters escaped, lone surrogates as \\uXXXX. */
function quote(text: string): string {
  const parts = new Array<string>();
  parts.push("\"");
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    let escaped: string | null = null;
    if (c == 0x22) escaped = "\\\"";
    else if (c == 0x5c) escaped = "\\\\";
    else if (c == 0x0a) escaped = "\\n";
    else if (c == 0x0d) escaped = "\\r";
    else if (c == 0x09) escaped = "\\t";
    else if (c == 0x08) escaped = "\\b";
    else if (c == 0x0c) escaped = "\\f";
    else if (c < 0x20) escaped = unicodeEscape(c);
    else if (c >= 0xd800 && c <= 0xdbff) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (next >= 0xdc00 && next <= 0xdfff) i++; // a valid pair stays as it is
      else escaped = unicodeEscape(c);
    } else if (c >= 0xdc00 && c <= 0xdfff) escaped = unicodeEscape(c);
    if (escaped !== null) {
      parts.push(text.substring(run, i));
      parts.push(escaped);
      run = i + 1;
    }
  }
  parts.push(text.substring(run));
  parts.push("\"");
  return parts.join("");
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
  out.push("\n");
  writeAll(STDOUT, out.join(""));
}
