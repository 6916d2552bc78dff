import { describe, expect, test } from '@jest/globals';
import { MuleError } from '../errors.js';
import {
  compileCondition,
  evaluateCondition,
  evaluateList,
  evaluateTemplate,
  MAX_EXPRESSION_LENGTH,
  parseTemplate,
  referencedSteps,
  type ExpressionContext,
} from './index.js';

const context: ExpressionContext = {
  input: { prompt: 'hello x', count: 3, price: 2.5, tags: ['a', 'b'], nested: { deep: { value: true } }, big: 2 ** 60 },
  steps: {
    a: { output: [1, 2, 3], status: 'completed' },
    b: { output: null, status: 'skipped' },
    c: { output: { text: 'hi', score: 0.75 }, status: 'completed' },
    d: { output: null, status: 'failed' },
  },
};

function run(template: unknown, extra: Partial<ExpressionContext> = {}, maxBytes?: number): unknown {
  return evaluateTemplate(parseTemplate(template), { ...context, ...extra }, maxBytes === undefined ? {} : { maxBytes });
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof MuleError) return error.code;
    throw error;
  }
  throw new Error('expected a MuleError');
}

describe('evaluateTemplate: a string that is exactly one expression takes the expression value', () => {
  test.each<[string, unknown]>([
    ['${{ input.prompt.contains("x") }}', true],
    ['${{input.prompt.contains("z")}}', false],
    ['${{ size(steps.a.output) > 2 }}', true],
    ['${{ steps.a.output }}', [1, 2, 3]],
    ['${{ input.count + 1 }}', 4],
    ['${{ input.price * 2.0 }}', 5],
    ['${{ double(input.count) / 2.0 }}', 1.5],
    ['${{ [1, "a", true, null] }}', [1, 'a', true, null]],
    ['${{ {"k": [input.count], "n": {"m": 1}} }}', { k: [3], n: { m: 1 } }],
    ['${{ {1: "one", true: "yes"} }}', { '1': 'one', true: 'yes' }],
    ['${{ steps.c.output }}', { text: 'hi', score: 0.75 }],
    ['${{ steps.c.output.text + "!" }}', 'hi!'],
    ['${{ steps["c"].output.score >= 0.5 }}', true],
    ['${{ steps.b.status }}', 'skipped'],
    ['${{ steps.b.output == null }}', true],
    ['${{ has(input.missing) }}', false],
    ['${{ has(input.nested.deep.value) && input.nested.deep.value }}', true],
    ['${{ steps.a.output.map(x, x * 2) }}', [2, 4, 6]],
    ['${{ steps.a.output.filter(x, x > 1) }}', [2, 3]],
    ['${{ steps.a.output.exists(x, x == 2) }}', true],
    ['${{ steps.a.output.map(x, steps.a.output.map(y, x * y)) }}', [[1, 2, 3], [2, 4, 6], [3, 6, 9]]],
    ['${{ "b" in input.tags }}', true],
    ['${{ input.prompt.matches("^h.*x$") }}', true],
    ['${{ input.prompt.startsWith("he") ? "yes" : "no" }}', 'yes'],
    ['${{ string(input.count) }}', '3'],
    ['${{ type(input.count) == int }}', true],
    ['${{ type(input.price) }}', 'double'],
    ['${{ b"hi" }}', 'aGk='],
    ['${{ 5u }}', 5],
    ['${{ timestamp("2024-01-02T03:04:05Z") }}', '2024-01-02T03:04:05.000Z'],
    ['${{ duration("90s") }}', '90s'],
    ['${{ input }}', { prompt: 'hello x', count: 3, price: 2.5, tags: ['a', 'b'], nested: { deep: { value: true } }, big: 2 ** 60 }],
  ])('%s', (template, expected) => {
    expect(run(template)).toEqual(expected);
  });

  test('item and index are visible inside for_each', () => {
    expect(run('${{ [item.name, index + 1] }}', { item: { name: 'n' }, index: 4 })).toEqual(['n', 5]);
  });

  test('a JSON number past 2^53 passes through as the same number', () => {
    expect(run('${{ input.big }}')).toBe(2 ** 60);
  });

  test('the job input may be any JSON value, a bare string included', () => {
    expect(run('${{ input.size() }}', { input: 'four' })).toBe(4);
    expect(run('${{ input[1] }}', { input: [10, 20] })).toBe(20);
  });
});

