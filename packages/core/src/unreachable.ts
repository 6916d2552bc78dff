/**
 * The default branch of an exhaustive `switch` over a union (step types, above all): while every member is
 * handled, `value` is `never` here; a member added later and not handled makes the call fail to compile.
 */
import { MuleError } from './errors.js';

export function unreachable(value: never): never {
  throw new MuleError('internal_error', `unhandled case: ${JSON.stringify(value)}`);
}
