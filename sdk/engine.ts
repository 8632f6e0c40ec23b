import { joinRoom as joinTorrentRoom } from '@trystero-p2p/torrent';
import type { JoinRoom } from '@trystero-p2p/core';
import type { FragmentLoaderConstructor, FragmentLoaderContext, HlsConfig, Level, Loader, LoaderContext } from 'hls.js';
import { resolveConfig, type ShoalConfig, type ShoalOptions } from './config.ts';
import { ShoalEvents, type ShoalEventHandler, type ShoalEventName } from './events.ts';
import { PlayerBuffer } from './hls/buffer-ahead.ts';
import { createFragmentLoaderClass } from './hls/fragment-loader.ts';
import { addLiveLatency } from './hls/live-latency.ts';
import { PlaybackStartGate } from './hls/playback-start.ts';
import { defaultSegmentId, defaultSwarmId, type SwarmIdentity } from './hls/identity.ts';
import { RecentHttpLoads } from './scheduler/fallback-margin.ts';
import { shouldPrefetch, uploadSlotsFor } from './scheduler/plan.ts';
import { SegmentScheduler, type NonHttpDelivery, type SegmentRef, type Transfer } from './scheduler/segment-scheduler.ts';
import { MemorySegmentCache } from './store/memory-cache.ts';
import { PeerAdmission } from './swarm/peer-admission.ts';
import { PersistentSegmentStore } from './store/persistent-store.ts';
import { PartialSegment } from './store/partial-segment.ts';
import { onMeteredConnection } from './swarm/metered.ts';
import { CHUNK_BYTES } from './swarm/wire.ts';
import { UploadRateLimiter } from './swarm/upload-rate.ts';
import { hookVerifier, integrityUrlOf, TrackerHashVerifier, trustingVerifier, type SegmentVerifier } from './integrity/verifier.ts';
import { Swarm } from './swarm/swarm.ts';
import { LonelySwarms, reconnectTorrentTrackers } from './swarm/tracker-reconnect.ts';
import { UploadSlots } from './swarm/upload-slots.ts';

/** The part of an `Hls` instance the engine uses. */
export interface HlsLike {
  config: HlsConfig;
  /** The options the page passed to the `Hls` constructor. */
  userConfig?: Partial<HlsConfig>;
  levels: Level[];
  media: HTMLMediaElement | null;
  /** hls.js's `on`; typed loosely so that any hls.js 1.x version's event enum fits. */
  on(event: any, listener: (...args: any[]) => void): void;
}

/** Byte and peer counters of one engine. Bytes are media payload bytes. */
export interface ShoalStats {
  /** Segment bytes loaded over HTTP through Shoal. */
  httpBytes: number;
  /** Segment bytes received from peers, including the part a peer sent of a segment whose rest came over HTTP. */
  p2pBytes: number;
  /** Segment bytes sent to peers. */
  uploadedBytes: number;
  /** Open peer connections. */
  peers: number;
  /** Segments handed to hls.js, by where they came from; one completed over HTTP after a peer's part is `http`. */
  segments: { http: number; p2p: number; cache: number };
  /** Peer attempts that failed and went to HTTP. */
  peerFallbacks: number;
  /** Segments from peers that failed verification (their senders were dropped for good). */
  corruptSegments: number;
  /** Bytes held in the memory cache. */
  cacheBytes: number;
  /** Whether this viewer serves peers now (see `upload`, `uploadOnMeteredConnection`). */
  uploading: boolean;
  /** Whether P2P runs, and if not, why. */
  p2p: 'on' | 'no-trackers' | 'no-webrtc' | 'destroyed';
}

/** What an engine can be given besides options; for tests and the simulator. */
export interface EngineDeps {
  joinRoom: JoinRoom;
  /** Opens new connections to these trackers (see sdk/swarm/tracker-reconnect.ts). */
  reconnectTrackers: (urls: readonly string[]) => void;
}

/** Live segments fetched ahead of the player: this many past its newest request. */
const LIVE_PREFETCH_LOOKAHEAD = 2;

