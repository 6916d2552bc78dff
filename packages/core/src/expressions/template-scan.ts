/**
 * Finds the `${{ … }}` pieces of a template string. The closing `}}` is the first one outside a CEL string literal
 * and outside the expression's own braces, so `${{ {"a": {"b": 1}} }}` (a map literal ending in `}}`) is one piece.
 */
import { MuleError } from '../errors.js';

export type ScannedPart = { kind: 'text'; text: string } | { kind: 'expression'; source: string };

const OPEN = '${{';

/** Splits `text` into literal text and expression sources; throws `invalid_request` on an unclosed `${{`. */
export function scanTemplate(text: string, param: string | null): ScannedPart[] {
  const parts: ScannedPart[] = [];
  let cursor = 0;
  for (;;) {
    const open = text.indexOf(OPEN, cursor);
    if (open < 0) break;
    if (open > cursor) parts.push({ kind: 'text', text: text.slice(cursor, open) });
    const start = open + OPEN.length;
    const end = findClose(text, start);
    if (end < 0) {
      throw new MuleError('invalid_request', `${where(param)}"\${{" at character ${open} is never closed by "}}"`, {
        param,
      });
    }
    parts.push({ kind: 'expression', source: text.slice(start, end).trim() });
    cursor = end + 2;
  }
  if (cursor < text.length) parts.push({ kind: 'text', text: text.slice(cursor) });
  return parts;
}

/** Index of the `}}` that closes an expression starting at `start`, or -1. */
function findClose(text: string, start: number): number {
  let depth = 0;
  let i = start;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"' || c === "'") {
      i = skipString(text, i);
      continue;
    }
    if (c === '{') depth += 1;
    else if (c === '}') {
      if (depth === 0) return text[i + 1] === '}' ? i : -1;
      depth -= 1;
    }
    i += 1;
  }
  return -1;
}

/** Index just past the CEL string literal opening at `i` (single, double or triple quoted; raw or not). */
function skipString(text: string, i: number): number {
  const quote = text[i]!;
  const raw = i > 0 && (text[i - 1] === 'r' || text[i - 1] === 'R');
  const triple = text.startsWith(quote.repeat(3), i);
  const closer = triple ? quote.repeat(3) : quote;
  let j = i + closer.length;
  while (j < text.length) {
    if (!raw && text[j] === '\\') {
      j += 2;
      continue;
    }
    if (text.startsWith(closer, j)) return j + closer.length;
    if (!triple && text[j] === '\n') return j;
    j += 1;
  }
  return j;
}

export function where(param: string | null): string {
  return param ? `${param}: ` : '';
}
