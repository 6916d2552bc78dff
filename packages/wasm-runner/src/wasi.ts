/**
 * The in-memory WASI preview1 layer of a sandbox thread. stdin is the input, stdout and stderr are captured, and
 * there is nothing else: no preopened folders, no environment, no arguments, no sockets. It is written here rather
 * than taken from `node:wasi`, which is documented as not a security boundary and needs real file descriptors
 * (Node's own documentation of `node:wasi` says both). One host serves every run of its thread: the import object is built once, and `begin` resets it.
 */
import { randomFillSync } from 'node:crypto';
import { CappedBuffer, TailBuffer } from './output-buffers.js';
import { poll } from './wasi-poll.js';
import { CLOCK_RESOLUTION_NS, clockNow } from './wasi-clock.js';
import { Errno, WASI_FUNCTIONS } from './wasi-abi.js';

/** Thrown by proc_exit to unwind the module; plain objects, since a stack trace would be wasted work. */
export class ProcExit {
  constructor(readonly code: number) {}
}

/** Thrown by fd_write when stdout would pass its cap: the run stops there. */
export class OutputLimitReached {}

/** A WASI call that the module cannot make: a pointer outside its memory, or a call before memory exists. */
export class GuestFault extends Error {}

const STDIN = 0;
const STDERR = 2;
const FILETYPE_CHARACTER_DEVICE = 2;
const RIGHT_FD_READ = 1n << 1n;
const RIGHT_FD_WRITE = 1n << 6n;
const RIGHT_POLL_FD_READWRITE = 1n << 27n;
/** Inputs up to 256 KiB of UTF-16 are encoded into a reused buffer (UTF-8 needs at most 3 bytes per unit). */
const STDIN_SCRATCH_BYTES = 768 * 1024;

const encoder = new TextEncoder();
const noBuffer = new ArrayBuffer(0);

export class WasiHost {
  readonly imports: WebAssembly.Imports;
  readonly stdout: CappedBuffer;
  readonly stderr: TailBuffer;
  /** Set by proc_exit: kept here because a module can catch the unwinding exception and carry on. */
  exitCode: number | null = null;
  /** Set when stdout passed its cap: kept here for the same reason. */
  outputTooLarge = false;
  /** performance.now() at which the run's time is up; sleeps never go past it. */
  deadline = 0;

  private readonly stdinScratch = new Uint8Array(STDIN_SCRATCH_BYTES);
  private stdin: Uint8Array = this.stdinScratch;
  private stdinLength = 0;
  private stdinOffset = 0;
  private memory: WebAssembly.Memory | null = null;
  private buffer: ArrayBuffer = noBuffer;
  private u8 = new Uint8Array(noBuffer);
  private dv = new DataView(noBuffer);

  constructor(limits: { maxOutputBytes: number; maxLogBytes: number }) {
    this.stdout = new CappedBuffer(limits.maxOutputBytes);
    this.stderr = new TailBuffer(limits.maxLogBytes);
    this.imports = { wasi_snapshot_preview1: this.functions() };
  }

  begin(input: string, timeoutMs: number): void {
    if (input.length * 3 <= this.stdinScratch.length) {
      this.stdin = this.stdinScratch;
      this.stdinLength = encoder.encodeInto(input, this.stdinScratch).written;
    } else {
      this.stdin = encoder.encode(input);
      this.stdinLength = this.stdin.length;
    }
    this.stdinOffset = 0;
    this.stdout.reset();
    this.stderr.reset();
    this.exitCode = null;
    this.outputTooLarge = false;
    this.deadline = performance.now() + timeoutMs;
  }

  /** The instance's exported memory, known only once instantiation (and its start function) is over. */
  attach(memory: WebAssembly.Memory): void {
    this.memory = memory;
  }

  /** Drops every reference to the run's instance so it can be collected. */
  end(): void {
    this.memory = null;
    this.buffer = noBuffer;
    this.u8 = new Uint8Array(noBuffer);
    this.dv = new DataView(noBuffer);
    if (this.stdin !== this.stdinScratch) this.stdin = this.stdinScratch;
  }

