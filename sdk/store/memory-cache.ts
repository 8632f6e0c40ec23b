/**
 * Segments kept in memory under a byte cap, least recently used first out. The cache is what
 * this viewer can serve to peers, so it reports evictions: the swarm withdraws them from the
 * have-map it announced.
 */
export class MemorySegmentCache {
  #entries = new Map<string, ArrayBuffer>();
  #bytes = 0;

  /**
   * @param capBytes most bytes held at once; a segment larger than the cap is not kept.
   * @param onEvict called with the ids pushed out by a `put`.
   */
  constructor(
    readonly capBytes: number,
    private readonly onEvict: (ids: string[]) => void = () => {},
  ) {}

  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  has(id: string): boolean {
    return this.#entries.has(id);
  }

  /** Returns the segment and marks it most recently used. */
  get(id: string): ArrayBuffer | undefined {
    const data = this.#entries.get(id);
    if (data) {
      this.#entries.delete(id);
      this.#entries.set(id, data);
    }
    return data;
  }

  /** Stores a segment; returns false when it is larger than the whole cap. */
  put(id: string, data: ArrayBuffer): boolean {
    if (data.byteLength > this.capBytes) return false;
    this.delete(id);
    this.#entries.set(id, data);
    this.#bytes += data.byteLength;
    const evicted: string[] = [];
    for (const [oldId, old] of this.#entries) {
      if (this.#bytes <= this.capBytes) break;
      this.#entries.delete(oldId);
      this.#bytes -= old.byteLength;
      evicted.push(oldId);
    }
    if (evicted.length > 0) this.onEvict(evicted);
    return true;
  }

  delete(id: string): void {
    const old = this.#entries.get(id);
    if (!old) return;
    this.#entries.delete(id);
    this.#bytes -= old.byteLength;
  }

  ids(): string[] {
    return [...this.#entries.keys()];
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }
}
