/**
 * Whether a step's output can be stored as a step result (jsonb), checked inside the step so that an output the
 * database would refuse fails the step with a clear code instead of making the write throw (which hands the job
 * back to the queue, retries it, and leaves it running until the queue gives up).
 */
import { isStorableText } from '@mule/core';

/**
 * Outputs nested deeper than this are refused. PostgreSQL refused jsonb nested past ~4,000 levels here (its parser
 * recurses, bounded by max_stack_depth, 2 MB by default); 1,000 leaves room for a server with a smaller stack, and
 * no real result nests that deep (request bodies are held to 64 levels).
 */
export const MAX_OUTPUT_DEPTH = 1000;

/** What makes `value` unstorable, or null. One walk without recursion (a 1 MiB output can nest 500k levels). */
export function unstorableOutput(value: unknown): string | null {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (typeof current === 'string') {
      if (!isStorableText(current)) return 'holds a NUL character (\\u0000) or an unpaired surrogate';
    } else if (current !== null && typeof current === 'object') {
      if (depth > MAX_OUTPUT_DEPTH) return `nests deeper than ${MAX_OUTPUT_DEPTH} levels`;
      for (const [key, child] of Object.entries(current as Record<string, unknown>)) {
        stack.push([key, depth], [child, depth + 1]);
      }
    }
  }
  return null;
}
