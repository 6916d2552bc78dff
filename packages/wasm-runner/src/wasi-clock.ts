/** The WASI clocks: 0 realtime, 1 monotonic, 2 process CPU time, 3 thread CPU time. */

/** Resolution reported to modules, 1 us: what performance.now() and hrtime reliably give. */
export const CLOCK_RESOLUTION_NS = 1000n;

/** Nanoseconds on a WASI clock, or null for an unknown clock id. */
export function clockNow(id: number): bigint | null {
  switch (id) {
    case 0:
      return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
    case 1:
    case 2: // the CPU clocks fall back to the monotonic one: a run's wall time bounds its CPU time
    case 3:
      return process.hrtime.bigint();
    default:
      return null;
  }
}
