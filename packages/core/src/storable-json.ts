/**
 * PostgreSQL cannot store every string JavaScript can hold: jsonb and text refuse the NUL character (\u0000), and
 * jsonb refuses unpaired UTF-16 surrogates (a lone "\ud800" escape parses fine in JSON.parse). A value holding
 * either makes the statement fail, so values from outside (request bodies, module outputs, provider text) are
 * checked before they are stored.
 */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNSTORABLE_ALL = new RegExp(UNSTORABLE.source, 'g');

export function isStorableText(text: string): boolean {
  return !UNSTORABLE.test(text);
}

/** Whether any string or key in a JSON value could not be stored. */
export function hasUnstorableText(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const current = stack.pop();
    if (typeof current === 'string') {
      if (!isStorableText(current)) return true;
    } else if (current !== null && typeof current === 'object') {
      for (const [key, child] of Object.entries(current as Record<string, unknown>)) {
        if (!isStorableText(key)) return true;
        stack.push(child);
      }
    }
  }
  return false;
}

/** Text made storable: NUL characters dropped, unpaired surrogates replaced by U+FFFD (an error message, an answer). */
export function storableText(text: string): string {
  return isStorableText(text) ? text : text.replace(UNSTORABLE_ALL, (match) => (match === '\u0000' ? '' : '\ufffd'));
}
