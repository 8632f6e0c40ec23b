/**
 * A segment still arriving, over HTTP or from a peer, that can already be relayed: readers get
 * the chunks received so far, then each new one as it lands. This is what lets a live segment
 * cross the swarm in about one transfer time instead of one transfer per hop.
 *
 * Lifecycle: created (size unknown) -> `start(total)` -> `append(chunk)`... -> `complete()`,
 * or `fail()` at any point.
 */
export class PartialSegment {
  #chunks: Uint8Array[] = [];
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

  start(total: number): void {
    if (this.#total === undefined) this.#total = total;
    this.#notify();
  }

  append(chunk: Uint8Array): void {
    if (this.#state !== 'loading' || chunk.byteLength === 0) return;
    this.#chunks.push(chunk);
    this.#received += chunk.byteLength;
    this.#notify();
  }

  /** Marks the segment whole and returns its bytes in one buffer. */
  complete(): ArrayBuffer {
    if (this.#state !== 'loading') throw new Error(`cannot complete a ${this.#state} segment`);
    const whole = new Uint8Array(this.#received);
    let offset = 0;
    for (const chunk of this.#chunks) {
      whole.set(chunk, offset);
      offset += chunk.byteLength;
    }
    this.#total = this.#received;
    this.#state = 'complete';
    this.#notify();
    return whole.buffer;
  }

  fail(): void {
    if (this.#state !== 'loading') return;
    this.#state = 'failed';
    this.#chunks = [];
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
   * Yields the chunks in order, waiting for more while the segment is loading; throws if it
   * fails or `signal` aborts.
   */
  async *read(signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    let index = 0;
    for (;;) {
      if (this.#state === 'failed') throw new Error('segment failed');
      if (index < this.#chunks.length) {
        yield this.#chunks[index++] as Uint8Array;
        continue;
      }
      if (this.#state === 'complete') return;
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
