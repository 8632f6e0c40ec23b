import type { SegmentIdentity, SwarmIdentity } from './hls/identity.ts';
import type { SegmentToVerify } from './integrity/verifier.ts';

/**
 * Everything a site can tune. Every option has a default; the script tag reads the same keys
 * from `data-*` attributes (kebab-case: `maxPeers` is `data-max-peers`) or from
 * `window.shoalConfig`.
 */
export interface ShoalConfig {
  /**
   * WebSocket URLs of WebTorrent-protocol trackers (`shoal-tracker` or any other). With none,
   * Shoal stays out of the way and every segment loads over HTTP.
   * Script tag: `data-tracker="wss://a,wss://b"`.
   * @default []
   */
  trackers: string[];
  /**
   * Namespace of the swarms: viewers only meet viewers with the same `appId`. Use one per site.
   * @default "shoal"
   */
  appId: string;
  /**
   * Most peer connections one viewer keeps open, across all its swarms.
   * @default 8
   */
  maxPeers: number;
  /**
   * Bytes of segments kept in memory to serve peers and repeated loads; least recently used
   * segments go first.
   * @default 67108864 (64 MiB)
   */
  cacheBytes: number;
  /**
   * Bytes of VOD segments kept in IndexedDB (idb-keyval) across page loads, served to peers
   * and to repeated views after a reload; least recently used go first. 0 turns it off. If
   * IndexedDB is missing or fails (private mode, quota), Shoal warns once and keeps to memory.
   * A player starting with an empty buffer waits for IndexedDB to open only if the store held
   * segments when last written (a flag in localStorage tells), so first visits do not wait.
   * @default 268435456 (256 MiB)
   */
  persistentCacheBytes: number;
  /**
   * Seconds of forward buffer held back for the HTTP fallback, at least: a peer only gets the
   * time the player can spare beyond the margin. Shoal holds back more when the CDN is slow:
   * 1.5 times the slowest of this viewer's last 8 whole-segment HTTP loads, when that is more.
   * @default 1.5
   */
  bufferSafetyMarginSec: number;
  /**
   * Seconds added to how far behind the live edge hls.js plays (its `liveSyncDuration`, by
   * default 3 target durations), so that a new live segment has that much longer to cross the
   * swarm before any player needs it. Applied only when the page set none of hls.js's
   * `liveSyncDuration`, `liveSyncDurationCount`, `liveMaxLatencyDuration` or
   * `liveMaxLatencyDurationCount` and the playlist sets no HOLD-BACK; 0 leaves hls.js's position.
   * A live peer transfer may then take 0.3 of it longer. In the simulator (1,000 viewers,
   * seeds 1 to 3) 1 s took the steady offload from 0.950 / 0.933 / 0.931 to 0.974 / 0.969 /
   * 0.964, with no stall, mostly by leaving fewer transfers still arriving when the player's
   * deadline came; in real browsers (10 viewers) it cost 1.03 s of latency, so it stays opt-in.
   * @default 0
   */
  extraLiveLatencySec: number;
  /**
   * Longest wait, for a live segment no peer has announced yet, for one to announce it before
   * fetching it from the CDN. The actual wait is random (so that one viewer goes first) and
   * never more than half of what the buffer can spare. It is short because a viewer that hears
   * of the segment anywhere in the swarm during it waits on for a peer to send it (within the
   * buffer); only those who hear nothing fetch it, and their news then stops everyone else.
   * @default 150
   */
  liveWaitMaxMs: number;
  /**
   * Shortest time a peer is given to deliver a whole segment, even with a short buffer.
   * @default 1000
   */
  minPeerTimeoutMs: number;
  /**
   * Longest time a peer is given to deliver a whole segment, however full the buffer.
   * @default 8000
   */
  maxPeerTimeoutMs: number;
  /**
   * Longest wait for the first bytes of a peer's answer before giving up on it.
   * @default 1000
   */
  peerFirstByteTimeoutMs: number;
  /**
   * Most segments this viewer uploads to peers at once. The actual number adapts to the
   * measured uplink: while a live stream plays, as many uploads as it carries at the stream's
   * pace each, two until measured; for VOD only, as many as each finish in half a segment's
   * duration, one until measured. One live request more per upload may wait for the next free
   * one; beyond that, peers are told `busy` and ask elsewhere, which spreads a new live segment
   * down a relay chain instead of queueing every viewer on the first one to have it.
   * @default 4
   */
  maxUploads: number;
  /**
   * Serve other viewers from this viewer's cache. `false` makes this viewer download-only: it
   * still gets segments from peers, and announces nothing to them.
   * @default true
   */
  upload: boolean;
  /**
   * Most bytes per second this viewer uploads to peers, all uploads together; 0 for no cap
   * (uploads still adapt to the measured uplink, see `maxUploads`).
   * @default 0
   */
  uploadBytesPerSec: number;
  /**
   * Upload on metered connections too: by default a viewer whose browser reports Save-Data or
   * a cellular or metered connection (`navigator.connection`) is download-only.
   * @default false
   */
  uploadOnMeteredConnection: boolean;
  /**
   * `RTCPeerConnection` configuration (ICE servers, TURN). Unset, trystero's public STUN
   * servers are used.
   * @default undefined
   */
  rtcConfig: RTCConfiguration | undefined;
  /**
   * Computes the swarm (room) a rendition belongs to. Override for tokenised playlist URLs so
   * that all viewers of one rendition agree.
   * @default playlist URL without query string, plus the level's bitrate, resolution and codecs
   */
  swarmId: ((rendition: SwarmIdentity) => string) | undefined;
  /**
   * Computes the id viewers use to name a segment to each other. Override for tokenised
   * segment URLs.
   * @default segment URL without query string, plus its byte range
   */
  segmentId: ((segment: SegmentIdentity) => string) | undefined;
  /**
   * How segments from peers are checked before hls.js gets them. `'tracker'`: against the
   * SHA-256 published by the tracker's integrity service (`shoal-tracker --integrity-origins`),
   * which fetches each segment once from the CDN; a segment it cannot vouch for comes over
   * HTTP. `'none'`: not checked, for trackers without the service; any peer can then show
   * viewers wrong video. Ignored when `verifySegment` is set.
   * @default "tracker"
   */
  integrity: 'tracker' | 'none';
  /**
   * URL of the integrity service.
   * @default the first tracker's host over http(s), path `/integrity`
   */
  integrityUrl: string | undefined;
  /**
   * The site's own check of a segment from a peer, e.g. against hashes it publishes itself.
   * `false` means corrupt (the peer is dropped for good, the segment comes over HTTP); a throw
   * means it could not tell (HTTP, the peer stays).
   * @default undefined
   */
  verifySegment: ((segment: SegmentToVerify) => boolean | Promise<boolean>) | undefined;
  /**
   * Log decisions (peer or HTTP, peers joining) to the console.
   * @default false
   */
  debug: boolean;
}

