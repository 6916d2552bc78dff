/**
 * Messages between the runner (main thread) and a sandbox thread. Flat objects of primitives: structured clone
 * of these costs ~13 us a round trip, while a `WebAssembly.Module` adds ~75 us, so a module is sent to a thread
 * once and then named by its sha256.
 */

/** `workerData` of a sandbox thread. */
export interface ThreadInit {
  maxOutputBytes: number;
  maxLogBytes: number;
}

export interface RunMessage {
  type: 'run';
  id: number;
  sha256: string;
  /** Present the first time this thread runs this module. */
  module?: WebAssembly.Module;
  /** The input as JSON text: it becomes stdin. */
  input: string;
  /** Bounds poll_oneoff sleeps; the runner enforces the deadline itself by terminating the thread. */
  timeoutMs: number;
}

/** The runner evicted a module from its cache: drop it here too. */
export interface ForgetMessage {
  type: 'forget';
  sha256: string;
}

export type ToThread = RunMessage | ForgetMessage;

export type ReplyKind = 'ok' | 'trap' | 'exit' | 'output_too_large' | 'bad_utf8' | 'link' | 'internal';

export interface RunReply {
  type: 'result';
  id: number;
  kind: ReplyKind;
  /** stdout as text when kind is 'ok', otherwise ''. */
  stdout: string;
  /** The kept tail of stderr. */
  logs: string;
  /** Instantiation (start function included) plus `_start`, measured in the thread. */
  durationMs: number;
  exitCode: number | null;
  /** What went wrong, for kinds other than 'ok' and 'exit'. */
  detail: string;
}

export interface ReadyMessage {
  type: 'ready';
}

export type FromThread = RunReply | ReadyMessage;
