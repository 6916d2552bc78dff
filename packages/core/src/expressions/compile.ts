/**
 * Compiles one CEL expression with @bufbuild/cel. Chosen over @marcbachmann/cel-js (both tried at their current
 * versions, 0.6.1 and 8.0.0): Buf's evaluator is run against the cel-spec conformance suite, and its `matches()`
 * uses a linear-time RE2 engine, where cel-js uses JavaScript's backtracking RegExp (`"a"*28 + "!"` against
 * `^(a+)+$` took 12.6 s there and 6 ms here); cel-js also has `cel.bind`, which would let an expression reuse a
 * computed value without reading it again, defeating the metering in evaluate.ts. Neither bounds evaluation cost,
 * so this file bounds what the parser can build and evaluate.ts meters what evaluation reads.
 */
import { celEnv, parse, plan, type CelResult } from '@bufbuild/cel';
import { MuleError } from '../errors.js';
import { where } from './template-scan.js';

type Expr = ReturnType<typeof parse>['expr'];

/**
 * Longest expression source. Two nested comprehensions over literal lists is the worst an expression can do
 * without reading data (which is metered): 2,000 characters of it (480 × 480 elements) took 0.9 s, 1,000 ~0.25 s.
 */
export const MAX_EXPRESSION_LENGTH = 1000;
/** A comprehension (map, filter, all, exists, exists_one) may hold one more, not two: three deep is n³ work. */
export const MAX_COMPREHENSION_DEPTH = 2;
/** The parser recurses per nesting level; 1,000 parentheses overflowed its stack, 300 did not. */
const MAX_NESTING = 200;

/** `body` and `headers` are a trigger's (a webhook's request); the rest a workflow's. */
export type ExpressionVariable = 'input' | 'steps' | 'item' | 'index' | 'body' | 'headers';
/** What a workflow's expressions see (the default of compileExpression's `variables`). */
export const EXPRESSION_VARIABLES: readonly ExpressionVariable[] = ['input', 'steps', 'item', 'index'];

/** A field read through `steps.<id>.<field>` (`field` is null for `steps.<id>` used whole). */
export interface StepReference {
  stepId: string;
  field: string | null;
}

export interface CompiledExpression {
  readonly source: string;
  readonly references: readonly StepReference[];
  readonly variables: ReadonlySet<ExpressionVariable>;
  /** @internal Runs the planned expression over already-metered bindings. */
  readonly run: (bindings: Record<string, unknown>) => CelResult;
}

const env = celEnv();
/** Type names are identifiers in CEL (`type(x) == int`). */
const TYPE_IDENTIFIERS = new Set(['int', 'uint', 'double', 'bool', 'string', 'bytes', 'list', 'map', 'null_type', 'type', 'dyn']);

/** Parses and checks one expression; `invalid_request` naming `param` when it cannot run. */
export function compileExpression(
  source: string,
  param: string | null,
  variables: readonly ExpressionVariable[] = EXPRESSION_VARIABLES,
): CompiledExpression {
  if (source.length === 0) throw invalid(param, 'an expression is empty');
  if (source.length > MAX_EXPRESSION_LENGTH) {
    throw invalid(param, `an expression is ${source.length} characters, over the limit of ${MAX_EXPRESSION_LENGTH}`);
  }
  if (nestingDepth(source) > MAX_NESTING) throw invalid(param, `an expression nests deeper than ${MAX_NESTING} levels`);
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(source);
  } catch (error) {
    const message = error instanceof Error ? error.message.replace(/^<input>:/, '') : String(error);
    throw invalid(param, `cannot parse "${source}": ${message}`);
  }
  const walk = new Walk(param, source, variables);
  walk.visit(parsed.expr, new Set(), 0);
  const evaluate = plan(env, parsed);
  return {
    source,
    references: walk.references,
    variables: walk.variables,
    // The bindings are JSON behind metering proxies (evaluate.ts), which CEL reads as lists, maps and scalars.
    run: (bindings) => evaluate(bindings as Parameters<typeof evaluate>[0]),
  };
}

function invalid(param: string | null, message: string): MuleError {
  return new MuleError('invalid_request', `${where(param)}${message}`, { param });
}

/** Bracket depth of the source text, a cheap guard before the recursive parser runs. */
function nestingDepth(source: string): number {
  let depth = 0;
  let max = 0;
  for (const c of source) {
    if (c === '(' || c === '[' || c === '{') max = Math.max(max, ++depth);
    else if (c === ')' || c === ']' || c === '}') depth -= 1;
  }
  return max;
}

