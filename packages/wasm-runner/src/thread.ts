/**
 * Entry point of a sandbox thread: runs one module at a time, each in a fresh instance, and answers with what
 * happened. The thread never enforces its own deadline: while wasm runs, nothing else here can, so the runner
 * terminates the thread instead. It imports nothing from @mule/core to start fast (a thread measured ~37 ms to start).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { GuestFault, OutputLimitReached, ProcExit, WasiHost } from './wasi.js';
import type { ReplyKind, RunMessage, RunReply, ThreadInit, ToThread } from './thread-protocol.js';

const port = parentPort;
if (port === null) throw new Error('thread.js is the entry point of a worker thread');

const host = new WasiHost(workerData as ThreadInit);
const modules = new Map<string, WebAssembly.Module>();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

port.on('message', (message: ToThread) => {
  if (message.type === 'forget') {
    modules.delete(message.sha256);
    return;
  }
  port.postMessage(run(message));
});
port.postMessage({ type: 'ready' });

function run(message: RunMessage): RunReply {
  let module = message.module;
  if (module === undefined) module = modules.get(message.sha256);
  else modules.set(message.sha256, module);
  if (module === undefined) return reply(message.id, 'internal', 0, 'the sandbox thread does not have this module');

  host.begin(message.input, message.timeoutMs);
  const started = performance.now();
  let failure: unknown = null;
  try {
    const instance = new WebAssembly.Instance(module, host.imports);
    const { memory, _start } = instance.exports;
    if (memory instanceof WebAssembly.Memory) host.attach(memory);
    (_start as () => void)();
  } catch (error) {
    failure = error ?? new Error('the module threw null');
  }
  const durationMs = performance.now() - started;
  host.end();
  return outcome(message.id, failure, durationMs);
}

/** The state the WASI layer recorded wins over the exception seen: a module may have caught ours and gone on. */
function outcome(id: number, failure: unknown, durationMs: number): RunReply {
  if (host.outputTooLarge) return reply(id, 'output_too_large', durationMs, '');
  const exitCode = host.exitCode;
  if (exitCode !== null && exitCode !== 0) return { ...reply(id, 'exit', durationMs, ''), exitCode };
  if (exitCode === null && failure !== null) return classify(id, failure, durationMs);
  let stdout: string;
  try {
    stdout = strictUtf8.decode(host.stdout.bytes());
  } catch {
    return reply(id, 'bad_utf8', durationMs, 'stdout is not valid UTF-8');
  }
  return { ...reply(id, 'ok', durationMs, ''), stdout };
}

function classify(id: number, failure: unknown, durationMs: number): RunReply {
  if (failure instanceof WebAssembly.LinkError) return reply(id, 'link', durationMs, failure.message);
  if (failure instanceof WebAssembly.RuntimeError) return reply(id, 'trap', durationMs, failure.message);
  if (failure instanceof GuestFault) return reply(id, 'trap', durationMs, failure.message);
  if (failure instanceof RangeError && /call stack/i.test(failure.message)) {
    return reply(id, 'trap', durationMs, 'stack overflow (the call stack is exhausted)');
  }
  if (failure instanceof WebAssembly.Exception) return reply(id, 'trap', durationMs, 'uncaught WebAssembly exception');
  if (failure instanceof ProcExit || failure instanceof OutputLimitReached) {
    return reply(id, 'internal', durationMs, 'the sandbox lost track of an exit');
  }
  const text = failure instanceof Error ? failure.message : String(failure);
  return reply(id, 'trap', durationMs, text);
}

function reply(id: number, kind: ReplyKind, durationMs: number, detail: string): RunReply {
  return { type: 'result', id, kind, stdout: '', logs: host.stderr.text(), durationMs, exitCode: null, detail };
}