/** What a caller passes: any subset of {@link ShoalConfig}. */
export type ShoalOptions = Partial<ShoalConfig>;

export const defaultConfig: Readonly<ShoalConfig> = Object.freeze({
  trackers: [],
  appId: 'shoal',
  maxPeers: 8,
  cacheBytes: 64 * 1024 * 1024,
  persistentCacheBytes: 256 * 1024 * 1024,
  bufferSafetyMarginSec: 1.5,
  extraLiveLatencySec: 0,
  liveWaitMaxMs: 150,
  minPeerTimeoutMs: 1000,
  maxPeerTimeoutMs: 8000,
  peerFirstByteTimeoutMs: 1000,
  maxUploads: 4,
  upload: true,
  uploadBytesPerSec: 0,
  uploadOnMeteredConnection: false,
  rtcConfig: undefined,
  swarmId: undefined,
  segmentId: undefined,
  integrity: 'tracker',
  integrityUrl: undefined,
  verifySegment: undefined,
  debug: false,
});

/** Thrown for an option that can't be used, naming the option. */
export class ShoalConfigError extends Error {
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`Shoal config: ${option} ${message}`);
    this.name = 'ShoalConfigError';
  }
}

type Check = (name: string, value: unknown) => unknown;

const positiveInteger: Check = (name, value) => {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new ShoalConfigError(name, `must be a positive integer (got ${JSON.stringify(value)})`);
  }
  return value;
};
const nonNegativeNumber: Check = (name, value) => {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ShoalConfigError(name, `must be a number >= 0 (got ${JSON.stringify(value)})`);
  }
  return value;
};
const boolean: Check = (name, value) => {
  if (typeof value !== 'boolean') throw new ShoalConfigError(name, `must be true or false (got ${JSON.stringify(value)})`);
  return value;
};
const nonEmptyString: Check = (name, value) => {
  if (typeof value !== 'string' || value.length === 0) throw new ShoalConfigError(name, 'must be a non-empty string');
  return value;
};
const optionalFunction: Check = (name, value) => {
  if (value !== undefined && typeof value !== 'function') throw new ShoalConfigError(name, 'must be a function');
  return value;
};
const optionalObject: Check = (name, value) => {
  if (value !== undefined && (typeof value !== 'object' || value === null)) throw new ShoalConfigError(name, 'must be an object');
  return value;
};
const trackerList: Check = (name, value) => {
  const list = typeof value === 'string' ? splitList(value) : value;
  if (!Array.isArray(list)) throw new ShoalConfigError(name, 'must be a list of ws:// or wss:// URLs');
  for (const url of list) {
    if (typeof url !== 'string' || !/^wss?:\/\/[^\s]+$/i.test(url)) {
      throw new ShoalConfigError(name, `must hold ws:// or wss:// URLs (got ${JSON.stringify(url)})`);
    }
  }
  return [...list];
};

