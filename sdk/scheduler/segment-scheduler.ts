import type { ShoalConfig } from '../config.ts';
import type { PartialSegment } from '../store/partial-segment.ts';
import type { Verdict } from '../integrity/verifier.ts';
import { fallbackMarginSec } from './fallback-margin.ts';
import { finishingGraceMs, peerTimeoutMs, planSegmentLoad, swarmWarmupWaitMs, type PeerCandidate } from './plan.ts';

/** A segment as the scheduler sees it: its id, its swarm, its media sequence, whether it is live. */
export interface SegmentRef {
  segmentId: string;
  swarmId: string;
  sn: number;
  live: boolean;
  /** Media duration, when the playlist gives it. */
  durationSec?: number;
}

/** The part of a swarm the scheduler uses; the simulator provides its own. */
export interface PeerSource {
  readonly peerCount: number;
  /** When this viewer joined the swarm (same clock as `now`). */
  readonly joinedAt: number;
  /** Resolves true when a first peer connects, false after `timeoutMs` or on abort. */
  waitForPeer(timeoutMs: number, signal: AbortSignal): Promise<boolean>;
  holdersOf(segmentId: string): PeerCandidate[];
  /** Whether news reached this viewer that `segmentId` is arriving somewhere in the swarm. */
  isFlowing(segmentId: string): boolean;
  /** Resolves true as soon as a peer not in `exclude` announces `segmentId`, false after `timeoutMs`. */
  waitForHolder(segmentId: string, timeoutMs: number, signal: AbortSignal, exclude: { has(peerId: string): boolean }): Promise<boolean>;
  /** How many times `peerId` offered `segmentId` to this viewer (a peer that was busy offers its freed slot). */
  offersFrom(segmentId: string, peerId: string): number;
  /** Fetches from one peer into `sink`, which others may already be reading from. */
  request(peerId: string, segmentId: string, options: PeerRequestOptions): Promise<PeerDeliveryTimes>;
  /** Receives a segment a peer offered (sent unasked as its answer `rid`) into `sink`. */
  receiveOffer(peerId: string, rid: number, segmentId: string, options: PeerRequestOptions): Promise<PeerDeliveryTimes>;
}

interface PeerRequestOptions {
  timeoutMs: number;
  firstByteTimeoutMs: number;
  signal: AbortSignal;
  sink: PartialSegment;
}

interface PeerDeliveryTimes {
  data: ArrayBuffer;
  startedAt: number;
  firstByteAt: number;
  endedAt: number;
}

/** A segment being received, visible to peers (announced as loading) until it settles. */
export interface Transfer {
  sink: PartialSegment;
  /** The segment arrived whole: cache it and announce it. */
  complete(data: ArrayBuffer): void;
  /** It did not: withdraw the announcement; readers relaying it fail over. */
  fail(): void;
}

export interface SchedulerDeps {
  config: Pick<ShoalConfig, 'bufferSafetyMarginSec' | 'minPeerTimeoutMs' | 'maxPeerTimeoutMs' | 'peerFirstByteTimeoutMs' | 'liveWaitMaxMs' | 'extraLiveLatencySec'>;
  cached(segmentId: string): ArrayBuffer | undefined;
  /** A segment kept from an earlier page load (persistent VOD cache), if any. Never rejects. */
  stored(segmentId: string): Promise<ArrayBuffer | undefined>;
  peers(swarmId: string): PeerSource | undefined;
  /**
   * Starts a transfer of `segment`. It is announced to the swarm as loading once its first
   * bytes arrive (a peer may still turn the request down before that).
   */
  openTransfer(segment: SegmentRef, announce: 'now' | 'on-first-byte'): Transfer;
  bufferAheadSec(): number;
  /** How long the slowest of the viewer's recent whole-segment HTTP loads took, if any were made. */
  slowestHttpLoadSec(): number | undefined;
  now(): number;
  random(): number;
  /** A peer attempt failed; the scheduler moves on to another peer or to HTTP. */
  peerFailed(segment: SegmentRef, peerId: string, reason: string): void;
  /** Starts getting the reference a segment from a peer will be checked against. */
  expectFromPeer(segmentId: string): void;
  /** Checks a whole segment a peer sent against a reference no peer controls. */
  verify(segmentId: string, data: ArrayBuffer): Promise<Verdict>;
  /** A peer sent a segment that failed verification: it must be dropped for good. */
  peerCorrupt(segment: SegmentRef, peerId: string): void;
}

