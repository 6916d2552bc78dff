/**
 * @mule/wasm-runner: the sandbox for untrusted WASI preview1 modules. Bytes + input + limits -> JSON output or a
 * typed MuleError (wasm_rejected, wasm_timeout, wasm_trap, wasm_exit, wasm_bad_output, wasm_output_too_large,
 * cancelled). The module contract is in docs/wasm-modules.md.
 */
export { WasmRunner, type WasmRunnerOptions, type WasmRunRequest } from './runner.js';
export { admitModule, sha256Hex } from './admission.js';
export { outcomeOf, type WasmOutcome, type WasmRunResult } from './outcome.js';
export { DEFAULT_LIMITS, MAX_TABLE_ELEMENTS, type WasmLimits } from './limits.js';