/**
 * Requests that may queue for each upload slot before more are turned down: a viewer asking
 * for a segment has a deadline, so it gets the next free slot before any offer goes out.
 */
const UPLOAD_QUEUE_PER_SLOT = 1;

/** A destroyed engine's peer connections close this long after, unless a new engine uses them. */
const PEER_RELEASE_GRACE_MS = 5000;

/** Longest a segment load waits for the persistent cache to open. */
const STORE_OPEN_WAIT_MS = 500;

/** A swarm without peers this long reconnects to the trackers, then after twice as long, up to the second figure (see LonelySwarms). */
const LONELY_SWARM_RECONNECT_MS = [20_000, 320_000] as const;

/** Longest the first swarm join waits for playback to start, once media is buffered (see PlaybackStartGate). */
const JOIN_WAIT_FOR_PLAYBACK_MAX_MS = 1000;

/** Pending handshakes stop counting against the peer cap after this. */
const PENDING_PEER_TTL_MS = 15_000;

const live = new Set<ShoalEngine>();

/** The engines alive on this page (`Shoal.instances`). */
export function liveEngines(): ShoalEngine[] {
  return [...live];
}

/**
 * Peer-assisted delivery for one `Hls` instance: its cache, swarms, scheduler, counters and
 * events. Created by `Shoal.enable(hls)`, by a wrapped `Hls` class, or by the script tag.
 */