describe('evaluateTemplate: text around expressions is text, non-strings written as JSON', () => {
  test.each<[string, unknown]>([
    ['n=${{ input.count }}', 'n=3'],
    ['${{ input.prompt }} and ${{ steps.a.output }}', 'hello x and [1,2,3]'],
    ['obj ${{ steps.c.output }}', 'obj {"text":"hi","score":0.75}'],
    ['nothing ${{ steps.b.output }}', 'nothing null'],
    ['${{ {"a": {"b": 1}} }} tail', '{"a":{"b":1}} tail'],
    ['quote ${{ "}}" + "x" }}', 'quote }}x'],
    ["raw ${{ r'\\d}}' }}", 'raw \\d}}'],
    ['no expressions at all', 'no expressions at all'],
    ['a lone $ or {{ is text', 'a lone $ or {{ is text'],
  ])('%s', (template, expected) => {
    expect(run(template)).toEqual(expected);
  });

  test('objects and arrays are templates all the way down; keys are literal', () => {
    expect(run({ q: '${{ input.prompt }}', list: ['${{ input.count }}', 'x=${{ input.count }}', 7, false, null], '${{k}}': 1 })).toEqual({
      q: 'hello x',
      list: [3, 'x=3', 7, false, null],
      '${{k}}': 1,
    });
  });

  test('a key named __proto__ stays a plain key', () => {
    const result = run(JSON.parse('{"__proto__": "${{ input.count }}"}')) as Record<string, unknown>;
    expect(Object.getPrototypeOf(result)).toBe(Object.prototype);
    expect(Object.keys(result)).toEqual(['__proto__']);
  });
});

describe('parseTemplate refuses, at definition time, what could never run (invalid_request)', () => {
  test.each([
    ['${{ 1 + }}'],
    ['${{ input.count'],
    ['text ${{ input.a }} then ${{ unclosed'],
    ['${{ }}'],
    ['${{ foo.bar }}'],
    ['${{ steps }}'],
    ['${{ steps[input.which].output }}'],
    ['${{ steps.a.attempts }}'],
    ['${{ google.protobuf.Timestamp{seconds: 1} }}'],
    ['${{ [1].map(x, [2].map(y, [3].map(z, x + y + z))) }}'],
    [`\${{ ${'('.repeat(300)}1${')'.repeat(300)} }}`],
    [`\${{ "${'x'.repeat(MAX_EXPRESSION_LENGTH)}" }}`],
  ])('%s', (template) => {
    expect(codeOf(() => parseTemplate(template, 'steps.0.input'))).toBe('invalid_request');
  });

  test('the error names the field and the path inside the value', () => {
    expect(() => parseTemplate({ a: ['ok', '${{ 1 + }}'] }, 'steps.2.input')).toThrow(/^steps\.2\.input\.a\.1: /);
  });

  test('a non-JSON value is refused', () => {
    expect(codeOf(() => parseTemplate({ a: Number.NaN }))).toBe('invalid_request');
    expect(codeOf(() => parseTemplate({ a: () => 1 }))).toBe('invalid_request');
  });
});

describe('evaluateTemplate fails at run time with expression_error', () => {
  test.each([
    ['${{ input.missing }}'],
    ['${{ steps.zz.output }}'],
    ['${{ input.count + 1.5 }}'],
    ['${{ "a" + 1 }}'],
    ['${{ 1 / 0 }}'],
    ['${{ 9223372036854775807 + 1 }}'],
    ['${{ int(input.big) }}'],
    ['${{ input.count * 100000000000000000 }}'],
    ['${{ 1.0 / 0.0 }}'],
    ['${{ steps.c.output.text.nope }}'],
    ['${{ input.tags[5] }}'],
    ['value ${{ input.missing }}'],
  ])('%s', (template) => {
    expect(codeOf(() => run(template))).toBe('expression_error');
  });

  test('an expression that reads too much is stopped by its budget', () => {
    const list = Array.from({ length: 1000 }, (_, i) => i);
    const big: ExpressionContext = { input: { list }, steps: {} };
    const template = parseTemplate('${{ input.list.filter(x, x in input.list).size() }}');
    expect(() => evaluateTemplate(template, big)).toThrow(/read more than/);
  });

  test('a budget trip swallowed by || still fails the expression', () => {
    const list = Array.from({ length: 1000 }, (_, i) => i);
    // CEL's `error || true` is true: the trip inside the left side would otherwise be forgotten.
    const template = parseTemplate('${{ input.list.all(x, x in input.list) || true }}');
    expect(codeOf(() => evaluateTemplate(template, { input: { list }, steps: {} }))).toBe('expression_error');
  });

  test('long strings are charged by length', () => {
    const text = 'a'.repeat(100_000);
    const template = parseTemplate('${{ input.list.map(x, input.text.contains("b")) }}');
    const list = Array.from({ length: 200 }, (_, i) => i);
    expect(() => evaluateTemplate(template, { input: { text, list }, steps: {} })).toThrow(/read more than/);
  });
});

