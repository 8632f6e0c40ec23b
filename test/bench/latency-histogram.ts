/**
 * A latency histogram with logarithmic buckets 1% wide, so that millions of samples cost a few
 * kilobytes and histograms from several processes can be merged (sent over IPC as
 * [bucket, count] pairs) before quantiles are read. Quantiles are exact to within 1%.
 */

/** Each bucket's upper bound is this factor times the previous one's. */
const GROWTH = 1.01;
/** Upper bound of bucket 0, in milliseconds; anything faster lands there. */
const SMALLEST_MS = 0.001;

/** Samples of a histogram as [bucket index, count] pairs, the form it travels in. */
export type HistogramBuckets = [number, number][];

export class LatencyHistogram {
  readonly #counts = new Map<number, number>();
  #total = 0;

  get count(): number {
    return this.#total;
  }

  record(latencyMs: number): void {
    const bucket = latencyMs <= SMALLEST_MS ? 0 : Math.ceil(Math.log(latencyMs / SMALLEST_MS) / Math.log(GROWTH));
    this.#counts.set(bucket, (this.#counts.get(bucket) ?? 0) + 1);
    this.#total++;
  }

  buckets(): HistogramBuckets {
    return [...this.#counts];
  }

  merge(buckets: HistogramBuckets): void {
    for (const [bucket, count] of buckets) {
      this.#counts.set(bucket, (this.#counts.get(bucket) ?? 0) + count);
      this.#total += count;
    }
  }

  /** The latency (upper bound of its bucket) below which a fraction `q` of samples fall. */
  quantileMs(q: number): number | undefined {
    if (this.#total === 0) return undefined;
    const rank = Math.ceil(q * this.#total);
    let seen = 0;
    for (const [bucket, count] of [...this.#counts].sort((a, b) => a[0] - b[0])) {
      seen += count;
      if (seen >= rank) return SMALLEST_MS * GROWTH ** bucket;
    }
    return undefined;
  }
}
