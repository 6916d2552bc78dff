/**
 * Templates: any JSON value whose strings may hold `${{ expression }}`. A string that is exactly one expression
 * becomes the expression's value (any JSON type); a string with text around expressions stays text, with
 * non-string values written as JSON. Conditions (`if`, `for_each`) are one expression, braces optional.
 */
import { isCelList } from '@bufbuild/cel';
import { MuleError } from '../errors.js';
import { compileExpression, EXPRESSION_VARIABLES, type CompiledExpression, type ExpressionVariable, type StepReference } from './compile.js';
import { Budget, evaluateRaw, type ExpressionContext } from './evaluate.js';
import { scanTemplate } from './template-scan.js';
import { ByteCounter, celToJson, type JsonValue } from './to-json.js';

/** Default bound on one evaluated template's JSON size (a step input is stored as one jsonb value). */
export const DEFAULT_TEMPLATE_MAX_BYTES = 1_048_576;

type TemplateNode =
  | { kind: 'literal'; value: JsonValue }
  | { kind: 'expression'; expression: CompiledExpression }
  | { kind: 'text'; parts: Array<string | CompiledExpression> }
  | { kind: 'array'; items: TemplateNode[] }
  | { kind: 'object'; entries: Array<[string, TemplateNode]> };

export interface Template {
  readonly kind: 'template';
  /** @internal */
  readonly root: TemplateNode;
  /** Every `steps.<id>[.<field>]` read, once each, in order of appearance. */
  readonly references: readonly StepReference[];
  /** The variables the template reads (`item`/`index` only make sense in a for_each step). */
  readonly variables: ReadonlySet<ExpressionVariable>;
}

export interface Condition {
  readonly kind: 'condition';
  readonly expression: CompiledExpression;
  readonly references: readonly StepReference[];
  readonly variables: ReadonlySet<ExpressionVariable>;
}

export interface EvaluateOptions {
  /** Bound on the result's JSON size; over it is `expression_error`. */
  maxBytes?: number;
}

/**
 * Compiles a template; `invalid_request` (naming `param` and the path inside the value) if any piece cannot run.
 * `allowed`: the variables its expressions may read (a workflow's by default; a trigger's are `body`, `headers`).
 */
export function parseTemplate(
  value: unknown,
  param: string | null = null,
  allowed: readonly ExpressionVariable[] = EXPRESSION_VARIABLES,
): Template {
  const references: StepReference[] = [];
  const variables = new Set<ExpressionVariable>();
  const collect = (expression: CompiledExpression): CompiledExpression => {
    for (const reference of expression.references) {
      if (!references.some((r) => r.stepId === reference.stepId && r.field === reference.field)) references.push(reference);
    }
    for (const variable of expression.variables) variables.add(variable);
    return expression;
  };
  const root = compileNode(value, param, collect, 0, allowed);
  return { kind: 'template', root, references, variables };
}

function compileNode(
  value: unknown,
  path: string | null,
  collect: (expression: CompiledExpression) => CompiledExpression,
  depth: number,
  allowed: readonly ExpressionVariable[],
): TemplateNode {
  if (depth > 100) throw new MuleError('invalid_request', `${path ?? 'template'}: nests deeper than 100 levels`, { param: path });
  if (value === null || typeof value === 'boolean') return { kind: 'literal', value };
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new MuleError('invalid_request', `${path ?? 'template'}: not a JSON number`, { param: path });
    return { kind: 'literal', value };
  }
  if (typeof value === 'string') {
    const parts = scanTemplate(value, path);
    if (parts.length === 1 && parts[0]!.kind === 'expression') {
      return { kind: 'expression', expression: collect(compileExpression(parts[0]!.source, path, allowed)) };
    }
    if (!parts.some((part) => part.kind === 'expression')) return { kind: 'literal', value };
    return {
      kind: 'text',
      parts: parts.map((part) => (part.kind === 'text' ? part.text : collect(compileExpression(part.source, path, allowed)))),
    };
  }
  if (Array.isArray(value)) {
    return { kind: 'array', items: value.map((item, i) => compileNode(item, join(path, String(i)), collect, depth + 1, allowed)) };
  }
  if (typeof value === 'object') {
    return {
      kind: 'object',
      entries: Object.entries(value).map(([key, child]) => [key, compileNode(child, join(path, key), collect, depth + 1, allowed)]),
    };
  }
  throw new MuleError('invalid_request', `${path ?? 'template'}: not a JSON value`, { param: path });
}

function join(path: string | null, key: string): string {
  return path ? `${path}.${key}` : key;
}

