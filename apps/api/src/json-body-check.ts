/** The checks every parsed JSON body passes (the JSON routes' and the webhooks'), before anything reads it. */
import { isStorableText } from '@mule/core';

/** JSON nested deeper than this is refused: nothing Mule accepts needs it, and deep values cost stack later. */
export const MAX_JSON_DEPTH = 64;

/**
 * What is wrong with a parsed JSON body, in one walk without recursion (a body of 1 MiB can nest 500k levels):
 * nesting deeper than MAX_JSON_DEPTH, or text PostgreSQL cannot store (NUL, unpaired surrogates).
 */
export function bodyProblem(body: object): string | null {
  const stack: [unknown, number][] = [[body, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (typeof current === 'string') {
      if (!isStorableText(current)) return 'strings in the JSON body must not contain NUL characters (\\u0000) or unpaired UTF-16 surrogates';
    } else if (current !== null && typeof current === 'object') {
      if (depth > MAX_JSON_DEPTH) return `the JSON body nests deeper than ${MAX_JSON_DEPTH} levels`;
      for (const [key, child] of Object.entries(current as Record<string, unknown>)) {
        stack.push([key, depth], [child, depth + 1]);
      }
    }
  }
  return null;
}
