/**
 * How much forward buffer a peer may not use, because the HTTP fallback needs it: at least the
 * configured `bufferSafetyMarginSec`, and more when this viewer's CDN has been slow, so that a
 * peer that fails at its deadline still leaves time to fetch the segment over HTTP. A fixed
 * margin alone is too tight for large segments on a slow CDN and needlessly wide on a fast one.
 */

/** HTTP segment loads remembered: the margin follows the slowest of them. */
export const HTTP_LOADS_REMEMBERED = 8;
/** Times the slowest recent HTTP segment load that is held back, for a CDN slower than lately. */
export const HTTP_LOAD_HEADROOM = 1.5;

/** The margin in seconds for a configured floor and the slowest recent HTTP segment load, if any. */
export function fallbackMarginSec(floorSec: number, slowestHttpLoadSec: number | undefined): number {
  return Math.max(floorSec, (slowestHttpLoadSec ?? 0) * HTTP_LOAD_HEADROOM);
}

/** The durations of this viewer's latest whole-segment HTTP loads. */
export class RecentHttpLoads {
  readonly #seconds: number[] = [];

  record(durationMs: number): void {
    if (!Number.isFinite(durationMs) || durationMs < 0) return;
    this.#seconds.push(durationMs / 1000);
    if (this.#seconds.length > HTTP_LOADS_REMEMBERED) this.#seconds.shift();
  }

  /** The slowest of the remembered loads, undefined before the first. */
  get slowestSec(): number | undefined {
    return this.#seconds.length === 0 ? undefined : Math.max(...this.#seconds);
  }
}
