/**
 * A simulated viewer: a live HLS player shaped like hls.js (playlist refresh every target
 * duration, start three segments from the live edge plus Shoal's `extraLiveLatencySec`, one
 * fragment load at a time, playback that stalls when the buffer runs dry), driving a real
 * `ShoalEngine` through its fragment loader, with `fetch` and trystero rooms simulated
 * underneath.
 */
import type { FragmentLoaderContext, HlsConfig, LoaderConfiguration } from 'hls.js';
import { ShoalEngine, type HlsLike } from '../../sdk/engine.ts';
import type { ShoalOptions } from '../../sdk/config.ts';
import type { SimNode } from './network.ts';
import type { SimTracker } from './rooms.ts';
import type { VirtualTime } from './virtual-time.ts';

export interface StreamSpec {
  segmentMs: number;
  segmentBytes: number;
  bitrateBytesPerSec: number;
}

/** Segment `n` of the simulated live stream becomes available at `n * segmentMs`. */
export const segmentUrl = (n: number, viewerId: string) => `https://cdn.sim/live/seg-${n}.ts?viewer=${viewerId}`;

/** hls.js starts this many segments back from the live edge (liveSyncDurationCount). */
const LIVE_SYNC_SEGMENTS = 3;

const loaderConfig = {
  loadPolicy: { maxTimeToFirstByteMs: 10_000, maxLoadTimeMs: 20_000, timeoutRetry: null, errorRetry: null },
  timeout: 20_000,
  maxRetry: 0,
  retryDelay: 0,
  maxRetryDelay: 0,
} as unknown as LoaderConfiguration;

class SimDefaultLoader {}

export class SimViewer {
  readonly engine: ShoalEngine;
  readonly joinedAt: number;
  leftAt: number | undefined;
  startupMs: number | undefined;
  stalls = 0;
  stallMs = 0;
  segmentsPlayed = 0;
  bytesReceived = 0;
  /**
   * How long each segment took from the player's request to its delivery, in ms. hls.js loads
   * one fragment at a time, so these must average under a segment's duration or the player
   * falls behind the live edge and its buffer shrinks.
   */
  readonly loadMs: number[] = [];
  #firstSegment = 0;
  #startMedia = 0;
  #next = 0;
  #loading = false;
  /** Playback state: media time (s) at `#anchorAt` (ms), and the end of the buffer (s). */
  #anchorMedia = 0;
  #anchorAt = 0;
  #bufferEnd = 0;
  #playing = false;
  #stalledSince: number | undefined;
  #stallCheck: number | undefined;

  constructor(
    readonly node: SimNode,
    readonly time: VirtualTime,
    readonly stream: StreamSpec,
    tracker: SimTracker,
    options: ShoalOptions,
  ) {
    this.joinedAt = time.now;
    this.engine = new ShoalEngine(options, { joinRoom: tracker.joinRoomFor(node), reconnectTrackers: () => {} });
    const viewer = this;
    const media = {
      get currentTime() {
        return viewer.#mediaTime();
      },
      get buffered() {
        return { length: 1, start: () => viewer.#firstSegment * (stream.segmentMs / 1000), end: () => viewer.#bufferEnd };
      },
    };
    class SimHls {
      static DefaultConfig = { loader: SimDefaultLoader };
      config = { loader: SimDefaultLoader } as unknown as HlsConfig;
      levels = [{ uri: 'https://cdn.sim/live/index.m3u8', bitrate: stream.bitrateBytesPerSec * 8, width: 640, height: 360, codecs: 'avc1', details: { live: true } }];
      media = media;
      on() {}
    }
    this.engine.attach(new SimHls() as unknown as HlsLike);
    const liveEdge = Math.floor(time.now / stream.segmentMs);
    // What Shoal's live latency option makes hls.js do: start that much further from the edge.
    const extra = this.engine.config.extraLiveLatencySec;
    this.#startMedia = Math.max(0, (liveEdge - (LIVE_SYNC_SEGMENTS - 1)) * (stream.segmentMs / 1000) - extra);
    this.#firstSegment = this.#next = Math.floor(this.#startMedia / (stream.segmentMs / 1000));
    this.#bufferEnd = this.#firstSegment * (stream.segmentMs / 1000);
    this.#refresh();
  }

  get present(): boolean {
    return this.leftAt === undefined;
  }

  leave(): void {
    if (!this.present) return;
    this.leftAt = this.time.now;
    this.#endStall();
    this.node.connected = false;
    void this.engine.destroy();
  }

  /** Closes a stall still open at the end of the run, so its time counts. */
  finish(): void {
    this.#endStall();
  }

  #mediaTime(): number {
    if (!this.#playing || this.#stalledSince !== undefined) return this.#anchorMedia;
    return Math.min(this.#bufferEnd, this.#anchorMedia + (this.time.now - this.#anchorAt) / 1000);
  }

  /** Playlist refresh: what is available now is known; the next refresh is a target duration away. */
  #refresh(): void {
    if (!this.present) return;
    this.#loadNext();
    this.time.setTimeout(() => this.#refresh(), this.stream.segmentMs);
  }

  #loadNext(): void {
    const known = Math.floor(this.time.now / this.stream.segmentMs);
    if (this.#loading || !this.present || this.#next > known) return;
    this.#loading = true;
    const sn = this.#next;
    if (process.env.SIM_DEBUG) console.error(Math.round(this.time.now), this.node.id, `seg-${sn}.ts`, 'REQUEST buffer', (this.#bufferEnd - this.#mediaTime()).toFixed(2));
    const url = segmentUrl(sn, this.node.id);
    const context = {
      url,
      responseType: 'arraybuffer',
      type: 'media-fragment',
      frag: { sn, level: 0, type: 'main', duration: this.stream.segmentMs / 1000, byteRange: [], baseurl: 'https://cdn.sim/live/index.m3u8' },
      part: null,
    } as unknown as FragmentLoaderContext;
    const loader = new this.engine.loaderClass({} as HlsConfig);
    const retry = () => {
      this.#loading = false;
      this.#loadNext();
    };
    const requestedAt = this.time.now;
    loader.load(context, loaderConfig, {
      onSuccess: (response) => {
        this.#loading = false;
        if (!this.present) return;
        this.loadMs.push(this.time.now - requestedAt);
        this.bytesReceived += (response.data as ArrayBuffer).byteLength;
        this.#append();
        this.#next = sn + 1;
        this.#loadNext();
      },
      onError: retry,
      onTimeout: retry,
    });
  }

  #append(): void {
    this.#anchorMedia = this.#mediaTime();
    this.#anchorAt = this.time.now;
    this.#bufferEnd += this.stream.segmentMs / 1000;
    this.segmentsPlayed++;
    if (!this.#playing) {
      this.#playing = true;
      this.startupMs = this.time.now - this.joinedAt;
      this.#anchorMedia = this.#startMedia;
    }
    this.#endStall();
    if (this.#stallCheck !== undefined) this.time.clearTimeout(this.#stallCheck);
    const runsDryInMs = (this.#bufferEnd - this.#mediaTime()) * 1000;
    this.#stallCheck = this.time.setTimeout(() => this.#startStall(), runsDryInMs);
  }

  #startStall(): void {
    if (!this.present || this.#stalledSince !== undefined) return;
    this.#anchorMedia = this.#mediaTime();
    this.#anchorAt = this.time.now;
    this.#stalledSince = this.time.now;
    this.stalls++;
  }

  #endStall(): void {
    if (this.#stalledSince === undefined) return;
    this.stallMs += this.time.now - this.#stalledSince;
    this.#stalledSince = undefined;
    this.#anchorAt = this.time.now;
  }
}
