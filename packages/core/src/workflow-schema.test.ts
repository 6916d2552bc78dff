import { describe, expect, test } from '@jest/globals';
import { parseDefinition, type WorkflowDefinition } from './definitions.js';
import { MuleError } from './errors.js';
import { buildJobGraph } from './lifecycle/build-graph.js';
import { buildPlan, jobPlanSchema, planGraphSpec } from './plan.js';

const SHA = new Map([
  ['m', 'a'.repeat(64)],
  ['n', 'b'.repeat(64)],
]);

function refusal(steps: unknown[], extra: Record<string, unknown> = {}): { param: string | null; message: string } {
  try {
    parseDefinition('workflow', { name: 'w', steps, ...extra });
  } catch (error) {
    if (error instanceof MuleError && error.code === 'invalid_request') return { param: error.param, message: error.message };
    throw error;
  }
  throw new Error('expected the definition to be refused');
}

describe('a workflow definition is refused at write time, naming the step and field', () => {
  test.each<[string, unknown[], Record<string, unknown>, string, RegExp]>([
    ['an unknown need', [{ id: 'a', wasm: 'm' }, { id: 'b', wasm: 'm', needs: ['nope'] }], {}, 'steps.1.needs', /"nope", which is not a step/],
    ['a need listed twice', [{ id: 'a', wasm: 'm' }, { id: 'b', wasm: 'm', needs: ['a', 'a'] }], {}, 'steps.1.needs.1', /twice/],
    ['a cycle', [{ id: 'a', wasm: 'm', needs: ['b'] }, { id: 'b', wasm: 'm', needs: ['a'] }], {}, 'steps.0.needs', /cycle/],
    ['an if that does not parse', [{ id: 'a', wasm: 'm' }, { id: 'b', wasm: 'm', if: '1 +' }], {}, 'steps.1.if', /cannot parse/],
    ['a for_each that does not parse', [{ id: 'a', wasm: 'm', for_each: '[1,' }], {}, 'steps.0.for_each', /cannot parse/],
    ['an input reading a step that is not an ancestor', [{ id: 'a', wasm: 'm' }, { id: 'b', wasm: 'm', needs: [], input: '${{ steps.a.output }}' }], {}, 'steps.1.input', /does not need/],
    ['an output reading no step', [{ id: 'a', wasm: 'm' }], { output: '${{ steps.zz.output }}' }, 'output', /not a step/],
    ['item outside a for_each', [{ id: 'a', wasm: 'm', input: '${{ item }}' }], {}, 'steps.0.input', /for_each/],
    ['max_items over 1000', [{ id: 'a', wasm: 'm', for_each: '[1]', max_items: 1001 }], {}, 'steps.0.max_items', /1000/],
    ['max_items without for_each', [{ id: 'a', wasm: 'm', max_items: 5 }], {}, 'steps.0.max_items', /only to a step with for_each/],
    ['a wait without a timeout', [{ id: 'a', wait: {} }], {}, 'steps.0.wait.timeout', /needs a timeout/],
    ['a wait with a bad timeout', [{ id: 'a', wait: { timeout: '10 minutes' } }], {}, 'steps.0.wait.timeout', /not a duration/],
    ['a wait over 7 days', [{ id: 'a', wait: { timeout: '169h' } }], {}, 'steps.0.wait.timeout', /7d/],
    ['a wait with for_each', [{ id: 'a', wait: { timeout: '1h' }, for_each: '[1]' }], {}, 'steps.0.for_each', /cannot have for_each/],
    ['a wait with retries', [{ id: 'a', wait: { timeout: '1h' }, retries: 1 }], {}, 'steps.0.retries', /never retried/],
    ['a wait schema ajv cannot compile', [{ id: 'a', wait: { timeout: '1h', schema: { type: 'strnig' } } }], {}, 'steps.0.wait.schema', /not a valid JSON Schema/],
    ['an input_schema ajv cannot compile', [{ id: 'a', wasm: 'm' }], { input_schema: { type: 'object', required: 'prompt' } }, 'input_schema', /not a valid JSON Schema/],
    ['a step with agent and wait', [{ id: 'a', agent: 'x', wait: { timeout: '1h' } }], {}, 'steps.0.agent', /exactly one of agent, wasm or wait/],
    ['an unknown on_error', [{ id: 'a', wasm: 'm', on_error: 'ignore' }], {}, 'steps.0.on_error', /./],
  ])('%s', (_name, steps, extra, param, message) => {
    const refused = refusal(steps, extra);
    expect(refused.param).toBe(param);
    expect(refused.message).toMatch(message);
  });

  test('201 steps are refused, 200 (a graph where each step needs the two before) are accepted', () => {
    const steps = Array.from({ length: 200 }, (_, i) => ({
      id: `s${i}`,
      wasm: 'm',
      ...(i > 1 ? { needs: [`s${i - 1}`, `s${i - 2}`], input: '${{ steps.s0.output }}' } : {}),
    }));
    expect(parseDefinition('workflow', { name: 'w', steps }).steps).toHaveLength(200);
    expect(refusal([...steps, { id: 'one-more', wasm: 'm' }]).param).toBe('steps');
  });
});