/** Collects step references and variables, refuses unknown names and too-deep comprehensions. */
class Walk {
  readonly references: StepReference[] = [];
  readonly variables = new Set<ExpressionVariable>();
  private readonly seen = new Set<string>();

  constructor(
    private readonly param: string | null,
    private readonly source: string,
    private readonly allowed: readonly ExpressionVariable[],
  ) {}

  /** `steps` is special (step references) only where expressions may read steps. */
  private stepsIdent(expr: Expr | undefined, scope: ReadonlySet<string>): boolean {
    return this.allowed.includes('steps') && isIdent(expr, 'steps') && !scope.has('steps');
  }

  visit(expr: Expr | undefined, scope: ReadonlySet<string>, comprehensions: number): void {
    if (!expr) return;
    const kind = expr.exprKind;
    switch (kind.case) {
      case 'identExpr':
        return this.ident(kind.value.name, scope);
      case 'selectExpr': {
        const operand = kind.value.operand;
        if (this.stepsIdent(operand, scope)) {
          return this.reference(kind.value.field, null);
        }
        const inner = operand?.exprKind.case === 'selectExpr' ? operand.exprKind.value : undefined;
        if (inner && this.stepsIdent(inner.operand, scope)) {
          return this.reference(inner.field, kind.value.field);
        }
        return this.visit(operand, scope, comprehensions);
      }
      case 'callExpr': {
        const [first, second] = kind.value.args;
        if (kind.value.function === '_[_]' && this.stepsIdent(first, scope)) {
          const key = second?.exprKind.case === 'constExpr' ? second.exprKind.value.constantKind : undefined;
          if (key?.case !== 'stringValue') throw this.fail('steps must be indexed by a step id written out: steps.<id> or steps["<id>"]');
          return this.reference(key.value, null);
        }
        this.visit(kind.value.target, scope, comprehensions);
        for (const arg of kind.value.args) this.visit(arg, scope, comprehensions);
        return;
      }
      case 'listExpr':
        for (const element of kind.value.elements) this.visit(element, scope, comprehensions);
        return;
      case 'structExpr':
        if (kind.value.messageName !== '') throw this.fail(`message "${kind.value.messageName}" is not available`);
        for (const entry of kind.value.entries) {
          if (entry.keyKind.case === 'mapKey') this.visit(entry.keyKind.value, scope, comprehensions);
          this.visit(entry.value, scope, comprehensions);
        }
        return;
      case 'comprehensionExpr': {
        const c = kind.value;
        if (comprehensions + 1 > MAX_COMPREHENSION_DEPTH) {
          throw this.fail(`comprehensions (map, filter, all, exists) nest at most ${MAX_COMPREHENSION_DEPTH} deep`);
        }
        this.visit(c.iterRange, scope, comprehensions);
        this.visit(c.accuInit, scope, comprehensions);
        const inner = new Set([...scope, c.iterVar, c.accuVar, ...(c.iterVar2 ? [c.iterVar2] : [])]);
        this.visit(c.loopCondition, inner, comprehensions + 1);
        this.visit(c.loopStep, inner, comprehensions + 1);
        this.visit(c.result, new Set([...scope, c.accuVar]), comprehensions);
        return;
      }
      case 'constExpr':
      case undefined:
        return;
      default:
        throw this.fail('unsupported expression');
    }
  }

  private ident(name: string, scope: ReadonlySet<string>): void {
    if (scope.has(name) || TYPE_IDENTIFIERS.has(name)) return;
    if (name === 'steps' && this.allowed.includes('steps')) {
      throw this.fail('steps must be followed by a step id: steps.<id>.output or steps.<id>.status');
    }
    if ((this.allowed as readonly string[]).includes(name)) {
      this.variables.add(name as ExpressionVariable);
      return;
    }
    const seen = this.allowed.length > 0 ? this.allowed.join(', ') : 'no variables';
    throw this.fail(`unknown name "${name}" (expressions here see ${seen})`);
  }

  private reference(stepId: string, field: string | null): void {
    this.variables.add('steps');
    if (field !== null && field !== 'output' && field !== 'status') {
      throw this.fail(`steps.${stepId}.${field}: a step has only "output" and "status"`);
    }
    const key = `${stepId}\u0000${field ?? ''}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.references.push({ stepId, field });
  }

  private fail(message: string): MuleError {
    return invalid(this.param, `in "${this.source}": ${message}`);
  }
}

function isIdent(expr: Expr | undefined, name: string): boolean {
  return expr?.exprKind.case === 'identExpr' && expr.exprKind.value.name === name;
}