/** A segment obtained without HTTP, with the timings hls.js is told. */
export interface NonHttpDelivery {
  source: 'cache' | 'p2p';
  data: ArrayBuffer;
  peerId?: string;
  startedAt: number;
  firstByteAt: number;
  endedAt: number;
}

/**
 * A segment a peer delivered in part before it failed or ran out of time: the sink keeps the
 * bytes it has (peers relaying them keep reading) and HTTP fetches only the rest, so a late
 * peer costs the CDN the bytes it did not send, not the whole segment. The whole is checked
 * with {@link SegmentScheduler.completeRemainder} before it is used.
 */
export interface PeerRemainder {
  source: 'http-rest';
  transfer: Transfer;
  peerId: string;
  /** Bytes the peer delivered: the first `fromPeer` bytes of the segment. */
  fromPeer: number;
}

/** Longest time a live segment may take from peers, in segment durations (see `fetchWithoutHttp`). */
const LIVE_DEADLINE_SEGMENTS = 1.15;
/**
 * Share of `extraLiveLatencySec` added to that: the extra latency is buffer a live player can
 * spend on a late peer now and then. Simulator, 1,000 viewers, extra latency 1 s: a deadline of
 * 1.15 segment durations left 1.5 % of the bytes played to HTTP as the rests of transfers still
 * arriving, 1.15 plus 0.3 s 0.4 %, with no stall.
 */
const LIVE_DEADLINE_SHARE_OF_EXTRA_LATENCY = 0.3;

/**
 * Share of the fallback margin a nearly whole transfer still leaves to HTTP when it is let run
 * past its deadline (see `finishingGraceMs`): the rest of a segment takes HTTP a fraction of
 * what the whole would.
 */
const FINISHING_MARGIN_SHARE = 0.5;

/** Peers tried for one segment before HTTP takes over (within the deadline). */
const MAX_PEER_ATTEMPTS = 8;
/** Forward buffer beyond which a VOD segment is waited for like a live one. */
const VOD_COORDINATION_BUFFER_SEC = 10;
/**
 * Longest wait of such a VOD viewer for a peer to announce a segment before fetching it over
 * HTTP. Longer than a live one (`liveWaitMaxMs`): no news of a VOD segment crosses the swarm, so
 * the wait itself is what lets one viewer go first and the others ask it.
 */
const VOD_COORDINATION_WAIT_MAX_MS = 2000;

/** Requests one peer may serve us at once. */
const MAX_REQUESTS_PER_PEER = 3;

/** Prefetched segments remembered until the player asks for them. */
const PREFETCHES_REMEMBERED = 32;

/**
 * One segment's way short of HTTP: the cache, then peers that hold it or are receiving it,
 * within the time the player's buffer can spare; for a live segment nobody announced yet, a
 * short wait for the swarm first. Every segment from a peer is verified before it is
 * returned or cached; a corrupt one drops its sender. Resolves undefined whenever HTTP must do
 * it; never rejects for a peer's fault, so no peer can turn into a player error.
 */
export class SegmentScheduler {
  /**
   * Segments prefetched from a peer into the cache that the player has not asked for yet, with
   * the peer: handing one over is a delivery from that peer, not a cache hit.
   */
  readonly #prefetchedFrom = new Map<string, string>();
  /** Prefetches under way, by segment; a player request that joins one may take it over. */
  readonly #prefetches = new Map<string, RunningPrefetch>();

  constructor(private readonly deps: SchedulerDeps) {}

