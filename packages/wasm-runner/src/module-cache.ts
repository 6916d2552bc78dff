/**
 * Compiled modules by sha256, least recently used first out, bounded by the byte size of the modules. Compiling
 * costs ~1.2 ms for a 20 KB module and grows with size (measured here; `npm run bench` shows ~21 ms for 0.95 MB), so each module is compiled once per process;
 * concurrent first runs share one compilation. A failed load is not kept: the next run tries again.
 */

interface Entry {
  promise: Promise<WebAssembly.Module>;
  /** Set once compiled; until then the entry does not count against the bound. */
  size: number;
}

export interface CompiledModule {
  module: WebAssembly.Module;
  /** Bytes the entry counts for: the module's size as uploaded. */
  size: number;
}

export class ModuleCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(
    private readonly maxBytes: number,
    /** Told of each eviction, so the threads drop their copy too. */
    private readonly onEvict: (sha256: string) => void,
  ) {}

  get(sha256: string, load: () => Promise<CompiledModule>): Promise<WebAssembly.Module> {
    const hit = this.entries.get(sha256);
    if (hit !== undefined) {
      this.entries.delete(sha256); // re-inserted last: Map order is the recency order
      this.entries.set(sha256, hit);
      return hit.promise;
    }
    const entry: Entry = { promise: Promise.resolve(null as never), size: 0 };
    entry.promise = load().then(
      (compiled) => {
        if (this.entries.get(sha256) === entry) {
          entry.size = compiled.size;
          this.bytes += compiled.size;
          this.evict(sha256);
        }
        return compiled.module;
      },
      (error: unknown) => {
        if (this.entries.get(sha256) === entry) this.entries.delete(sha256);
        throw error;
      },
    );
    this.entries.set(sha256, entry);
    return entry.promise;
  }

  stats(): { modules: number; bytes: number } {
    return { modules: this.entries.size, bytes: this.bytes };
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  /** Drops the least recently used compiled entries until within bounds; the newest one always stays. */
  private evict(keep: string): void {
    for (const [sha256, entry] of this.entries) {
      if (this.bytes <= this.maxBytes) return;
      if (sha256 === keep || entry.size === 0) continue;
      this.entries.delete(sha256);
      this.bytes -= entry.size;
      this.onEvict(sha256);
    }
  }
}