  /** The views over linear memory, renewed when memory.grow replaced its buffer. */
  private view(): DataView {
    const memory = this.memory;
    if (memory === null) {
      throw new GuestFault('the module called WASI before its memory was exported (from a start function)');
    }
    if (memory.buffer !== this.buffer) {
      this.buffer = memory.buffer;
      this.u8 = new Uint8Array(this.buffer);
      this.dv = new DataView(this.buffer);
    }
    return this.dv;
  }

  /** A checked window of linear memory; `subarray` alone would silently clamp a bad pointer. */
  private bytes(pointer: number, length: number): Uint8Array {
    this.view();
    if (pointer + length > this.u8.length) throw new GuestFault('the module passed WASI a pointer outside its memory');
    return this.u8.subarray(pointer, pointer + length);
  }

  private fdWrite(fd: number, iovs: number, iovsLength: number, writtenPointer: number): number {
    if (fd !== 1 && fd !== STDERR) return Errno.BADF;
    const dv = this.view();
    let written = 0;
    for (let i = 0; i < iovsLength; i++) {
      const chunk = this.bytes(dv.getUint32(iovs + i * 8, true), dv.getUint32(iovs + i * 8 + 4, true));
      if (fd === STDERR) {
        this.stderr.append(chunk);
      } else if (this.outputTooLarge || !this.stdout.append(chunk)) {
        this.outputTooLarge = true;
        throw new OutputLimitReached();
      }
      written += chunk.length;
    }
    dv.setUint32(writtenPointer, written, true);
    return Errno.SUCCESS;
  }

  private fdRead(fd: number, iovs: number, iovsLength: number, readPointer: number): number {
    if (fd !== STDIN) return Errno.BADF;
    const dv = this.view();
    let read = 0;
    for (let i = 0; i < iovsLength; i++) {
      const target = this.bytes(dv.getUint32(iovs + i * 8, true), dv.getUint32(iovs + i * 8 + 4, true));
      const n = Math.min(target.length, this.stdinLength - this.stdinOffset);
      target.set(this.stdin.subarray(this.stdinOffset, this.stdinOffset + n));
      this.stdinOffset += n;
      read += n;
      if (n < target.length) break;
    }
    dv.setUint32(readPointer, read, true);
    return Errno.SUCCESS;
  }

  private fdstat(fd: number, pointer: number): number {
    if (fd > STDERR) return Errno.BADF;
    const dv = this.view();
    this.bytes(pointer, 24).fill(0);
    dv.setUint8(pointer, FILETYPE_CHARACTER_DEVICE);
    const rights = (fd === STDIN ? RIGHT_FD_READ : RIGHT_FD_WRITE) | RIGHT_POLL_FD_READWRITE;
    dv.setBigUint64(pointer + 8, rights, true);
    return Errno.SUCCESS;
  }

  private filestat(fd: number, pointer: number): number {
    if (fd > STDERR) return Errno.BADF;
    this.bytes(pointer, 64).fill(0);
    this.dv.setUint8(pointer + 16, FILETYPE_CHARACTER_DEVICE);
    return Errno.SUCCESS;
  }

  /** Zero arguments or environment variables: a count of 0 and 0 bytes. */
  private zeroSizes(countPointer: number, sizePointer: number): number {
    const dv = this.view();
    dv.setUint32(countPointer, 0, true);
    dv.setUint32(sizePointer, 0, true);
    return Errno.SUCCESS;
  }

  private clockTime(id: number, pointer: number): number {
    const now = clockNow(id);
    if (now === null) return Errno.INVAL;
    this.view().setBigUint64(pointer, now, true);
    return Errno.SUCCESS;
  }

  private clockResolution(id: number, pointer: number): number {
    if (clockNow(id) === null) return Errno.INVAL;
    this.view().setBigUint64(pointer, CLOCK_RESOLUTION_NS, true);
    return Errno.SUCCESS;
  }

  private randomGet(pointer: number, length: number): number {
    this.bytes(pointer, length);
    randomFillSync(this.u8, pointer, length);
    return Errno.SUCCESS;
  }

