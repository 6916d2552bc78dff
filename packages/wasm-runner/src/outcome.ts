/**
 * What a run ended with, in the words an end user reads: the thread's reply becomes a result or a MuleError
 * (these messages are returned in HTTP answers), and any error becomes a metrics outcome.
 */
import { isMuleError, MuleError } from '@mule/core';
import { formatBytes, type WasmLimits } from './limits.js';
import type { RunReply } from './thread-protocol.js';

export interface WasmRunResult {
  output: unknown;
  durationMs: number;
  /** stderr, capped: its last maxLogBytes. */
  logs: string;
}

export type WasmOutcome =
  | 'ok'
  | 'wasm_timeout'
  | 'wasm_trap'
  | 'wasm_exit'
  | 'wasm_bad_output'
  | 'wasm_output_too_large'
  | 'wasm_rejected'
  | 'cancelled'
  | 'internal_error';

/** How much of stderr an exit or trap message quotes; the full kept tail is in `details.logs`. */
const STDERR_IN_MESSAGE_CHARS = 1000;
const ONE_JSON_VALUE = 'it must write one JSON value.';
/** How much of a bad stdout a message quotes. */
const STDOUT_IN_MESSAGE_CHARS = 80;

export function toResult(reply: RunReply, limits: WasmLimits): WasmRunResult {
  const { logs, durationMs } = reply;
  const fail = (code: ConstructorParameters<typeof MuleError>[0], message: string): never => {
    throw new MuleError(code, message, { details: { logs, durationMs, exitCode: reply.exitCode } });
  };
  switch (reply.kind) {
    case 'ok':
      return { output: parseOutput(reply.stdout, fail), durationMs, logs };
    case 'exit': {
      const tail = stderrTail(logs);
      const said = tail === '' ? 'it wrote nothing to stderr.' : `the end of its stderr: ${tail}`;
      return fail('wasm_exit', `The module exited with code ${String(reply.exitCode)}; ${said}`);
    }
    case 'output_too_large':
      return fail(
        'wasm_output_too_large',
        `The module wrote more than ${formatBytes(limits.maxOutputBytes)} to stdout, the output limit, ` +
          'and was stopped.',
      );
    case 'bad_utf8':
      return fail('wasm_bad_output', `The module wrote bytes to stdout that are not UTF-8 text; ${ONE_JSON_VALUE}`);
    case 'trap': {
      // A Rust panic or a failed C assert says why on stderr just before its trap, which by itself reads only
      // "unreachable".
      const tail = stderrTail(logs);
      const said = tail === '' ? '.' : `; the end of its stderr: ${tail}`;
      return fail('wasm_trap', `The module crashed with a WebAssembly trap: ${reply.detail}${said}`);
    }
    case 'link':
      return fail('wasm_rejected', `The module was refused: it could not be linked to the sandbox (${reply.detail}).`);
    case 'internal':
      return fail('internal_error', `The WASM sandbox failed: ${reply.detail}.`);
  }
}

function stderrTail(logs: string): string {
  return logs.trimEnd().slice(-STDERR_IN_MESSAGE_CHARS);
}

function parseOutput(stdout: string, fail: (code: 'wasm_bad_output', message: string) => never): unknown {
  if (stdout.trim() === '') return fail('wasm_bad_output', `The module wrote nothing to stdout; ${ONE_JSON_VALUE}`);
  try {
    return JSON.parse(stdout);
  } catch (error) {
    // V8's reason quotes the raw text, line breaks included; the quoted start below shows it escaped instead.
    const reason = (error instanceof Error ? error.message : String(error)).replace(/, ".*$/s, '');
    const start = JSON.stringify(stdout.slice(0, STDOUT_IN_MESSAGE_CHARS));
    return fail('wasm_bad_output', `The module's stdout is not one JSON value (${reason}); it begins with ${start}.`);
  }
}

/** The outcome label of a run for metrics: null (or undefined) is success. */
export function outcomeOf(error: unknown): WasmOutcome {
  if (error === null || error === undefined) return 'ok';
  if (!isMuleError(error)) return 'internal_error';
  switch (error.code) {
    case 'wasm_timeout':
    case 'wasm_trap':
    case 'wasm_exit':
    case 'wasm_bad_output':
    case 'wasm_output_too_large':
    case 'wasm_rejected':
    case 'cancelled':
      return error.code;
    case 'payload_too_large':
      return 'wasm_rejected';
    default:
      return 'internal_error';
  }
}
