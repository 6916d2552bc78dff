/**
 * poll_oneoff for the sandbox: Go and TinyGo sleep with a single relative clock subscription, so clocks must
 * really wait. The thread blocks on Atomics.wait (it has nothing else to do while its module runs); a sleep that
 * would outlast the run's deadline never returns, and at the deadline the runner terminates the thread, which
 * interrupts the wait (measured: 4 ms).
 * stdin, stdout and stderr are always ready; any other descriptor answers EBADF.
 */
import { clockNow } from './wasi-clock.js';
import { Errno } from './wasi-abi.js';

const SUBSCRIPTION_BYTES = 48;
const EVENT_BYTES = 32;
const EVENTTYPE_CLOCK = 0;
const EVENTTYPE_FD_READ = 1;
const EVENTTYPE_FD_WRITE = 2;
const SUBCLOCKFLAGS_ABSTIME = 1;
/** Stands for "as many bytes as you like" in fd_write readiness events. */
const WRITE_READY_BYTES = 1n << 20n;

const sleeper = new Int32Array(new SharedArrayBuffer(4));

interface Pending {
  userdata: bigint;
  /** Nanoseconds from the start of the call until the clock subscription is due. */
  dueNs: bigint;
}

/**
 * Answers one poll_oneoff call whose subscription and event arrays are already bounds-checked; returns the number
 * of events written.
 */
export function poll(
  dv: DataView,
  subscriptions: number,
  events: number,
  count: number,
  stdinLeft: number,
  deadline: number,
): number {
  const clocks: Pending[] = [];
  let written = 0;
  const emit = (userdata: bigint, type: number, error: number, nbytes: bigint) => {
    const at = events + written * EVENT_BYTES;
    dv.setBigUint64(at, userdata, true);
    dv.setUint16(at + 8, error, true);
    dv.setUint8(at + 10, type);
    dv.setBigUint64(at + 16, nbytes, true);
    dv.setUint16(at + 24, 0, true);
    written++;
  };
  for (let i = 0; i < count; i++) {
    const at = subscriptions + i * SUBSCRIPTION_BYTES;
    const userdata = dv.getBigUint64(at, true);
    const type = dv.getUint8(at + 8);
    const fd = dv.getUint32(at + 16, true);
    if (type === EVENTTYPE_CLOCK) {
      const now = clockNow(fd); // the clock id sits where an fd subscription keeps its fd
      if (now === null) {
        emit(userdata, type, Errno.INVAL, 0n);
        continue;
      }
      const timeout = dv.getBigUint64(at + 24, true);
      const absolute = (dv.getUint16(at + 40, true) & SUBCLOCKFLAGS_ABSTIME) !== 0;
      clocks.push({ userdata, dueNs: absolute ? timeout - now : timeout });
    } else if (type === EVENTTYPE_FD_READ) {
      emit(userdata, type, fd === 0 ? Errno.SUCCESS : Errno.BADF, fd === 0 ? BigInt(stdinLeft) : 0n);
    } else if (type === EVENTTYPE_FD_WRITE) {
      const ready = fd === 1 || fd === 2;
      emit(userdata, type, ready ? Errno.SUCCESS : Errno.BADF, ready ? WRITE_READY_BYTES : 0n);
    } else {
      emit(userdata, type, Errno.INVAL, 0n);
    }
  }
  if (clocks.length === 0) return written;
  let elapsedNs = 0n;
  if (written === 0) {
    const earliest = clocks.reduce((min, clock) => (clock.dueNs < min ? clock.dueNs : min), clocks[0]!.dueNs);
    const remainingMs = deadline - performance.now();
    const wantedMs = Number(earliest) / 1e6;
    if (wantedMs >= remainingMs) {
      // The sleep would outlast the run: never wake the module again. Returning at the deadline would let it
      // finish a moment before the runner's timer (a sleeping module "beating" its own timeout); blocking here
      // leaves the outcome to the runner, which terminates this thread at the deadline (wasm_timeout).
      for (;;) Atomics.wait(sleeper, 0, 0);
    }
    const started = process.hrtime.bigint();
    if (wantedMs > 0) Atomics.wait(sleeper, 0, 0, wantedMs);
    elapsedNs = process.hrtime.bigint() - started;
    if (elapsedNs < earliest) elapsedNs = earliest;
  }
  for (const clock of clocks) {
    if (clock.dueNs <= elapsedNs) emit(clock.userdata, EVENTTYPE_CLOCK, Errno.SUCCESS, 0n);
  }
  return written;
}