describe('maxBytes bounds the result (expression_error, with the limit in details)', () => {
  test('a value at the limit passes and one byte over fails', () => {
    // "abcd" is 6 bytes of JSON.
    expect(run('${{ "abcd" }}', {}, 6)).toBe('abcd');
    expect(codeOf(() => run('${{ "abcde" }}', {}, 6))).toBe('expression_error');
  });

  test('the bound covers text, literals and every expression of the template together', () => {
    expect(codeOf(() => run({ a: '${{ steps.a.output }}', b: 'x'.repeat(100) }, {}, 100))).toBe('expression_error');
    expect(codeOf(() => run('${{ input.prompt }}'.repeat(20), {}, 100))).toBe('expression_error');
    try {
      run('${{ steps.c.output }}', {}, 10);
    } catch (error) {
      expect((error as MuleError).details).toEqual({ maxBytes: 10 });
    }
  });

  test('a huge generated result stops at the bound', () => {
    const list = Array.from({ length: 300 }, (_, i) => i);
    expect(codeOf(() => run('${{ input.l.map(x, input.l) }}', { input: { l: list } }, 10_000))).toBe('expression_error');
  });
});

describe('conditions (if, for_each): one expression, braces optional', () => {
  test.each([
    ['input.count > 2', true],
    ['${{ input.count > 2 }}', true],
    ['  ${{ steps.b.status == "skipped" }}  ', true],
    ['steps.d.status == "failed" && steps.a.status == "completed"', true],
    ['size(input.tags) == 0', false],
  ])('%s', (source, expected) => {
    expect(evaluateCondition(compileCondition(source), context)).toBe(expected);
  });

  test('an if that is not a bool is expression_error', () => {
    expect(codeOf(() => evaluateCondition(compileCondition('input.count'), context))).toBe('expression_error');
    expect(codeOf(() => evaluateCondition(compileCondition('input.tags'), context))).toBe('expression_error');
  });

  test('text around the braces is refused', () => {
    expect(codeOf(() => compileCondition('x ${{ true }}'))).toBe('invalid_request');
    expect(codeOf(() => compileCondition('${{ true }} ${{ false }}'))).toBe('invalid_request');
  });

  test('a for_each list comes back as JSON items', () => {
    expect(evaluateList(compileCondition('steps.a.output.map(x, {"n": x})'), context)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(evaluateList(compileCondition('[]'), context)).toEqual([]);
    expect(codeOf(() => evaluateList(compileCondition('input.prompt'), context))).toBe('expression_error');
  });
});

describe('references', () => {
  test('every steps.<id> read is reported once, with its field', () => {
    const template = parseTemplate({
      a: '${{ steps.one.output + steps.one.output }}',
      b: 'x ${{ steps["two"].status }} ${{ has(steps.three.output) }}',
      c: '${{ steps.four }}',
    });
    expect(template.references).toEqual([
      { stepId: 'one', field: 'output' },
      { stepId: 'two', field: null },
      { stepId: 'three', field: 'output' },
      { stepId: 'four', field: null },
    ]);
    expect([...template.variables]).toEqual(['steps']);
  });

  test('referencedSteps joins templates and conditions', () => {
    const condition = compileCondition('steps.x.status == "completed" && input.go');
    const template = parseTemplate('${{ [item, steps.y.output, steps.x.output] }}');
    expect(referencedSteps(condition, template, undefined)).toEqual(['x', 'y']);
    expect([...condition.variables].sort()).toEqual(['input', 'steps']);
    expect([...template.variables].sort()).toEqual(['item', 'steps']);
  });

  test('a comprehension variable named like a step field is not a reference', () => {
    const template = parseTemplate('${{ input.tags.map(steps, steps) }}');
    expect(template.references).toEqual([]);
    expect(run('${{ input.tags.map(steps, steps + "!") }}')).toEqual(['a!', 'b!']);
  });
});
