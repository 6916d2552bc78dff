/** Tool parameter schemas: Gemini dialect to JSON Schema, and argument checks with ajv. */
import { describe, expect, test } from '@jest/globals';
import { parseRetryAfter } from './provider-errors.js';
import { checkArguments, geminiSchemaToJsonSchema } from './tool-schema.js';

describe('geminiSchemaToJsonSchema', () => {
  test('lower-cases types, turns nullable into a null type and numeric strings into numbers', () => {
    expect(
      geminiSchemaToJsonSchema({
        type: 'OBJECT',
        propertyOrdering: ['tags'],
        properties: {
          tags: { type: 'ARRAY', minItems: '1', items: { type: 'STRING', maxLength: '20', enum: ['a', 'b'] } },
          note: { type: 'STRING', nullable: true, description: 'optional' },
          any: { anyOf: [{ type: 'NUMBER', minimum: 0 }, { type: 'BOOLEAN' }] },
        },
        required: ['tags'],
      }),
    ).toEqual({
      type: 'object',
      properties: {
        tags: { type: 'array', minItems: 1, items: { type: 'string', maxLength: 20, enum: ['a', 'b'] } },
        note: { type: ['string', 'null'], description: 'optional' },
        any: { anyOf: [{ type: 'number', minimum: 0 }, { type: 'boolean' }] },
      },
      required: ['tags'],
    });
  });
});

describe('checkArguments', () => {
  const schema = { type: 'object', properties: { text: { type: 'string' }, times: { type: 'integer', minimum: 1 } }, required: ['text'] };

  test('accepts conforming arguments and explains the others', () => {
    expect(checkArguments(schema, { text: 'a', times: 2 })).toBeUndefined();
    expect(checkArguments(schema, { times: 0 })).toBe(
      "arguments do not match the tool's parameter schema: arguments must have required property 'text'; arguments/times must be >= 1",
    );
    expect(checkArguments(undefined, 'anything')).toBeUndefined();
  });

  test('ignores $schema and $id, and unknown formats or keywords', () => {
    const modern = { $schema: 'https://json-schema.org/draft/2020-12/schema', $id: 'urn:x', type: 'object', properties: { at: { type: 'string', format: 'iso-ish', 'x-ui': 1 } } };
    expect(checkArguments(modern, { at: 'now' })).toBeUndefined();
    expect(checkArguments({ ...modern }, { at: 1 })).toContain('arguments/at must be string');
  });

  test('a schema ajv cannot compile is reported to the model instead of failing the run', () => {
    expect(checkArguments({ type: 'object', properties: { a: { type: 'no-such-type' } } }, {})).toContain("the tool's parameter schema is invalid");
  });
});

describe('parseRetryAfter', () => {
  test('reads delta-seconds and HTTP dates', () => {
    expect(parseRetryAfter('17')).toBe(17);
    expect(parseRetryAfter('1.5')).toBe(2);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))).toBe(30);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});
