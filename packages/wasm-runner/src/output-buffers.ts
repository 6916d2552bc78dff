/**
 * The two capture buffers of a sandbox thread, reused from run to run so the hot path allocates nothing for
 * small outputs: stdout kept whole up to a cap, stderr keeping only its last bytes.
 */

/** Starts small (a typical JSON answer is well under 64 KiB) and doubles up to the cap. */
const INITIAL_BYTES = 64 * 1024;

export class CappedBuffer {
  private buffer: Uint8Array;
  length = 0;

  constructor(readonly cap: number) {
    this.buffer = new Uint8Array(Math.min(INITIAL_BYTES, cap));
  }

  reset(): void {
    this.length = 0;
  }

  /** Appends, or returns false and keeps nothing of `chunk` when it would pass the cap. */
  append(chunk: Uint8Array): boolean {
    const needed = this.length + chunk.length;
    if (needed > this.cap) return false;
    if (needed > this.buffer.length) {
      const grown = new Uint8Array(Math.min(this.cap, Math.max(needed, this.buffer.length * 2)));
      grown.set(this.buffer.subarray(0, this.length));
      this.buffer = grown;
    }
    this.buffer.set(chunk, this.length);
    this.length = needed;
    return true;
  }

  bytes(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }
}

const lossyUtf8 = new TextDecoder('utf-8');

/** Keeps the last `cap` bytes written; compacts only when twice the cap is reached, so appends stay O(1). */
export class TailBuffer {
  private buffer: Uint8Array;
  private length = 0;
  /** Whether bytes were dropped from the front since the last reset. */
  private cut = false;

  constructor(readonly cap: number) {
    this.buffer = new Uint8Array(Math.min(INITIAL_BYTES, 2 * cap));
  }

  reset(): void {
    this.length = 0;
    this.cut = false;
  }

  append(chunk: Uint8Array): void {
    if (chunk.length >= this.cap) {
      this.ensure(this.cap);
      this.buffer.set(chunk.subarray(chunk.length - this.cap));
      this.length = this.cap;
      this.cut = true;
      return;
    }
    if (this.length + chunk.length > 2 * this.cap) {
      this.buffer.copyWithin(0, this.length - this.cap, this.length);
      this.length = this.cap;
      this.cut = true;
    }
    this.ensure(this.length + chunk.length);
    this.buffer.set(chunk, this.length);
    this.length += chunk.length;
  }

  /** The kept bytes as text; a cut through a UTF-8 sequence at the front is dropped rather than shown as U+FFFD. */
  text(): string {
    if (this.length === 0) return '';
    let start = Math.max(0, this.length - this.cap);
    if (start > 0 || this.cut) {
      for (let i = 0; i < 3 && ((this.buffer[start] as number) & 0xc0) === 0x80; i++) start++;
    }
    return lossyUtf8.decode(this.buffer.subarray(start, this.length));
  }

  private ensure(size: number): void {
    if (size <= this.buffer.length) return;
    const grown = new Uint8Array(Math.min(2 * this.cap, Math.max(size, this.buffer.length * 2)));
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
  }
}
