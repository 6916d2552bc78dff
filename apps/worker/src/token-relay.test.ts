/** Which step's tokens a streamed job relays. */
import { describe, expect, test } from '@jest/globals';
import type { JobPlan } from '@mule/core';
import { relayTargetOf } from './token-relay.js';

const agent = (id: string, extra: object = {}) => ({ id, type: 'agent' as const, name: 'helper', timeout_ms: 1000, retries: 0, ...extra });
const wasm = (id: string) => ({ id, type: 'wasm' as const, name: 'm', sha256: 'a'.repeat(64), timeout_ms: 1000, retries: 0 });
const plan = (steps: JobPlan['steps'], output?: unknown): JobPlan => (output === undefined ? { steps } : { steps, output });

describe('relayTargetOf', () => {
  test('without an output template: the last listed step, if it is an agent step', () => {
    expect(relayTargetOf(plan([wasm('w'), agent('a')]))).toEqual({ stepId: 'a', encoding: 'text' });
    expect(relayTargetOf(plan([agent('a'), wasm('w')]))).toBeNull();
  });

  test('an output of exactly one step output reference: that step (.prompt as JSON text)', () => {
    expect(relayTargetOf(plan([agent('a'), wasm('w')], '${{ steps.a.output }}'))).toEqual({ stepId: 'a', encoding: 'text' });
    expect(relayTargetOf(plan([agent('a'), wasm('w')], '${{steps.a.output.prompt}}'))).toEqual({ stepId: 'a', encoding: 'json' });
    expect(relayTargetOf(plan([agent('my-step'), wasm('w')], '${{ steps["my-step"].output }}'))).toEqual({ stepId: 'my-step', encoding: 'text' });
  });

  test('anything else relays nothing: text around it, other fields, objects, WASM or for_each steps', () => {
    expect(relayTargetOf(plan([agent('a')], 'said: ${{ steps.a.output.prompt }}'))).toBeNull();
    expect(relayTargetOf(plan([agent('a')], '${{ steps.a.status }}'))).toBeNull();
    expect(relayTargetOf(plan([agent('a')], { text: '${{ steps.a.output }}' }))).toBeNull();
    expect(relayTargetOf(plan([wasm('w'), agent('a')], '${{ steps.w.output }}'))).toBeNull();
    expect(relayTargetOf(plan([agent('a', { for_each: 'input.items' })]))).toBeNull();
  });
});