export class ShoalEngine {
  readonly config: ShoalConfig;
  /** The `fLoader` class to give hls.js. */
  readonly loaderClass: FragmentLoaderConstructor;
  readonly #events = new ShoalEvents();
  readonly #cache: MemorySegmentCache;
  readonly #admission: PeerAdmission;
  readonly #scheduler: SegmentScheduler;
  readonly #swarms = new Map<string, Swarm>();
  /** Which swarm each cached segment was announced in, to withdraw it on eviction. */
  readonly #swarmOfSegment = new Map<string, { swarmId: string; sn: number }>();
  /** Segments arriving now, readable by peers before they are whole. */
  readonly #arriving = new Map<string, PartialSegment>();
  /** What the player asked for in each swarm: whether it is live, the newest sequence number. */
  readonly #playback = new Map<string, { live: boolean; newestRequestedSeq: number }>();
  /** Segments of `#arriving` coming over HTTP. */
  readonly #arrivingOverHttp = new Set<string>();
  readonly #lifetime = new AbortController();
  readonly #joinRoom: JoinRoom;
  readonly #reconnectTrackers: EngineDeps['reconnectTrackers'];
  readonly #lonelySwarms = new LonelySwarms(...LONELY_SWARM_RECONNECT_MS);
  /** Swarms asked for while the player starts up, joined once it plays. */
  readonly #joinsAfterStartup = new Set<string>();
  readonly #startupGate = new PlaybackStartGate({
    maxWaitMs: JOIN_WAIT_FOR_PLAYBACK_MAX_MS,
    signal: this.#lifetime.signal,
    onOpen: () => {
      for (const swarmId of this.#joinsAfterStartup) this.#swarm(swarmId);
      this.#joinsAfterStartup.clear();
    },
  });
  #lonelyCheck: ReturnType<typeof setTimeout> | undefined;
  #hls: HlsLike | undefined;
  #playerBuffer: PlayerBuffer | undefined;
  #previousFragmentLoader: FragmentLoaderConstructor | undefined;
  /** Undoes the live latency added to hls.js's config. */
  #removeLiveLatency: () => void = () => {};
  /** The page customised HTTP loading (xhrSetup, fetchSetup, its own loaders): use hls.js's. */
  #customHttp = false;
  #p2p: ShoalStats['p2p'];
  /** What the upload slots are sized from: the measured uplink and the segments played. */
  readonly #uplink: { bytesPerSec?: number; segmentBytes?: number; segmentDurationSec?: number } = {};
  /** How long whole segments took over HTTP lately: the fallback's share of the buffer follows it. */
  readonly #httpLoads = new RecentHttpLoads();
  readonly #uploadSlots = new UploadSlots(
    () =>
      uploadSlotsFor({
        maxUploads: this.config.maxUploads,
        uploadBytesPerSec: this.#uplink.bytesPerSec,
        segmentBytes: this.#uplink.segmentBytes,
        segmentDurationSec: this.#uplink.segmentDurationSec,
        live: [...this.#playback.values()].some((playback) => playback.live),
      }),
    () => this.config.maxUploads * UPLOAD_QUEUE_PER_SLOT,
    () => this.#offerNewest(),
  );
  /** The newest live segment held or arriving in each swarm: what this viewer offers to peers. */
  readonly #newestLive = new Map<string, { segmentId: string; sn: number }>();
  #counters = { httpBytes: 0, p2pBytes: 0, uploadedBytes: 0, peerFallbacks: 0, corruptSegments: 0, segments: { http: 0, p2p: 0, cache: 0 } };
  readonly #verifier: SegmentVerifier;
  /** The persistent VOD cache once open; undefined while opening, when off or after it failed. */
  #store: PersistentSegmentStore | undefined;
  readonly #storeReady: Promise<void>;
  /** Known to stay closed (off in the config, no P2P, or it failed): nothing is copied for it. */
  #storeOff: boolean;
  readonly #uploadRate: UploadRateLimiter | undefined;

  constructor(options: ShoalOptions = {}, deps: Partial<EngineDeps> = {}) {
    this.config = resolveConfig(options as Record<string, unknown>);
    this.#joinRoom = deps.joinRoom ?? joinTorrentRoom;
    this.#reconnectTrackers = deps.reconnectTrackers ?? reconnectTorrentTrackers;
    this.#p2p = this.config.trackers.length === 0 ? 'no-trackers' : typeof RTCPeerConnection === 'undefined' ? 'no-webrtc' : 'on';
    // A segment pushed out of memory is still served from IndexedDB while it is kept there.
    this.#cache = new MemorySegmentCache(this.config.cacheBytes, (ids) => this.#withdraw(ids.filter((id) => !this.#store?.has(id))));
    this.#storeOff = this.config.persistentCacheBytes <= 0 || this.#p2p !== 'on';
    this.#storeReady = this.#openStore().finally(() => (this.#storeOff = this.#store === undefined));
    this.#admission = new PeerAdmission(this.config.maxPeers, PENDING_PEER_TTL_MS, () => performance.now());
    this.#verifier = this.#createVerifier();
    this.#uploadRate = this.config.uploadBytesPerSec > 0 ? new UploadRateLimiter(this.config.uploadBytesPerSec, CHUNK_BYTES, () => performance.now()) : undefined;
    this.#scheduler = new SegmentScheduler({
      config: this.config,
      cached: (id) => this.#cache.get(id),
      stored: (id) => this.#fromStore(id),
      peers: (swarmId) => this.#swarm(swarmId),
      openTransfer: (segment, announce) => this.#openTransfer(segment, announce),
      bufferAheadSec: () => this.#bufferAheadSec(),
      slowestHttpLoadSec: () => this.#httpLoads.slowestSec,
      now: () => performance.now(),
      random: Math.random,
      peerFailed: (segment, peerId, reason) => {
        this.#counters.peerFallbacks++;
        this.#log(`peer ${peerId} failed ${segment.segmentId}: ${reason}`);
        this.#events.emit('peer-fallback', { segmentId: segment.segmentId, peerId, reason });
      },
      expectFromPeer: (segmentId) => this.#verifier.expect(segmentId),
      verify: (segmentId, data) => this.#verifier.verify(segmentId, data),
      peerCorrupt: (segment, peerId) => {
        this.#counters.peerFallbacks++;
        this.#counters.corruptSegments++;
        this.#events.emit('peer-fallback', { segmentId: segment.segmentId, peerId, reason: 'corrupt: failed verification' });
        this.#dropForGood(peerId, `sent ${segment.segmentId} with the wrong bytes`);
      },
    });
    this.loaderClass = createFragmentLoaderClass({
      describe: (context) => this.#describe(context),
      fetchWithoutHttp: (segment, signal) => this.#scheduler.fetchWithoutHttp(segment, signal),
      completeRemainder: (segment, remainder, data) => this.#scheduler.completeRemainder(segment, remainder, data),
      openTransfer: (segment) => this.#openTransfer(segment, 'now'),
      loadedOverHttp: (segment, bytes, durationMs, fromPeer) => this.#loadedOverHttp(segment, bytes, durationMs, fromPeer),
      loadedWithoutHttp: (segment, delivery) => this.#loadedWithoutHttp(segment, delivery),
      customHttpLoader: () => (this.#customHttp ? this.#httpLoader() : undefined),
      defaultHttpLoader: () => this.#httpLoader(),
    });
    live.add(this);
  }

  #createVerifier(): SegmentVerifier {
    const { verifySegment, integrity, integrityUrl, trackers } = this.config;
    if (verifySegment) return hookVerifier(verifySegment);
    if (integrity === 'none' || trackers.length === 0) return trustingVerifier;
    return new TrackerHashVerifier(integrityUrl ?? integrityUrlOf(trackers[0] as string), (message) =>
      this.#events.emit('error', { message: `${message}: segments that peers offer come over HTTP instead` }),
    );
  }

  #httpLoader(): new (config: HlsConfig) => Loader<LoaderContext> {
    const config = this.#hls?.config;
    if (!config) throw new Error('Shoal: fragment loader used before the engine was attached to hls.js');
    return (this.#previousFragmentLoader ?? config.loader) as new (config: HlsConfig) => Loader<LoaderContext>;
  }

  /**
   * Routes an hls.js instance's fragment loads through this engine. Playlists keep loading as
   * before. A fragment loader the page configured itself is kept for the HTTP loads.
   */
  attach(hls: HlsLike): this {
    if (this.#hls) throw new Error('Shoal: this engine is already attached to an Hls instance');
    this.#hls = hls;
    this.#playerBuffer = new PlayerBuffer(hls);
    if (hls.config.fLoader !== this.loaderClass) this.#previousFragmentLoader = hls.config.fLoader;
    const defaults = (hls.constructor as { DefaultConfig?: Partial<HlsConfig> }).DefaultConfig;
    this.#customHttp =
      this.#previousFragmentLoader !== undefined ||
      hls.config.loader !== defaults?.loader ||
      hls.config.xhrSetup !== undefined ||
      hls.config.fetchSetup !== undefined;
    hls.config.fLoader = this.loaderClass;
    this.#removeLiveLatency = addLiveLatency(hls, this.config.extraLiveLatencySec);
    hls.on('hlsDestroying', () => void this.destroy());
    return this;
  }

  on<K extends ShoalEventName>(name: K, handler: ShoalEventHandler<K>): () => void {
    return this.#events.on(name, handler);
  }

  off<K extends ShoalEventName>(name: K, handler: ShoalEventHandler<K>): void {
    this.#events.off(name, handler);
  }

  stats(): ShoalStats {
    const { segments, ...bytes } = this.#counters;
    return { ...bytes, segments: { ...segments }, peers: this.#admission.connectedCount, cacheBytes: this.#cache.bytes, uploading: this.#uploading(), p2p: this.#p2p };
  }

  /** Leaves every swarm, drops the cache and hands fragment loading back to hls.js. */
  async destroy(): Promise<void> {
    if (!live.delete(this)) return;
    this.#p2p = 'destroyed';
    this.#lifetime.abort();
    clearTimeout(this.#lonelyCheck);
    if (this.#hls?.config.fLoader === this.loaderClass) this.#hls.config.fLoader = this.#previousFragmentLoader;
    this.#removeLiveLatency();
    const swarms = [...this.#swarms.values()];
    this.#swarms.clear();
    const release = {
      afterMs: PEER_RELEASE_GRACE_MS,
      // A player recreated at once meets the same peers over the same connections.
      stillWanted: (peerId: string) => [...live].some((engine) => [...engine.#swarms.values()].some((swarm) => swarm.hasPeer(peerId))),
    };
    await Promise.all(swarms.map((swarm) => swarm.close(release).catch(() => {})));
    for (const sink of this.#arriving.values()) sink.fail();
    this.#arriving.clear();
    this.#cache.clear();
    this.#swarmOfSegment.clear();
    await this.#storeReady;
    await this.#store?.close();
    this.#store = undefined;
    this.#events.clear();
  }

  #describe(context: FragmentLoaderContext): SegmentRef | undefined {
    const { frag } = context;
    if (context.part || typeof frag.sn !== 'number' || frag.type !== 'main') return undefined;
    try {
      const level: Level | undefined = this.#hls?.levels?.[frag.level];
      const rendition: SwarmIdentity = {
        playlistUrl: level?.uri ?? frag.baseurl,
        bitrate: level?.bitrate ?? 0,
        width: level?.width ?? 0,
        height: level?.height ?? 0,
        codecs: level?.codecs ?? '',
      };
      const swarmId = (this.config.swarmId ?? defaultSwarmId)(rendition);
      const range = frag.byteRange;
      const segmentId = (this.config.segmentId ?? defaultSegmentId)({
        url: context.url,
        byteRange: range.length === 2 ? [range[0], range[1]] : undefined,
        sn: frag.sn,
        swarmId,
      });
      const live = level?.details?.live === true;
      if (frag.duration > 0) this.#uplink.segmentDurationSec = frag.duration;
      const playback = this.#playback.get(swarmId);
      if (!playback || frag.sn > playback.newestRequestedSeq || playback.live !== live) {
        this.#playback.set(swarmId, { live, newestRequestedSeq: Math.max(frag.sn, playback?.newestRequestedSeq ?? -1) });
      }
      return { swarmId, segmentId, sn: frag.sn, live, ...(frag.duration > 0 ? { durationSec: frag.duration } : {}) };
    } catch (error) {
      this.#events.emit('error', { message: 'swarmId or segmentId hook threw; loading over HTTP', error });
      return undefined;
    }
  }

  /**
   * The swarm of a rendition, joined on first use once the player has media buffered and, for
   * the first join, has started playing: the first segments come over HTTP anyway (no peer is
   * connected yet), and joining (WebSocket, offers, ICE) must not compete with them or with the
   * start of playback for the main thread.
   */
  #swarm(swarmId: string): Swarm | undefined {
    if (this.#p2p !== 'on') return undefined;
    const existing = this.#swarms.get(swarmId);
    if (existing) return existing;
    const media = this.#hls?.media;
    if (this.#bufferAheadSec() <= 0 && media) return undefined;
    if (!this.#startupGate.isOpen(media)) {
      this.#joinsAfterStartup.add(swarmId);
      return undefined;
    }
    try {
      const swarm = this.#joinSwarm(swarmId);
      this.#swarms.set(swarmId, swarm);
      this.#lonelySwarms.alone(swarmId, performance.now());
      this.#watchForLoneliness();
      for (const [segmentId, held] of this.#swarmOfSegment) if (held.swarmId === swarmId) swarm.announce(segmentId, held.sn);
      for (const id of this.#store?.idsOfSwarm(swarmId) ?? []) this.#announceStored(swarm, swarmId, id);
      return swarm;
    } catch (error) {
      this.#events.emit('error', { message: `could not join swarm ${swarmId}`, error });
      return undefined;
    }
  }

  /**
   * Reconnects to the trackers once a swarm has been without peers for a while: a pairing the
   * tracker took for a connection may have failed (see sdk/swarm/tracker-reconnect.ts). Then
   * again after twice as long, and so on, while one stays without.
   */
  #watchForLoneliness(): void {
    if (this.#lonelyCheck !== undefined || this.#p2p !== 'on') return;
    const dueInMs = this.#lonelySwarms.nextCheckInMs(performance.now());
    if (dueInMs === undefined) return;
    this.#lonelyCheck = setTimeout(() => {
      this.#lonelyCheck = undefined;
      if (this.#p2p !== 'on') return;
      if (this.#lonelySwarms.reconnectDue(performance.now())) {
        this.#log('a swarm has had no peer for a while: reconnecting to the trackers');
        this.#reconnectTrackers(this.config.trackers);
      }
      this.#watchForLoneliness();
    }, dueInMs);
  }

  #joinSwarm(swarmId: string): Swarm {
    const room = this.#joinRoom(
      {
        appId: this.config.appId,
        relayConfig: { urls: this.config.trackers },
        ...(this.config.rtcConfig ? { rtcConfig: this.config.rtcConfig } : {}),
      },
      swarmId,
      {
        onPeerHandshake: async (peerId) => {
          if (!this.#admission.tryAdmit(peerId)) throw new Error('peer cap reached');
        },
        onJoinError: (details) => {
          this.#admission.abandon(details.peerId);
          this.#log(`handshake with ${details.peerId} failed: ${details.error}`);
        },
      },
    );
    return new Swarm(swarmId, room, {
      uploadSlots: this.#uploadSlots,
      source: (segmentId) => this.#cache.get(segmentId) ?? this.#arriving.get(segmentId) ?? this.#storedSource(segmentId),
      upload: () => this.#uploading(),
      live: () => this.#playback.get(swarmId)?.live === true,
      ...(this.#uploadRate ? { uploadRate: this.#uploadRate } : {}),
      now: () => performance.now(),
      listener: {
        peerConnected: (peerId) => {
          this.#lonelySwarms.joined(swarmId);
          this.#admission.connected(peerId);
          this.#log(`peer ${peerId} connected in ${swarmId}`);
          this.#events.emit('peer-connected', { peerId, swarmId });
        },
        peerDisconnected: (peerId) => {
          this.#admission.disconnected(peerId);
          this.#events.emit('peer-disconnected', { peerId, swarmId });
          if (this.#swarms.get(swarmId)?.peerCount === 0) this.#lonelySwarms.alone(swarmId, performance.now());
          this.#watchForLoneliness();
        },
        uploaded: (peerId, bytes) => {
          this.#counters.uploadedBytes += bytes;
          this.#events.emit('segment-uploaded', { peerId, bytes });
        },
        uploadedWhole: (bytes, durationMs) => {
          const sample = bytes / Math.max(durationMs / 1000, 0.001);
          this.#uplink.bytesPerSec = this.#uplink.bytesPerSec === undefined ? sample : 0.7 * this.#uplink.bytesPerSec + 0.3 * sample;
        },
        misbehaved: (peerId, reason) => this.#dropForGood(peerId, reason),
        offered: (peerId, segmentId, seq, rid) => this.#takeOffer(swarmId, peerId, segmentId, seq, rid),
        unresponsive: (peerId) => this.#log(`peer ${peerId} said nothing since it connected in ${swarmId}: its side never opened; connection closed`),
      },
    });
  }

  /**
   * Makes a segment being received visible to peers, who may ask for it and get its bytes
   * relayed as they arrive; settles into the cache, or is withdrawn.
   */
  #openTransfer(segment: SegmentRef, announce: 'now' | 'on-first-byte'): Transfer {
    const { segmentId, swarmId, sn } = segment;
    const sink = new PartialSegment();
    this.#arriving.get(segmentId)?.fail();
    this.#arriving.set(segmentId, sink);
    if (announce === 'now') this.#arrivingOverHttp.add(segmentId);
    else this.#arrivingOverHttp.delete(segmentId);
    const swarm = this.#swarm(swarmId);
    const announceLoading = () => {
      swarm?.announceLoading(segmentId, sn);
      if (segment.live && sn >= (this.#newestLive.get(swarmId)?.sn ?? -1)) {
        this.#newestLive.set(swarmId, { segmentId, sn });
        this.#offerNewest();
      }
    };
    if (announce === 'now') announceLoading();
    else sink.size().then(() => sink.state === 'loading' && announceLoading(), () => {});
    const settle = () => {
      if (this.#arriving.get(segmentId) !== sink) return;
      this.#arriving.delete(segmentId);
      this.#arrivingOverHttp.delete(segmentId);
    };
    /** What was announced as arriving here is not coming, unless a copy is cached already. */
    const withdrawUnlessCached = () => {
      if (!this.#cache.has(segmentId)) swarm?.withdraw([segmentId]);
    };
    return {
      sink,
      complete: (data) => {
        if (sink.state !== 'loading') return;
        const whole = sink.complete();
        settle();
        if (!whole) return withdrawUnlessCached();
        this.#uplink.segmentBytes = data.byteLength;
        // A copy: hls.js may transfer the buffer it gets to its worker before the write runs.
        if (!segment.live && !this.#storeOff) {
          const copy = data.slice(0);
          void this.#storeReady.then(() => this.#store && !this.#store.has(segmentId) && this.#store.put(segmentId, copy, { swarmId }));
        }
        if (this.#cache.put(segmentId, data)) {
          this.#swarmOfSegment.set(segmentId, { swarmId, sn });
          swarm?.announce(segmentId, sn);
        } else {
          swarm?.withdraw([segmentId]);
        }
      },
      fail: () => {
        if (sink.state !== 'loading') return;
        sink.fail();
        settle();
        withdrawUnlessCached();
      },
    };
  }

  async #openStore(): Promise<void> {
    if (this.#storeOff) return;
    // Not before the page had a chance to listen for this engine's 'error' events.
    await new Promise((resolve) => setTimeout(resolve, 0));
    let store: PersistentSegmentStore | undefined;
    try {
      store = await this.#openStoreOrWarn();
    } catch (error) {
      // A browser may throw even on reading `indexedDB` (blocked storage).
      this.#warnStoreOff(error instanceof Error ? error.message : String(error));
    }
    if (!store) return;
    if (!live.has(this)) {
      await store.close();
      return;
    }
    this.#store = store;
    // Swarms joined before the store opened learn what it holds from an earlier page load.
    for (const [swarmId, swarm] of this.#swarms) for (const id of store.idsOfSwarm(swarmId)) this.#announceStored(swarm, swarmId, id);
  }

  #warnStoreOff(message: string): void {
    console.warn(`Shoal: persistent cache off, memory only: ${message}`);
    this.#events.emit('error', { message: `persistent cache off, memory only: ${message}` });
  }

  #openStoreOrWarn(): Promise<PersistentSegmentStore | undefined> {
    return PersistentSegmentStore.open({
      quotaBytes: this.config.persistentCacheBytes,
      onWarning: (message) => this.#warnStoreOff(message),
      onEvict: (ids) => this.#withdraw(ids.filter((id) => !this.#cache.has(id))),
    });
  }

  #announceStored(swarm: Swarm, swarmId: string, segmentId: string): void {
    if (!this.#swarmOfSegment.has(segmentId)) this.#swarmOfSegment.set(segmentId, { swarmId, sn: 0 });
    swarm.announce(segmentId, this.#swarmOfSegment.get(segmentId)?.sn ?? 0);
  }

  /** A VOD segment from the persistent cache, back into memory. */
  async #fromStore(segmentId: string): Promise<ArrayBuffer | undefined> {
    // A player with nothing to play yet waits for IndexedDB only if the store held segments
    // when last written: in bench:startup (VOD, 24 runs), waiting on every first visit cost a
    // median 48 ms and up to 700 ms while other viewers loaded the machine.
    if (!this.#store && this.#bufferAheadSec() <= 0 && !PersistentSegmentStore.mayHoldSegments()) return undefined;
    // IndexedDB opens in tens of ms; a browser that hangs on it must not hold the player up.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.#storeReady, new Promise((resolve) => (timer = setTimeout(resolve, STORE_OPEN_WAIT_MS)))]);
    clearTimeout(timer);
    if (!this.#store?.has(segmentId)) return undefined;
    const data = await this.#store.get(segmentId);
    if (data && live.has(this)) this.#cache.put(segmentId, data.slice(0));
    return data;
  }

  /** A segment only in the persistent cache, readable by a peer as IndexedDB delivers it. */
  #storedSource(segmentId: string): PartialSegment | undefined {
    if (!this.#store?.has(segmentId)) return undefined;
    const sink = new PartialSegment();
    void this.#store.get(segmentId).then((data) => {
      if (!data) return sink.fail();
      sink.start(data.byteLength);
      sink.append(new Uint8Array(data));
      sink.complete();
    });
    return sink;
  }

  /** Serving peers now: allowed by the config, and not on a metered connection unless allowed there too. */
  #uploading(): boolean {
    return this.config.upload && (this.config.uploadOnMeteredConnection || !onMeteredConnection());
  }

  /** A peer that sent corrupt or malformed data: disconnected in every swarm, never admitted again. */
  #dropForGood(peerId: string, reason: string): void {
    if (this.#admission.isBanned(peerId)) return;
    this.#admission.ban(peerId);
    for (const swarm of this.#swarms.values()) swarm.disconnect(peerId);
    this.#log(`peer ${peerId} dropped: ${reason}`);
    this.#events.emit('error', { message: `peer ${peerId} dropped: ${reason}` });
  }

  /** Offers the newest live segment of each swarm to peers lacking it, one per free upload slot. */
  #offerNewest(): void {
    if (!this.#uploading()) return;
    for (const [swarmId, newest] of this.#newestLive) {
      const swarm = this.#swarms.get(swarmId);
      if (!swarm || !(this.#cache.has(newest.segmentId) || this.#arriving.has(newest.segmentId))) continue;
      for (let free = this.#uploadSlots.free; free > 0 && swarm.offer(newest.segmentId, newest.sn); free--);
    }
  }

  /** A peer is sending a segment unasked: take it ahead of the player if it is the live edge. */
  #takeOffer(swarmId: string, peerId: string, segmentId: string, seq: number, rid: number): boolean {
    const playback = this.#playback.get(swarmId);
    const prefetch = shouldPrefetch({
      live: playback?.live === true,
      seq,
      newestRequestedSeq: playback?.newestRequestedSeq,
      // A request still waiting for its first byte (its peer may answer busy) gives way to
      // bytes already on their way; one over HTTP does not.
      held: this.#cache.has(segmentId) || this.#arrivingOverHttp.has(segmentId) || this.#arriving.get(segmentId)?.total !== undefined,
      lookaheadSegments: LIVE_PREFETCH_LOOKAHEAD,
    });
    if (!prefetch) return false;
    this.#log(`taking ${segmentId} from ${peerId}`);
    void this.#scheduler.prefetch({ segmentId, swarmId, sn: seq, live: true }, peerId, this.#lifetime.signal, rid);
    return true;
  }

  #withdraw(segmentIds: string[]): void {
    for (const id of segmentIds) {
      const swarmId = this.#swarmOfSegment.get(id)?.swarmId;
      this.#swarmOfSegment.delete(id);
      if (swarmId) this.#swarms.get(swarmId)?.withdraw([id]);
    }
  }

  #loadedOverHttp(segment: SegmentRef | undefined, bytes: number, durationMs: number, fromPeer?: { peerId: string; bytes: number }): void {
    this.#counters.httpBytes += bytes;
    if (fromPeer) this.#counters.p2pBytes += fromPeer.bytes;
    if (!segment) return;
    if (!fromPeer) this.#httpLoads.record(durationMs);
    this.#counters.segments.http++;
    const peerPart = fromPeer ? { peerId: fromPeer.peerId, peerBytes: fromPeer.bytes } : {};
    this.#events.emit('segment-loaded', { segmentId: segment.segmentId, source: 'http', bytes: bytes + (fromPeer?.bytes ?? 0), durationMs, ...peerPart });
  }

  #loadedWithoutHttp(segment: SegmentRef, delivery: NonHttpDelivery): void {
    const bytes = delivery.data.byteLength;
    if (delivery.source === 'p2p') {
      this.#counters.p2pBytes += bytes;
      this.#counters.segments.p2p++;
    } else {
      this.#counters.segments.cache++;
    }
    this.#events.emit('segment-loaded', {
      segmentId: segment.segmentId,
      source: delivery.source,
      bytes,
      durationMs: delivery.endedAt - delivery.startedAt,
      ...(delivery.peerId ? { peerId: delivery.peerId } : {}),
    });
  }

  #bufferAheadSec(): number {
    return this.#playerBuffer?.aheadSec() ?? 0;
  }

  #log(message: string): void {
    if (this.config.debug) console.info(`[shoal] ${message}`);
  }
}
