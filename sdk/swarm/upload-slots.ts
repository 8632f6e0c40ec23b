/**
 * Upload slots of one viewer, shared by its swarms because its uplink is one. A request that
 * finds every slot taken waits in a short queue (so a relay chain forms behind a busy peer
 * instead of everyone falling back to the CDN); beyond the queue, it is turned down at once.
 */
export class UploadSlots {
  #inUse = 0;
  #waiting: Array<(granted: boolean) => void> = [];

  /**
   * @param slots uploads at once.
   * @param maxWaiting requests that may queue for a slot.
   * @param onFree called when a slot frees with nobody queued for it.
   */
  constructor(
    readonly slots: () => number,
    readonly maxWaiting: () => number,
    readonly onFree: () => void = () => {},
  ) {}

  /** Uploads running now. */
  get inUse(): number {
    return this.#inUse;
  }

  get free(): number {
    return Math.max(0, this.slots() - this.#inUse);
  }

  /** Resolves true when a slot is granted, false when the queue is full or `signal` aborts. */
  acquire(signal: AbortSignal): Promise<boolean> {
    if (this.#inUse < this.slots()) {
      this.#inUse++;
      return Promise.resolve(true);
    }
    if (this.#waiting.length >= this.maxWaiting() || signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const grant = (granted: boolean) => {
        signal.removeEventListener('abort', onAbort);
        resolve(granted);
      };
      const onAbort = () => {
        this.#waiting = this.#waiting.filter((waiter) => waiter !== grant);
        grant(false);
      };
      this.#waiting.push(grant);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  release(): void {
    const next = this.#waiting.shift();
    if (next) {
      next(true);
      return;
    }
    this.#inUse--;
    this.onFree();
  }
}