/**
 * Evaluates a template to plain JSON. Throws `expression_error` when an expression fails at run time (a missing
 * field, a type error, its budget) or the result is over `maxBytes`.
 */
export function evaluateTemplate(template: Template, context: ExpressionContext, options: EvaluateOptions = {}): JsonValue {
  const bytes = new ByteCounter(options.maxBytes ?? DEFAULT_TEMPLATE_MAX_BYTES);
  return evaluateNode(template.root, context, new Budget(), bytes);
}

function evaluateNode(node: TemplateNode, context: ExpressionContext, budget: Budget, bytes: ByteCounter): JsonValue {
  switch (node.kind) {
    case 'literal':
      return celToJson(node.value, bytes);
    case 'expression':
      return toJson(evaluateRaw(node.expression, context, budget), budget, bytes);
    case 'text': {
      let text = '';
      for (const part of node.parts) {
        if (typeof part === 'string') {
          bytes.add(Buffer.byteLength(part));
          text += part;
          continue;
        }
        const value = toJson(evaluateRaw(part, context, budget), budget, new ByteCounter(bytes.maxBytes - bytes.used));
        const piece = typeof value === 'string' ? value : JSON.stringify(value);
        bytes.add(Buffer.byteLength(piece));
        text += piece;
      }
      bytes.add(2);
      return text;
    }
    case 'array': {
      bytes.add(2);
      return node.items.map((item) => {
        bytes.add(1);
        return evaluateNode(item, context, budget, bytes);
      });
    }
    case 'object': {
      bytes.add(2);
      const out: Record<string, JsonValue> = {};
      for (const [key, child] of node.entries) {
        bytes.add(Buffer.byteLength(key) + 4);
        const value = evaluateNode(child, context, budget, bytes);
        Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
  }
}

/** Converting reads through the metering proxies, but is bounded by bytes, not by the evaluation budget. */
function toJson(value: unknown, budget: Budget, bytes: ByteCounter): JsonValue {
  budget.metering = false;
  try {
    return celToJson(value, bytes);
  } finally {
    budget.metering = true;
  }
}

/** Compiles an `if` or `for_each` expression; `${{ … }}` around it is optional. */
export function compileCondition(
  source: string,
  param: string | null = null,
  allowed: readonly ExpressionVariable[] = EXPRESSION_VARIABLES,
): Condition {
  if (typeof source !== 'string') throw new MuleError('invalid_request', `${param ?? 'condition'}: must be a string`, { param });
  const trimmed = source.trim();
  const parts = trimmed.includes('${{') ? scanTemplate(trimmed, param) : [{ kind: 'expression' as const, source: trimmed }];
  if (parts.length !== 1 || parts[0]!.kind !== 'expression') {
    throw new MuleError('invalid_request', `${param ?? 'condition'}: must be one expression, not text around one`, { param });
  }
  const expression = compileExpression(parts[0]!.source, param, allowed);
  return { kind: 'condition', expression, references: expression.references, variables: expression.variables };
}

/** An `if`: must be a bool. */
export function evaluateCondition(condition: Condition, context: ExpressionContext): boolean {
  const value = evaluateRaw(condition.expression, context, new Budget());
  if (typeof value !== 'boolean') {
    throw new MuleError('expression_error', `"${condition.expression.source}" must be a bool, got ${describe(value)}`);
  }
  return value;
}

/** A `for_each`: must be a list; returned as JSON items (bounded by `maxBytes` in all). */
export function evaluateList(condition: Condition, context: ExpressionContext, options: EvaluateOptions = {}): JsonValue[] {
  const budget = new Budget();
  const value = toJson(evaluateRaw(condition.expression, context, budget), budget, new ByteCounter(options.maxBytes ?? DEFAULT_TEMPLATE_MAX_BYTES));
  if (!Array.isArray(value)) {
    throw new MuleError('expression_error', `"${condition.expression.source}" must be a list, got ${describe(value)}`);
  }
  return value;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value) || isCelList(value)) return 'a list';
  if (typeof value === 'bigint') return 'an int';
  if (typeof value === 'number') return 'a double';
  return typeof value === 'object' ? 'a map' : `a ${typeof value}`;
}

/** The step ids a template or condition reads through `steps.<id>`, each once. */
export function referencedSteps(...compiled: ReadonlyArray<Template | Condition | undefined>): string[] {
  const ids = new Set<string>();
  for (const item of compiled) for (const reference of item?.references ?? []) ids.add(reference.stepId);
  return [...ids];
}