const oneOf =
  (...allowed: string[]): Check =>
  (name, value) => {
    if (typeof value !== 'string' || !allowed.includes(value)) {
      throw new ShoalConfigError(name, `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')} (got ${JSON.stringify(value)})`);
    }
    return value;
  };
const optionalHttpUrl: Check = (name, value) => {
  if (value !== undefined && (typeof value !== 'string' || !/^https?:\/\/[^\s]+$/i.test(value))) {
    throw new ShoalConfigError(name, `must be an http:// or https:// URL (got ${JSON.stringify(value)})`);
  }
  return value;
};

const checks: { [K in keyof ShoalConfig]: Check } = {
  trackers: trackerList,
  appId: nonEmptyString,
  maxPeers: positiveInteger,
  cacheBytes: positiveInteger,
  persistentCacheBytes: nonNegativeNumber,
  bufferSafetyMarginSec: nonNegativeNumber,
  extraLiveLatencySec: nonNegativeNumber,
  liveWaitMaxMs: nonNegativeNumber,
  minPeerTimeoutMs: positiveInteger,
  maxPeerTimeoutMs: positiveInteger,
  peerFirstByteTimeoutMs: positiveInteger,
  maxUploads: positiveInteger,
  upload: boolean,
  uploadBytesPerSec: nonNegativeNumber,
  uploadOnMeteredConnection: boolean,
  rtcConfig: optionalObject,
  swarmId: optionalFunction,
  segmentId: optionalFunction,
  integrity: oneOf('tracker', 'none'),
  integrityUrl: optionalHttpUrl,
  verifySegment: optionalFunction,
  debug: boolean,
};

const aliases: Record<string, keyof ShoalConfig> = { tracker: 'trackers' };

function splitList(value: string): string[] {
  return value.split(/[\s,]+/).filter(Boolean);
}

/**
 * Merges options over the defaults and validates every one.
 * @throws ShoalConfigError naming the first option that is unknown or of the wrong kind.
 */
export function resolveConfig(...layers: Array<Record<string, unknown> | undefined>): ShoalConfig {
  const config: Record<string, unknown> = { ...defaultConfig };
  for (const layer of layers) {
    if (!layer) continue;
    for (const [rawKey, value] of Object.entries(layer)) {
      const key = aliases[rawKey] ?? rawKey;
      if (!Object.hasOwn(checks, key)) throw new ShoalConfigError(rawKey, 'is not a Shoal option');
      if (value === undefined) continue;
      config[key] = checks[key as keyof ShoalConfig](key, value);
    }
  }
  if ((config.minPeerTimeoutMs as number) > (config.maxPeerTimeoutMs as number)) {
    throw new ShoalConfigError('minPeerTimeoutMs', 'must not exceed maxPeerTimeoutMs');
  }
  return config as unknown as ShoalConfig;
}

const numericKeys = new Set<string>(['maxPeers', 'maxUploads', 'uploadBytesPerSec', 'persistentCacheBytes', 'cacheBytes', 'bufferSafetyMarginSec', 'liveWaitMaxMs', 'minPeerTimeoutMs', 'maxPeerTimeoutMs', 'peerFirstByteTimeoutMs']);
const booleanKeys = new Set<string>(['upload', 'uploadOnMeteredConnection', 'debug']);

/**
 * Reads options from a script tag's `data-*` attributes (a `DOMStringMap`, keys already
 * camel-cased by the browser). Values are strings there, so numbers and booleans are parsed
 * here; anything unparsable is passed on as is for {@link resolveConfig} to reject by name.
 */
export function optionsFromDataset(dataset: Record<string, string | undefined>): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(dataset)) {
    if (raw === undefined) continue;
    if (numericKeys.has(key)) {
      const n = Number(raw);
      options[key] = raw.trim() !== '' && Number.isFinite(n) ? n : raw;
    } else if (booleanKeys.has(key)) {
      options[key] = raw === '' || raw === 'true' ? true : raw === 'false' ? false : raw;
    } else {
      options[key] = raw;
    }
  }
  return options;
}