describe('the plan', () => {
  const graph: WorkflowDefinition = parseDefinition('workflow', {
    name: 'g',
    steps: [
      { id: 'split', wasm: 'm' },
      { id: 'each', wasm: 'n', for_each: 'steps.split.output.words', max_items: 50, concurrency: 2, input: { w: '${{ item }}', i: '${{ index }}' } },
      { id: 'long', needs: ['split'], wasm: 'n', if: '${{ size(steps.split.output.words) > 3 }}', retries: 2, on_error: 'continue' },
      { id: 'approve', needs: ['each', 'long'], wait: { timeout: '2h', schema: { type: 'object' } } },
    ],
    output: { words: '${{ steps.each.output }}', long: '${{ steps.long.status }}' },
  });

  test('a plain list plans to exactly the shape plans had before graphs', () => {
    const plain = parseDefinition('workflow', { name: 'p', steps: [{ id: 'a', wasm: 'm' }, { id: 'b', agent: 'x', retries: 1 }] });
    expect(buildPlan(plain, SHA)).toEqual({
      steps: [
        { id: 'a', type: 'wasm', name: 'm', sha256: 'a'.repeat(64), timeout_ms: 10_000, retries: 0 },
        { id: 'b', type: 'agent', name: 'x', timeout_ms: 30_000, retries: 1 },
      ],
    });
  });

  test('graph fields are copied as written; a wait carries its timeout in ms and its schema', () => {
    const plan = buildPlan(graph, SHA);
    expect(plan.steps[1]).toMatchObject({ for_each: 'steps.split.output.words', max_items: 50, concurrency: 2, input: { w: '${{ item }}', i: '${{ index }}' } });
    expect(plan.steps[2]).toMatchObject({ needs: ['split'], if: '${{ size(steps.split.output.words) > 3 }}', retries: 2, on_error: 'continue' });
    expect(plan.steps[3]).toEqual({ id: 'approve', type: 'wait', needs: ['each', 'long'], timeout_ms: 7_200_000, retries: 0, schema: { type: 'object' } });
    expect(plan.output).toEqual(graph.output);
    expect(jobPlanSchema.parse(JSON.parse(JSON.stringify(plan)))).toEqual(plan);
  });

  test('planGraphSpec builds the graph the definition was checked with', () => {
    const built = buildJobGraph(planGraphSpec(buildPlan(graph, SHA), 3));
    expect(built.maxParallel).toBe(3);
    expect(built.steps.map((s) => [s.id, s.kind, s.needs, s.timeoutMs])).toEqual([
      ['split', 'wasm', [], 10_000],
      ['each', 'wasm', ['split'], 10_000],
      ['long', 'wasm', ['split'], 10_000],
      ['approve', 'wait', ['each', 'long'], 7_200_000],
    ]);
    expect(built.steps[1]!.forEach).toMatchObject({ maxItems: 50, concurrency: 2 });
    expect(built.steps[2]).toMatchObject({ retries: 2, onError: 'continue' });
    expect(built.output).toBeDefined();
  });

  test('a plan stored before graphs parses unchanged and is a straight line', () => {
    const old = { steps: [{ id: 'a', type: 'wasm', name: 'm', sha256: 'a'.repeat(64), timeout_ms: 5000, retries: 1 }, { id: 'b', type: 'agent', name: 'x', timeout_ms: 30_000, retries: 0 }] };
    const plan = jobPlanSchema.parse(old);
    expect(plan).toEqual(old);
    expect(buildJobGraph(planGraphSpec(plan)).steps.map((s) => s.needs)).toEqual([[], ['a']]);
  });
});
