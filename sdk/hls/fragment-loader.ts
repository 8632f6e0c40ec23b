import type {
  FragmentLoaderConstructor,
  FragmentLoaderContext,
  HlsConfig,
  Loader,
  LoaderCallbacks,
  LoaderConfiguration,
  LoaderContext,
  LoaderStats,
} from 'hls.js';
import type { NonHttpDelivery, PeerRemainder, SegmentRef, Transfer } from '../scheduler/segment-scheduler.ts';
import { fetchSegment, type HttpFetchResult } from './http-fetch.ts';

type HttpLoaderClass = new (config: HlsConfig) => Loader<LoaderContext>;

/** What the fragment loader needs from its engine. */
export interface LoaderHost {
  /** The segment a fragment load is for, or undefined when it must go straight to HTTP. */
  describe(context: FragmentLoaderContext): SegmentRef | undefined;
  fetchWithoutHttp(segment: SegmentRef, signal: AbortSignal): Promise<NonHttpDelivery | PeerRemainder | undefined>;
  /** The rest of a segment a peer sent in part came over HTTP: verify the whole, cache it. False: fetch it again whole. */
  completeRemainder(segment: SegmentRef, remainder: PeerRemainder, data: ArrayBuffer): Promise<boolean>;
  /** Announces a segment as arriving over HTTP; the loader settles the transfer. */
  openTransfer(segment: SegmentRef): Transfer;
  /** A segment came over HTTP, all of it or the rest of what a peer sent (`fromPeer`): count it. */
  loadedOverHttp(segment: SegmentRef | undefined, bytes: number, durationMs: number, fromPeer?: { peerId: string; bytes: number }): void;
  /** A segment came from the cache or a peer and is being handed to hls.js. */
  loadedWithoutHttp(segment: SegmentRef, delivery: NonHttpDelivery): void;
  /**
   * hls.js's own loader class (XHR or fetch) when the page customised HTTP loading, which only
   * it honours; otherwise undefined, and Shoal fetches segments itself, chunk by chunk.
   */
  customHttpLoader(): HttpLoaderClass | undefined;
  /** The loader class for loads Shoal does not handle (parts, init segments, other tracks). */
  defaultHttpLoader(): HttpLoaderClass;
}

function emptyStats(): LoaderStats {
  return {
    aborted: false,
    loaded: 0,
    retry: 0,
    total: 0,
    chunkCount: 0,
    bwEstimate: 0,
    loading: { start: 0, first: 0, end: 0 },
    parsing: { start: 0, end: 0 },
    buffering: { start: 0, first: 0, end: 0 },
  };
}

/** hls.js keeps a reference to `loader.stats`, so stats are copied into it, never replaced. */
function copyStats(from: LoaderStats, to: LoaderStats): void {
  to.aborted = from.aborted;
  to.loaded = from.loaded;
  to.total = from.total;
  to.chunkCount = from.chunkCount;
  to.bwEstimate = from.bwEstimate;
  Object.assign(to.loading, from.loading);
}

/**
 * Builds the `fLoader` class hls.js instantiates for every fragment. It stays thin: the
 * engine's scheduler decides between cache, peer and HTTP; this class speaks hls.js's loader
 * contract (load, abort, destroy, stats) and hands HTTP loads to hls.js's own loader so that
 * `xhrSetup`, `fetchSetup`, timeouts and retries behave as without Shoal.
 */
