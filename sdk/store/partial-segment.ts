/**
 * A segment still arriving, over HTTP or from peers, that can already be relayed: readers get
 * the bytes received so far, then more as they land. This is what lets a live segment cross the
 * swarm in about one transfer time instead of one transfer per hop.
 *
 * Once its size is known the bytes go into one buffer of that size, which is what `complete()`
 * hands over, without a copy.
 *
 * Lifecycle: created (size unknown) -> `start(total)` -> `append(chunk)`... -> `complete()`,
 * or `fail()` at any point.
 */
export class PartialSegment {
  /** Chunks appended before the size was known. */
  #chunks: Uint8Array[] = [];
  /** The whole segment's bytes, allocated once the size is known; the first `#received` are in. */
  #bytes: Uint8Array | undefined;
  #received = 0;
  #total: number | undefined;
  #state: 'loading' | 'complete' | 'failed' = 'loading';
  #wake = new Set<() => void>();

  get received(): number {
    return this.#received;
  }

  get state(): 'loading' | 'complete' | 'failed' {
    return this.#state;
  }

  /** The size, once known. */
  get total(): number | undefined {
    return this.#total;
  }

  /** Sets the size; the first size given is kept. */
  start(total: number): void {
    if (this.#total !== undefined || this.#state !== 'loading') return;
    this.#total = total;
    this.#bytes = new Uint8Array(total);
    const appended = this.#chunks;
    this.#chunks = [];
    this.#received = 0;
    for (const chunk of appended) this.append(chunk);
    this.#notify();
  }

  /**
   * Adds the next bytes, copied into the segment's buffer once the size is known. Bytes past the
   * size mean the size was wrong: the segment fails (its readers fall back), since nothing it
   * holds can be trusted to line up.
   */
  append(chunk: Uint8Array): void {
    if (this.#state !== 'loading' || chunk.byteLength === 0) return;
    if (!this.#bytes) {
      this.#chunks.push(chunk);
    } else if (this.#received + chunk.byteLength > this.#bytes.byteLength) {
      this.fail();
      return;
    } else {
      this.#bytes.set(chunk, this.#received);
    }
    this.#received += chunk.byteLength;
    this.#notify();
  }

  /** The whole segment's bytes once every byte arrived, without settling it; else undefined. */
  assembled(): ArrayBuffer | undefined {
    if (this.#state === 'failed' || !this.#bytes || this.#received !== this.#total) return undefined;
    return this.#bytes.buffer as ArrayBuffer;
  }

  /**
   * Marks the segment whole and returns its bytes in one buffer. If bytes are missing (the size
   * announced was wrong), it fails instead and returns undefined.
   */
  complete(): ArrayBuffer | undefined {
    if (this.#state !== 'loading') throw new Error(`cannot complete a ${this.#state} segment`);
    let whole: ArrayBuffer | undefined;
    if (this.#bytes) {
      whole = this.assembled();
    } else {
      const joined = new Uint8Array(this.#received);
      let offset = 0;
      for (const chunk of this.#chunks) {
        joined.set(chunk, offset);
        offset += chunk.byteLength;
      }
      this.#total = this.#received;
      whole = joined.buffer;
    }
    if (!whole) {
      this.fail();
      return undefined;
    }
    this.#state = 'complete';
    this.#notify();
    return whole;
  }

  fail(): void {
    if (this.#state !== 'loading') return;
    this.#state = 'failed';
    this.#chunks = [];
    this.#bytes = undefined;
    this.#notify();
  }

  /** Resolves once the total size is known; rejects if the segment fails first. */
  async size(signal?: AbortSignal): Promise<number> {
    while (this.#total === undefined) {
      if (this.#state === 'failed') throw new Error('segment failed');
      await this.#changed(signal);
    }
    return this.#total;
  }

  /** Resolves once the segment is complete or failed, or rejects when `signal` aborts first. */
  async settled(signal?: AbortSignal): Promise<'complete' | 'failed'> {
    while (this.#state === 'loading') await this.#changed(signal);
    return this.#state;
  }

  /**
   * Yields the bytes in order, waiting for more while the segment is loading; throws if it
   * fails or `signal` aborts.
   */
  async *read(signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    let position = 0;
    let index = 0;
    for (;;) {
      if (this.#state === 'failed') throw new Error('segment failed');
      if (this.#bytes) {
        if (position >= this.#bytes.byteLength) return;
        if (this.#received > position) {
          const available = this.#received;
          yield this.#bytes.subarray(position, available);
          position = available;
          continue;
        }
      } else if (index < this.#chunks.length) {
        const chunk = this.#chunks[index++] as Uint8Array;
        position += chunk.byteLength;
        yield chunk;
        continue;
      } else if (this.#state === 'complete') {
        return;
      }
      await this.#changed(signal);
    }
  }

  #changed(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(new Error('aborted'));
    return new Promise((resolve, reject) => {
      const wake = () => {
        this.#wake.delete(wake);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        this.#wake.delete(wake);
        reject(new Error('aborted'));
      };
      this.#wake.add(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #notify(): void {
    for (const wake of [...this.#wake]) wake();
  }
}
