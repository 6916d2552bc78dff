/**
 * Tool parameter schemas in both directions. Mule declares tools to ADK with plain JSON Schema
 * (`parametersJsonSchema`); ADK's own tools and older declarations use the Gemini `Schema` dialect (upper-case
 * types, `nullable`, numeric limits as strings), which OpenAI-compatible servers reject, so it is converted back.
 * Arguments are checked with ajv, compiled once per distinct schema text: callers rebuild tool objects per run.
 */
import { Ajv, type ValidateFunction } from 'ajv';

type JsonObject = Record<string, unknown>;

const EMPTY_OBJECT_SCHEMA: JsonObject = Object.freeze({ type: 'object', properties: {} });
const STRING_NUMBER_KEYS = new Set(['minItems', 'maxItems', 'minLength', 'maxLength', 'minProperties', 'maxProperties']);
const DROPPED_KEYS = new Set(['propertyOrdering', 'example']);

/** A function declaration's parameters as JSON Schema, whichever dialect it was declared in. */
export function declarationParameters(declaration: { parameters?: unknown; parametersJsonSchema?: unknown }): JsonObject {
  if (isObject(declaration.parametersJsonSchema)) return declaration.parametersJsonSchema;
  if (isObject(declaration.parameters)) return geminiSchemaToJsonSchema(declaration.parameters);
  return EMPTY_OBJECT_SCHEMA;
}

/** Gemini `Schema` (OpenAPI 3.0 subset) to JSON Schema. */
export function geminiSchemaToJsonSchema(schema: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(schema)) {
    if (value === undefined || value === null || DROPPED_KEYS.has(key) || key === 'nullable') continue;
    if (key === 'type' && typeof value === 'string') {
      if (value !== 'TYPE_UNSPECIFIED') out['type'] = value.toLowerCase();
    } else if (STRING_NUMBER_KEYS.has(key) && typeof value === 'string' && /^\d+$/.test(value)) {
      out[key] = Number(value);
    } else if (key === 'properties' && isObject(value)) {
      out[key] = Object.fromEntries(
        Object.entries(value).map(([name, property]) => [name, isObject(property) ? geminiSchemaToJsonSchema(property) : property]),
      );
    } else if ((key === 'items' || key === 'additionalProperties') && isObject(value)) {
      out[key] = geminiSchemaToJsonSchema(value);
    } else if (key === 'anyOf' && Array.isArray(value)) {
      out[key] = value.map((item) => (isObject(item) ? geminiSchemaToJsonSchema(item) : item));
    } else {
      out[key] = value;
    }
  }
  if (schema['nullable'] === true && typeof out['type'] === 'string') out['type'] = [out['type'], 'null'];
  return out;
}

// strict: false because tool authors write JSON Schema for models, not for ajv (unknown keywords, formats
// ajv-formats would need); the schema is documentation first and a guard second.
const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
const MAX_CACHED_SCHEMAS = 500;
const validators = new Map<string, { validate: ValidateFunction } | { error: string }>();

/**
 * Checks tool arguments against the tool's JSON Schema. Returns undefined when they conform, else a message for
 * the model. A schema ajv cannot compile is reported the same way rather than failing the run.
 */
export function checkArguments(schema: JsonObject | undefined, args: unknown): string | undefined {
  if (!schema) return undefined;
  const entry = validatorFor(schema);
  if ('error' in entry) return `the tool's parameter schema is invalid (${entry.error}); the tool cannot be called`;
  if (entry.validate(args)) return undefined;
  const text = ajv.errorsText(entry.validate.errors, { dataVar: 'arguments', separator: '; ' });
  return `arguments do not match the tool's parameter schema: ${text.length > 500 ? `${text.slice(0, 500)}…` : text}`;
}

function validatorFor(schema: JsonObject): { validate: ValidateFunction } | { error: string } {
  const key = JSON.stringify(schema);
  const cached = validators.get(key);
  if (cached) return cached;
  let entry: { validate: ValidateFunction } | { error: string };
  // `$schema`/`$id` make ajv look up meta-schemas or register ids globally; neither matters for a tool's arguments.
  const { $schema: _schema, $id: _id, ...compilable } = schema;
  try {
    entry = { validate: ajv.compile(compilable) };
  } catch (error) {
    entry = { error: error instanceof Error ? error.message : String(error) };
  }
  if (validators.size >= MAX_CACHED_SCHEMAS) {
    const oldest = validators.keys().next().value;
    if (oldest !== undefined) validators.delete(oldest);
    // ajv keeps its own cache keyed by schema object; drop it with ours so neither grows without bound.
    ajv.removeSchema();
  }
  validators.set(key, entry);
  return entry;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
