import type { ShoalConfig } from '../config.ts';
import { planSegmentLoad, type PeerCandidate } from './plan.ts';

/** A segment as the scheduler sees it: its id and the swarm it belongs to. */
export interface SegmentRef {
  segmentId: string;
  swarmId: string;
}

/** The part of a swarm the scheduler uses; the simulator provides its own. */
export interface PeerSource {
  holdersOf(segmentId: string): PeerCandidate[];
  request(peerId: string, segmentId: string, options: { timeoutMs: number; firstByteTimeoutMs: number; signal?: AbortSignal }): Promise<{
    data: ArrayBuffer;
    startedAt: number;
    firstByteAt: number;
    endedAt: number;
  }>;
}

export interface SchedulerDeps {
  config: Pick<ShoalConfig, 'bufferSafetyMarginSec' | 'minPeerTimeoutMs' | 'maxPeerTimeoutMs' | 'peerFirstByteTimeoutMs'>;
  cached(segmentId: string): ArrayBuffer | undefined;
  peers(swarmId: string): PeerSource | undefined;
  bufferAheadSec(): number;
  now(): number;
  random(): number;
  /** A peer attempt failed; the scheduler moves on to another peer or to HTTP. */
  peerFailed(segment: SegmentRef, peerId: string, reason: string): void;
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

/** Peers tried for one segment before HTTP takes over. */
const MAX_PEER_ATTEMPTS = 2;
/** Requests one peer may serve us at once. */
const MAX_REQUESTS_PER_PEER = 2;

/**
 * One segment's way short of HTTP: the cache, then peers that hold it, within the time the
 * player's buffer can spare. Resolves undefined whenever HTTP must do it; never rejects for a
 * peer's fault, so no peer can turn into a player error.
 */
export class SegmentScheduler {
  constructor(private readonly deps: SchedulerDeps) {}

  async fetchWithoutHttp(segment: SegmentRef, signal: AbortSignal): Promise<NonHttpDelivery | undefined> {
    const { deps } = this;
    const startedAt = deps.now();
    const cachedData = deps.cached(segment.segmentId);
    if (cachedData) return { source: 'cache', data: cachedData, startedAt, firstByteAt: startedAt, endedAt: deps.now() };
    const swarm = deps.peers(segment.swarmId);
    if (!swarm) return undefined;

    const tried = new Set<string>();
    let deadline: number | undefined;
    for (let attempt = 0; attempt < MAX_PEER_ATTEMPTS && !signal.aborted; attempt++) {
      const holders = swarm.holdersOf(segment.segmentId).filter((p) => !tried.has(p.id));
      const plan = planSegmentLoad({
        cached: false,
        holders,
        bufferAheadSec: deps.bufferAheadSec(),
        bufferSafetyMarginSec: deps.config.bufferSafetyMarginSec,
        minPeerTimeoutMs: deps.config.minPeerTimeoutMs,
        maxPeerTimeoutMs: deps.config.maxPeerTimeoutMs,
        maxRequestsPerPeer: MAX_REQUESTS_PER_PEER,
        random: deps.random(),
      });
      if (plan.source !== 'peer') return undefined;
      deadline ??= startedAt + plan.timeoutMs;
      const timeoutMs = deadline - deps.now();
      if (timeoutMs < deps.config.peerFirstByteTimeoutMs) return undefined;
      tried.add(plan.peerId);
      try {
        const delivery = await swarm.request(plan.peerId, segment.segmentId, {
          timeoutMs,
          firstByteTimeoutMs: deps.config.peerFirstByteTimeoutMs,
          signal,
        });
        return { source: 'p2p', peerId: plan.peerId, ...delivery };
      } catch (error) {
        deps.peerFailed(segment, plan.peerId, error instanceof Error ? error.message : String(error));
      }
    }
    return undefined;
  }
}