export function createFragmentLoaderClass(host: LoaderHost): FragmentLoaderConstructor {
  return class ShoalFragmentLoader implements Loader<FragmentLoaderContext> {
    context: FragmentLoaderContext | null = null;
    stats: LoaderStats = emptyStats();
    readonly #hlsConfig: HlsConfig;
    readonly #abort = new AbortController();
    #http: Loader<LoaderContext> | undefined;
    #transfer: Transfer | undefined;
    #callbacks: LoaderCallbacks<FragmentLoaderContext> | undefined;

    constructor(config: HlsConfig) {
      this.#hlsConfig = config;
    }

    load(context: FragmentLoaderContext, config: LoaderConfiguration, callbacks: LoaderCallbacks<FragmentLoaderContext>): void {
      this.context = context;
      this.#callbacks = callbacks;
      this.stats.loading.start = performance.now();
      const segment = host.describe(context);
      if (!segment) {
        this.#loadOverHttp(undefined, context, config);
        return;
      }
      host.fetchWithoutHttp(segment, this.#abort.signal).then(
        (delivery) => {
          if (this.#abort.signal.aborted) {
            if (delivery?.source === 'http-rest') delivery.transfer.fail();
            return;
          }
          if (!delivery) this.#loadOverHttp(segment, context, config);
          else if (delivery.source !== 'http-rest') this.#deliver(segment, delivery, context);
          else if (host.customHttpLoader()) {
            // The page's own HTTP loader cannot be asked for part of a segment.
            delivery.transfer.fail();
            this.#loadOverHttp(segment, context, config);
          } else void this.#fetchRestOverHttp(segment, delivery, context, config);
        },
        () => {
          if (!this.#abort.signal.aborted) this.#loadOverHttp(segment, context, config);
        },
      );
    }

    abort(): void {
      if (this.#abort.signal.aborted) return;
      this.#stop();
      this.stats.aborted = true;
      const callbacks = this.#callbacks;
      this.#callbacks = undefined;
      if (this.context) callbacks?.onAbort?.(this.stats, this.context, null);
    }

    destroy(): void {
      this.#callbacks = undefined;
      this.#stop();
      this.context = null;
    }

    #stop(): void {
      this.#abort.abort();
      this.#transfer?.fail();
      const http = this.#http;
      this.#http = undefined;
      http?.destroy();
    }

    #deliver(segment: SegmentRef, delivery: NonHttpDelivery, context: FragmentLoaderContext): void {
      const { stats } = this;
      stats.loading.first = Math.max(delivery.firstByteAt, stats.loading.start);
      stats.loading.end = Math.max(delivery.endedAt, stats.loading.first);
      stats.loaded = stats.total = delivery.data.byteLength;
      stats.chunkCount = 1;
      host.loadedWithoutHttp(segment, delivery);
      const callbacks = this.#callbacks;
      this.#callbacks = undefined;
      // hls.js transfers the payload to its transmux worker, detaching it: it gets a copy.
      callbacks?.onSuccess({ url: context.url, data: delivery.data.slice(0) }, stats, context, null);
    }

    #loadOverHttp(segment: SegmentRef | undefined, context: FragmentLoaderContext, config: LoaderConfiguration): void {
      if (segment && !host.customHttpLoader()) {
        void this.#fetchOverHttp(segment, context, config);
        return;
      }
      const HttpLoader = segment ? (host.customHttpLoader() as HttpLoaderClass) : host.defaultHttpLoader();
      const http = new HttpLoader(this.#hlsConfig);
      this.#http = http;
      const transfer = segment ? host.openTransfer(segment) : undefined;
      this.#transfer = transfer;
      const httpStartedAt = performance.now();
      const own = this;
      http.load(context, config, {
        onSuccess(response, stats, _context, networkDetails) {
          copyStats(stats, own.stats);
          if (response.data instanceof ArrayBuffer) {
            const data = response.data.slice(0);
            transfer?.sink.start(data.byteLength);
            transfer?.sink.append(new Uint8Array(data));
            transfer?.complete(data);
            host.loadedOverHttp(segment, data.byteLength, performance.now() - httpStartedAt);
          } else {
            transfer?.fail();
          }
          own.#finish()?.onSuccess(response, own.stats, context, networkDetails);
        },
        onError(error, _context, networkDetails, stats) {
          transfer?.fail();
          copyStats(stats, own.stats);
          own.#finish()?.onError(error, context, networkDetails, own.stats);
        },
        onTimeout(stats, _context, networkDetails) {
          transfer?.fail();
          copyStats(stats, own.stats);
          own.#finish()?.onTimeout(own.stats, context, networkDetails);
        },
        onProgress(stats, _context, data, networkDetails) {
          copyStats(stats, own.stats);
          own.#callbacks?.onProgress?.(own.stats, context, data, networkDetails);
        },
      });
    }

    async #fetchOverHttp(segment: SegmentRef, context: FragmentLoaderContext, config: LoaderConfiguration): Promise<void> {
      const transfer = host.openTransfer(segment);
      this.#transfer = transfer;
      const result = await this.#fetchInto(transfer, context, config);
      if (!result.ok) {
        transfer.fail();
        this.#failed(result, context);
        return;
      }
      transfer.complete(result.data);
      host.loadedOverHttp(segment, result.data.byteLength, result.endedAt - result.startedAt);
      this.#succeed(result, result.data, context);
    }

    /**
     * Completes over HTTP a segment a peer sent in part: only the missing bytes are fetched, into
     * the same transfer, so peers relaying it from here never see the change of source. If the
     * whole does not check out, it is fetched again whole.
     */
    async #fetchRestOverHttp(segment: SegmentRef, remainder: PeerRemainder, context: FragmentLoaderContext, config: LoaderConfiguration): Promise<void> {
      const { transfer } = remainder;
      this.#transfer = transfer;
      const result = await this.#fetchInto(transfer, context, config, remainder.fromPeer);
      if (!result.ok && result.reason !== 'status') {
        transfer.fail();
        this.#failed(result, context);
        return;
      }
      const whole = result.ok ? transfer.sink.assembled() : undefined;
      if (!result.ok || !whole || !(await host.completeRemainder(segment, remainder, whole))) {
        // The server refused the range, or the bytes do not add up to the segment: all of it over HTTP.
        transfer.fail();
        if (!this.#abort.signal.aborted) void this.#fetchOverHttp(segment, context, config);
        return;
      }
      if (this.#abort.signal.aborted) return;
      host.loadedOverHttp(segment, result.data.byteLength, result.endedAt - result.startedAt, { peerId: remainder.peerId, bytes: remainder.fromPeer });
      // Timed from the load's start: the peer's part took time too.
      this.#succeed({ ...result, startedAt: this.stats.loading.start }, whole, context);
    }

    /** Fetches the fragment over HTTP into `transfer`'s sink, from byte `resumeAt` on (see {@link fetchSegment}). */
    #fetchInto(transfer: Transfer, context: FragmentLoaderContext, config: LoaderConfiguration, resumeAt = 0): Promise<HttpFetchResult> {
      return fetchSegment({
        url: context.url,
        rangeStart: context.rangeStart,
        rangeEnd: context.rangeEnd,
        resumeAt,
        signal: this.#abort.signal,
        firstByteTimeoutMs: config.loadPolicy.maxTimeToFirstByteMs,
        totalTimeoutMs: config.loadPolicy.maxLoadTimeMs,
        onSize: (total) => transfer.sink.start(total),
        onChunk: (chunk) => transfer.sink.append(chunk),
        now: () => performance.now(),
      });
    }

    #failed(result: Extract<HttpFetchResult, { ok: false }>, context: FragmentLoaderContext): void {
      if (result.reason === 'aborted') return;
      const { stats } = this;
      stats.loading.end = performance.now();
      const callbacks = this.#finish();
      if (result.reason === 'timeout') callbacks?.onTimeout(stats, context, null);
      else callbacks?.onError({ code: result.status, text: result.text }, context, null, stats);
    }

    #succeed(result: Extract<HttpFetchResult, { ok: true }>, data: ArrayBuffer, context: FragmentLoaderContext): void {
      const { stats } = this;
      stats.loading.start = result.startedAt;
      stats.loading.first = result.firstByteAt;
      stats.loading.end = result.endedAt;
      stats.loaded = stats.total = data.byteLength;
      stats.chunkCount = 1;
      // hls.js transfers the payload to its transmux worker, detaching it: it gets a copy.
      this.#finish()?.onSuccess({ url: result.url, data: data.slice(0), code: result.status }, stats, context, null);
    }

    /** Hands out the callbacks once: a load settles exactly once. */
    #finish(): LoaderCallbacks<FragmentLoaderContext> | undefined {
      const callbacks = this.#callbacks;
      this.#callbacks = undefined;
      return callbacks;
    }
  };
}
