/** Field schemas shared by every definition kind. */
import { z } from 'zod';
import { NAME_PATTERN } from './names.js';

export const nameSchema = z
  .string()
  .regex(NAME_PATTERN, `must match ${NAME_PATTERN.source} (lower case letters, digits, ".", "_", "-")`);
export const descriptionSchema = z.string().max(4000);
/** A JSON Schema as written: kept as given; json-schema.ts checks that ajv can compile it. */
export const jsonSchemaObjectSchema = z.record(z.string(), z.unknown());