  /**
   * Fetches a live segment ahead of the player from the peer that announced it, or takes the
   * one a peer offered (its answer `offerRid`); the result lands in the cache (or is dropped on
   * failure). Never rejects.
   */
  async prefetch(segment: SegmentRef, peerId: string, signal: AbortSignal, offerRid?: number): Promise<void> {
    const swarm = this.deps.peers(segment.swarmId);
    if (!swarm) return;
    const transfer = this.deps.openTransfer(segment, 'on-first-byte');
    let interrupt: () => void = () => {};
    const interrupted = new Promise<'interrupted'>((resolve) => (interrupt = () => resolve('interrupted')));
    const running: RunningPrefetch = { transfer, peerId, stop: new AbortController(), handedOver: false, startedAt: this.deps.now(), awaited: 0, interrupted };
    const stop = () => running.stop.abort();
    signal.addEventListener('abort', stop, { once: true });
    this.#prefetches.set(segment.segmentId, running);
    this.deps.expectFromPeer(segment.segmentId);
    try {
      const options = {
        timeoutMs: this.deps.config.maxPeerTimeoutMs,
        firstByteTimeoutMs: this.deps.config.peerFirstByteTimeoutMs,
        signal: running.stop.signal,
        sink: transfer.sink,
      };
      const delivery = await (offerRid === undefined
        ? swarm.request(peerId, segment.segmentId, options)
        : swarm.receiveOffer(peerId, offerRid, segment.segmentId, options));
      if ((await this.#verified(segment, peerId, delivery.data)) === 'ok') {
        transfer.complete(delivery.data);
        this.#prefetchedFrom.set(segment.segmentId, peerId);
        if (this.#prefetchedFrom.size > PREFETCHES_REMEMBERED) this.#prefetchedFrom.delete(this.#prefetchedFrom.keys().next().value as string);
      } else {
        transfer.fail();
      }
    } catch (error) {
      // A prefetch the player's request took over lives on as that request's HTTP remainder.
      // One that failed while the player waits on it (its source left, or lost its own source)
      // is handed to that request the same way: what arrived is kept, only the rest comes over
      // HTTP, and the peers relaying it from here read on instead of failing in turn. A corrupt
      // one's bytes are not kept.
      const corrupt = peerFailureOf(error) === 'corrupt';
      if (!running.handedOver && !corrupt && running.awaited > 0 && !running.stop.signal.aborted && resumable(transfer.sink)) {
        interrupt();
        // The waiting request takes it over at once; if it went away meanwhile, nobody will.
        setTimeout(() => running.handedOver || transfer.fail(), 0);
      } else if (!running.handedOver) {
        transfer.fail();
      }
    } finally {
      signal.removeEventListener('abort', stop);
      if (this.#prefetches.get(segment.segmentId) === running) this.#prefetches.delete(segment.segmentId);
    }
  }

  /**
   * Stops a prefetch the player can wait for no longer and keeps what it received for HTTP to
   * complete; undefined when it has nothing worth keeping.
   */
  #takeOver(segment: SegmentRef, running: RunningPrefetch, reason: string): PeerRemainder | undefined {
    if (!resumable(running.transfer.sink)) return undefined;
    running.handedOver = true;
    running.stop.abort();
    this.deps.peerFailed(segment, running.peerId, `${reason}: the rest comes over HTTP`);
    return { source: 'http-rest', transfer: running.transfer, peerId: running.peerId, fromPeer: running.transfer.sink.received };
  }

  /**
   * Settles a segment whose rest came over HTTP: the peer's part is verified like any peer
   * segment (the whole is checked), then the segment is cached and announced. False when it
   * must be fetched again whole, from HTTP; a corrupt part gets its sender dropped.
   */
  async completeRemainder(segment: SegmentRef, remainder: PeerRemainder, data: ArrayBuffer): Promise<boolean> {
    if ((await this.#verified(segment, remainder.peerId, data)) !== 'ok') {
      remainder.transfer.fail();
      return false;
    }
    remainder.transfer.complete(data);
    return true;
  }

  /** The peer a segment was prefetched from, if it was and the player has not had it yet; forgotten once asked. */
  #takePrefetch(segmentId: string): string | undefined {
    const peerId = this.#prefetchedFrom.get(segmentId);
    this.#prefetchedFrom.delete(segmentId);
    return peerId;
  }

  /** Verifies a peer's segment; a corrupt one gets its sender dropped, any failure is reported. */
  async #verified(segment: SegmentRef, peerId: string, data: ArrayBuffer): Promise<Verdict> {
    const verdict = await this.deps.verify(segment.segmentId, data);
    if (verdict === 'corrupt') this.deps.peerCorrupt(segment, peerId);
    else if (verdict === 'unverifiable') this.deps.peerFailed(segment, peerId, 'unverifiable: no integrity reference');
    return verdict;
  }

  async fetchWithoutHttp(segment: SegmentRef, signal: AbortSignal): Promise<NonHttpDelivery | PeerRemainder | undefined> {
    const { deps } = this;
    const startedAt = deps.now();
    // The swarm is joined even when the cache serves: what this viewer holds (kept from an
    // earlier page load, say) is announced to peers only once it is in the swarm.
    const swarm = deps.peers(segment.swarmId);
    const cachedData = deps.cached(segment.segmentId) ?? (segment.live ? undefined : await deps.stored(segment.segmentId));
    const prefetchedFrom = this.#takePrefetch(segment.segmentId);
    if (cachedData && prefetchedFrom !== undefined) return { source: 'p2p', peerId: prefetchedFrom, data: cachedData, startedAt, firstByteAt: startedAt, endedAt: deps.now() };
    if (cachedData) return { source: 'cache', data: cachedData, startedAt, firstByteAt: startedAt, endedAt: deps.now() };
    if (!swarm) return undefined;

    const bufferAheadSec = deps.bufferAheadSec();
    const bufferSafetyMarginSec = fallbackMarginSec(deps.config.bufferSafetyMarginSec, deps.slowestHttpLoadSec());
    // Live startup is latency-bound: only VOD players wait for their swarm to connect.
    const warmupMs = segment.live ? 0 : swarmWarmupWaitMs({
      peerCount: swarm.peerCount,
      sinceJoinMs: startedAt - swarm.joinedAt,
      bufferAheadSec,
      bufferSafetyMarginSec,
    });
    if (warmupMs > 0) await swarm.waitForPeer(warmupMs, signal);
    // A live player loads one segment after another: one that waits on peers much longer than a
    // segment lasts falls behind, and its buffer shrinks until the HTTP fallback has no room.
    const liveDeadlineSec = segment.durationSec && segment.durationSec * LIVE_DEADLINE_SEGMENTS + deps.config.extraLiveLatencySec * LIVE_DEADLINE_SHARE_OF_EXTRA_LATENCY;
    const maxPeerTimeoutMs = segment.live && liveDeadlineSec ? Math.min(deps.config.maxPeerTimeoutMs, Math.round(liveDeadlineSec * 1000)) : deps.config.maxPeerTimeoutMs;
    const deadline = startedAt + peerTimeoutMs({ ...deps.config, maxPeerTimeoutMs, bufferAheadSec, bufferSafetyMarginSec });
    /** A prefetch of this segment already under way: wait for it rather than start another. */
    const joinPrefetch = async (): Promise<NonHttpDelivery | PeerRemainder | 'none' | 'failed'> => {
      const running = this.#prefetches.get(segment.segmentId);
      if (!running) return 'none';
      running.awaited++;
      let settled = await Promise.race([settleWithin(running.transfer.sink, deadline - deps.now(), signal), running.interrupted]);
      if (settled === 'timeout' && !signal.aborted) {
        // Nearly whole and still arriving: its rest may come sooner than HTTP could start it.
        const { sink } = running.transfer;
        const graceMs = finishingGraceMs({
          receivedBytes: sink.received,
          totalBytes: sink.total ?? 0,
          receivingForMs: deps.now() - running.startedAt,
          spareMs: startedAt + (bufferAheadSec - bufferSafetyMarginSec * FINISHING_MARGIN_SHARE) * 1000 - deps.now(),
        });
        if (graceMs > 0) settled = await Promise.race([settleWithin(sink, graceMs, signal), running.interrupted]);
      }
      running.awaited--;
      // Another holder asked in time gives the whole segment; the prefetch's bytes are let go.
      if (settled === 'interrupted' && deadline - deps.now() >= deps.config.peerFirstByteTimeoutMs && swarm.holdersOf(segment.segmentId).some((p) => p.id !== running.peerId && !excluded.has(p.id))) return 'failed';
      if (settled === 'timeout' || settled === 'interrupted') {
        return (!signal.aborted && this.#takeOver(segment, running, settled === 'timeout' ? 'timeout' : 'source lost')) || 'failed';
      }
      const data = settled === 'complete' ? deps.cached(segment.segmentId) : undefined;
      const peerId = this.#takePrefetch(segment.segmentId);
      return data ? { source: 'p2p', ...(peerId === undefined ? {} : { peerId }), data, startedAt, firstByteAt: startedAt, endedAt: deps.now() } : 'failed';
    };
    const tried = new Set<string>();
    /** Peers that answered busy, with the offers of theirs counted when they did. */
    const busy = new Map<string, number>();
    const excluded = {
      has: (peerId: string) => tried.has(peerId) && !(swarm.offersFrom(segment.segmentId, peerId) > (busy.get(peerId) ?? Infinity)),
    };
    let waited = false;
    while (tried.size < MAX_PEER_ATTEMPTS && !signal.aborted) {
      const joined = await joinPrefetch();
      if (typeof joined === 'object') return joined;
      if (joined === 'failed' && deps.now() >= deadline) return undefined;
      const elapsedMs = deps.now() - startedAt;
      const plan = planSegmentLoad({
        cached: false,
        holders: swarm.holdersOf(segment.segmentId).filter((p) => !excluded.has(p.id)),
        // VOD viewers with a long buffer fetch far ahead, at about the same moments as the
        // viewers near them: they coordinate like live viewers.
        live: (segment.live || bufferAheadSec >= VOD_COORDINATION_BUFFER_SEC) && !waited,
        flowing: segment.live && swarm.isFlowing(segment.segmentId),
        retrying: tried.size > 0,
        elapsedMs,
        bufferAheadSec,
        bufferSafetyMarginSec,
        minPeerTimeoutMs: deps.config.minPeerTimeoutMs,
        maxPeerTimeoutMs,
        liveWaitMaxMs: segment.live ? deps.config.liveWaitMaxMs : VOD_COORDINATION_WAIT_MAX_MS,
        maxRequestsPerPeer: MAX_REQUESTS_PER_PEER,
        random: deps.random(),
      });
      if (plan.source === 'wait' && plan.reason === 'live-edge') {
        // Until a peer starts receiving it, whose relay as it arrives makes the segment cross
        // the swarm about one round trip per hop; a wait that ends first with no such peer pays
        // the CDN.
        waited = true;
        await swarm.waitForHolder(segment.segmentId, plan.timeoutMs, signal, excluded);
        continue;
      }
      if (plan.source === 'wait') {
        if (!(await swarm.waitForHolder(segment.segmentId, plan.timeoutMs, signal, excluded))) return undefined;
        continue;
      }
      if (plan.source !== 'peer' || plan.timeoutMs < deps.config.peerFirstByteTimeoutMs) return undefined;
      tried.add(plan.peerId);
      busy.delete(plan.peerId);
      const transfer = deps.openTransfer(segment, 'on-first-byte');
      deps.expectFromPeer(segment.segmentId);
      try {
        const delivery = await swarm.request(plan.peerId, segment.segmentId, {
          timeoutMs: plan.timeoutMs,
          firstByteTimeoutMs: deps.config.peerFirstByteTimeoutMs,
          signal,
          sink: transfer.sink,
        });
        const verdict = await this.#verified(segment, plan.peerId, delivery.data);
        if (verdict === 'ok') {
          transfer.complete(delivery.data);
          return { source: 'p2p', peerId: plan.peerId, ...delivery, endedAt: deps.now() };
        }
        transfer.fail();
        // Without a reference no peer's copy can be used: HTTP at once.
        if (verdict === 'unverifiable') return undefined;
        continue;
      } catch (error) {
        const failure = peerFailureOf(error);
        if (failure === 'busy') busy.set(plan.peerId, swarm.offersFrom(segment.segmentId, plan.peerId));
        deps.peerFailed(segment, plan.peerId, error instanceof Error ? error.message : String(error));
        // What a late or departed peer sent is kept; a corrupt one's bytes are not.
        if (failure !== 'corrupt' && !signal.aborted && resumable(transfer.sink)) {
          return { source: 'http-rest', transfer, peerId: plan.peerId, fromPeer: transfer.sink.received };
        }
        transfer.fail();
      }
    }
    return undefined;
  }
}

interface RunningPrefetch {
  transfer: Transfer;
  peerId: string;
  stop: AbortController;
  /** A player request took the transfer over: its failure is not the prefetch's to report. */
  handedOver: boolean;
  /** When the prefetch began (the scheduler's clock). */
  startedAt: number;
  /** Player requests waiting on it now. */
  awaited: number;
  /** Settles if it fails while a player request waits on it, with what arrived still held for that request. */
  interrupted: Promise<'interrupted'>;
}

/** Why a peer request failed, as its error says (a PeerRequestError's `failure`); the scheduler does not depend on the swarm module. */
function peerFailureOf(error: unknown): unknown {
  return (error as { failure?: unknown } | undefined)?.failure;
}

/** A transfer still arriving with some of its bytes in, worth completing over HTTP. */
function resumable(sink: PartialSegment): boolean {
  return sink.state === 'loading' && sink.total !== undefined && sink.received > 0 && sink.received < sink.total;
}

/** Waits for a transfer to settle, at most `timeoutMs`: 'timeout' if it is still arriving then. */
function settleWithin(sink: PartialSegment, timeoutMs: number, signal: AbortSignal): Promise<'complete' | 'failed' | 'timeout'> {
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => stop.abort(), timeoutMs);
  return sink.settled(stop.signal).then(
    (state) => state,
    () => 'timeout' as const,
  ).finally(() => {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  });
}