  /** Clock subscriptions sleep for real, cut at the deadline; stdin/stdout/stderr are always ready. */
  private pollOneoff(subscriptions: number, events: number, count: number, countPointer: number): number {
    if (count === 0) return Errno.INVAL;
    this.bytes(subscriptions, count * 48);
    this.bytes(events, count * 32);
    const stdinLeft = this.stdinLength - this.stdinOffset;
    const written = poll(this.dv, subscriptions, events, count, stdinLeft, this.deadline);
    this.dv.setUint32(countPointer, written, true);
    return Errno.SUCCESS;
  }

  /** The import object: every allow-listed name, stubbed with ENOSYS unless implemented below. */
  private functions(): Record<string, (...args: never[]) => number | void> {
    const u = (value: number) => value >>> 0; // wasm i32 arrives signed; pointers and fds are unsigned
    const stdio = (fd: number, errno: number) => (u(fd) <= STDERR ? errno : Errno.BADF);
    const implemented: Record<string, (...args: never[]) => number | void> = {
      fd_write: (fd: number, iovs: number, n: number, out: number) => this.fdWrite(u(fd), u(iovs), u(n), u(out)),
      fd_read: (fd: number, iovs: number, n: number, out: number) => this.fdRead(u(fd), u(iovs), u(n), u(out)),
      fd_fdstat_get: (fd: number, out: number) => this.fdstat(u(fd), u(out)),
      fd_filestat_get: (fd: number, out: number) => this.filestat(u(fd), u(out)),
      fd_fdstat_set_flags: (fd: number) => stdio(fd, Errno.SUCCESS),
      fd_close: (fd: number) => stdio(fd, Errno.SUCCESS),
      fd_sync: (fd: number) => stdio(fd, Errno.SUCCESS),
      fd_datasync: (fd: number) => stdio(fd, Errno.SUCCESS),
      fd_seek: (fd: number) => stdio(fd, Errno.SPIPE),
      fd_tell: (fd: number) => stdio(fd, Errno.SPIPE),
      fd_pread: (fd: number) => stdio(fd, Errno.SPIPE),
      fd_pwrite: (fd: number) => stdio(fd, Errno.SPIPE),
      // No preopened folders: EBADF from fd_prestat_get is how wasi-libc learns the list is empty.
      fd_prestat_get: () => Errno.BADF,
      fd_prestat_dir_name: () => Errno.BADF,
      args_sizes_get: (count: number, size: number) => this.zeroSizes(u(count), u(size)),
      environ_sizes_get: (count: number, size: number) => this.zeroSizes(u(count), u(size)),
      args_get: () => Errno.SUCCESS,
      environ_get: () => Errno.SUCCESS,
      clock_time_get: (id: number, _precision: bigint, out: number) => this.clockTime(u(id), u(out)),
      clock_res_get: (id: number, out: number) => this.clockResolution(u(id), u(out)),
      random_get: (buffer: number, length: number) => this.randomGet(u(buffer), u(length)),
      poll_oneoff: (subs: number, events: number, n: number, out: number) =>
        this.pollOneoff(u(subs), u(events), u(n), u(out)),
      sched_yield: () => Errno.SUCCESS,
      proc_raise: () => Errno.NOSYS,
      proc_exit: (code: number) => {
        this.exitCode ??= u(code);
        throw new ProcExit(u(code));
      },
      sock_accept: (fd: number) => stdio(fd, Errno.NOTSOCK),
      sock_recv: (fd: number) => stdio(fd, Errno.NOTSOCK),
      sock_send: (fd: number) => stdio(fd, Errno.NOTSOCK),
      sock_shutdown: (fd: number) => stdio(fd, Errno.NOTSOCK),
      // The only directory descriptors would be preopens, and there are none.
      path_symlink: (_old: number, _oldLength: number, fd: number) => stdio(fd, Errno.NOTDIR),
    };
    const functions: Record<string, (...args: never[]) => number | void> = {};
    for (const name of Object.keys(WASI_FUNCTIONS)) {
      const directory = name.startsWith('path_') ? (fd: number) => stdio(fd, Errno.NOTDIR) : () => Errno.NOSYS;
      functions[name] = implemented[name] ?? directory;
    }
    return functions;
  }
}
