/**
 * Values loaded by key and kept until `clear()` (definitions a process reads on every request: submit targets,
 * prepared agents). Concurrent gets of one key share one load. Misses (null) and failures are not kept, so a
 * definition created or fixed a moment later shows at once.
 */
export class KeyedLoader<V> {
  private readonly cache = new Map<string, Promise<V | null>>();

  constructor(private readonly load: (key: string) => Promise<V | null>) {}

  get(key: string): Promise<V | null> {
    let value = this.cache.get(key);
    if (!value) {
      value = this.load(key);
      const forget = () => this.cache.get(key) === value && this.cache.delete(key);
      value.then((found) => found === null && forget(), forget);
      this.cache.set(key, value);
    }
    return value;
  }

  clear(): void {
    this.cache.clear();
  }
}
