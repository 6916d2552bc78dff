/** A WASM step: the module bytes the job was created with (by sha256), input on stdin, output from stdout. */
import { MuleError, type WasmPlanStep } from '@mule/core';
import { outcomeOf, type WasmRunner } from '@mule/wasm-runner';
import { metrics, trace } from '@mule/observability';
import type { StepRunner } from './step-runner.js';
import { unstorableOutput } from './storable-output.js';

export function wasmStep(runner: WasmRunner, loadBytes: (sha256: string) => Promise<Uint8Array>): StepRunner<WasmPlanStep> {
  return async ({ step, input, signal }) => {
    try {
      // The step attempt's span (the active one) is this run's span: a wasm_run child would cover the same time,
      // one more span per job to create and export (about a third of a one-step job's tracing cost in a worker).
      trace.getActiveSpan()?.setAttributes({ 'mule.wasm.module': step.name, 'mule.wasm.sha256': step.sha256 });
      const result = await runner.run({ sha256: step.sha256, loadBytes, input, timeoutMs: step.timeout_ms, signal });
      const problem = unstorableOutput(result.output);
      // Not retryable (wasm_bad_output): the same module given the same input writes the same output.
      if (problem) throw new MuleError('wasm_bad_output', `the module output ${problem}, which a step result cannot store`, { details: { logs: result.logs } });
      metrics.wasmExecutions.inc({ outcome: 'ok' });
      return { output: result.output, usage: null, logs: result.logs };
    } catch (error) {
      metrics.wasmExecutions.inc({ outcome: outcomeOf(error) });
      throw error;
    }
  };
}
