/**
 * The upload rate cap (`uploadBytesPerSec`): a token bucket every upload of the viewer draws
 * from before sending a chunk, so the viewer's uplink stays free for the rest of the page.
 */

export class UploadRateLimiter {
  #tokens: number;
  #updatedAt: number;
  /** Bytes that may go out at once: a quarter second's worth, at least one chunk. */
  readonly #burst: number;

  constructor(
    readonly bytesPerSec: number,
    chunkBytes: number,
    private readonly now: () => number,
  ) {
    this.#burst = Math.max(chunkBytes, bytesPerSec / 4);
    this.#tokens = this.#burst;
    this.#updatedAt = now();
  }

  /** Resolves when `bytes` may be sent (at once while within the burst), or when `signal` aborts. */
  async take(bytes: number, signal: AbortSignal): Promise<void> {
    const t = this.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((t - this.#updatedAt) / 1000) * this.bytesPerSec);
    this.#updatedAt = t;
    this.#tokens -= bytes;
    if (this.#tokens >= 0) return;
    await sleep((-this.#tokens / this.bytesPerSec) * 1000, signal);
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
