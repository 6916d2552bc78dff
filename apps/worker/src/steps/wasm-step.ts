/** A WASM step: the module bytes the job was created with (by sha256), input on stdin, output from stdout. */
import { MuleError } from '@mule/core';
import { readModuleBytes, type PrismaClient } from '@mule/db';
import { outcomeOf, type WasmRunner } from '@mule/wasm-runner';
import { metrics } from '../metrics.js';
import type { StepRunner } from './step-runner.js';

export function wasmStep(runner: WasmRunner, prisma: PrismaClient): StepRunner {
  const loadBytes = async (sha256: string) => {
    const bytes = await readModuleBytes(prisma, sha256);
    if (!bytes) throw new MuleError('not_found', `the module bytes ${sha256} this job was created with are gone`);
    return bytes;
  };
  return async ({ step, input, signal }) => {
    try {
      const result = await runner.run({ sha256: step.sha256!, loadBytes, input, timeoutMs: step.timeout_ms, signal });
      metrics.wasmExecutions.inc({ outcome: 'ok' });
      return { output: result.output, usage: null };
    } catch (error) {
      metrics.wasmExecutions.inc({ outcome: outcomeOf(error) });
      throw error;
    }
  };
}
