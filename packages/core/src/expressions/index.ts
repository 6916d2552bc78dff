export { MAX_COMPREHENSION_DEPTH, MAX_EXPRESSION_LENGTH, EXPRESSION_VARIABLES } from './compile.js';
export type { CompiledExpression, ExpressionVariable, StepReference } from './compile.js';
export { EVALUATION_BUDGET } from './evaluate.js';
export type { ExpressionContext, StepOutcome } from './evaluate.js';
export type { JsonValue } from './to-json.js';
export {
  DEFAULT_TEMPLATE_MAX_BYTES,
  compileCondition,
  evaluateCondition,
  evaluateList,
  evaluateTemplate,
  parseTemplate,
  referencedSteps,
} from './templates.js';
export type { Condition, EvaluateOptions, Template } from './templates.js';
