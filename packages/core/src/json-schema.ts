/**
 * JSON Schemas written in definitions (a workflow's `input_schema`, a wait step's `schema`): refused at write time
 * when ajv cannot compile them, and the one validator for values checked against them (a resume body's output).
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { MuleError } from './errors.js';

// strict: false because authors write JSON Schema for people and tools (unknown keywords, formats ajv-formats
// would need); a schema that does not follow the JSON Schema meta-schema is still refused.
const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
/** Compiled validators kept per schema text: a resume checks the same few schemas again and again. */
const MAX_CACHED_SCHEMAS = 500;
const validators = new Map<string, ValidateFunction>();

export type JsonSchemaObject = Record<string, unknown>;

/** Throws `invalid_request` naming `param` when ajv cannot compile `schema`. */
export function checkJsonSchema(schema: JsonSchemaObject, param: string): void {
  try {
    validatorFor(schema);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new MuleError('invalid_request', `${param}: not a valid JSON Schema: ${message.slice(0, 500)}`, { param });
  }
}

/** Checks `value` against `schema`: null when it conforms, else ajv's message (with `name` for the value). */
export function jsonSchemaErrors(schema: JsonSchemaObject, value: unknown, name = 'value'): string | null {
  const validate = validatorFor(schema);
  if (validate(value)) return null;
  const text = ajv.errorsText(validate.errors, { dataVar: name, separator: '; ' });
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}

function validatorFor(schema: JsonSchemaObject): ValidateFunction {
  const key = JSON.stringify(schema);
  const cached = validators.get(key);
  if (cached) return cached;
  // `$schema`/`$id` make ajv look up meta-schemas or register ids globally (a second schema with the same $id
  // would then fail to compile); neither matters for checking one value.
  const { $schema: _schema, $id: _id, ...compilable } = schema;
  const validate = ajv.compile(compilable);
  if (validators.size >= MAX_CACHED_SCHEMAS) {
    const oldest = validators.keys().next().value;
    if (oldest !== undefined) validators.delete(oldest);
    // ajv keeps its own cache keyed by schema object; drop it with ours so neither grows without bound.
    ajv.removeSchema();
  }
  validators.set(key, validate);
  return validate;
}
