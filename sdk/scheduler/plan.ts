/**
 * Pure decisions for one segment: from the cache, from which peer and for how long, wait for
 * the swarm, or HTTP. No I/O and no clock here, so the browser, the unit tests and the swarm
 * simulator run the same choices.
 */

/** What the scheduler knows of a peer that announced the wanted segment. */
export interface PeerCandidate {
  id: string;
  /** True when the peer holds the whole segment; false while it is still arriving there. */
  whole: boolean;
  /** Measured delivery rate in bytes/s, undefined until a transfer from it completed. */
  throughputBytesPerSec: number | undefined;
  /** Requests to this peer still in flight. */
  activeRequests: number;
}

export interface PlanInput {
  cached: boolean;
  /** Peers that announced the segment, whole or arriving. */
  holders: PeerCandidate[];
  /** A live segment: other viewers are likely to want it at about the same moment. */
  live: boolean;
  /**
   * News reached this viewer that the segment is arriving somewhere in the swarm, though none of
   * its own peers announced it yet: one of them will offer it within a few hops.
   */
  flowing: boolean;
  /** Peers were already asked and failed (busy, absent, too slow): look for others. */
  retrying: boolean;
  /** Time already spent on this segment (waiting, failed attempts), in ms. */
  elapsedMs: number;
  /** Seconds of media buffered ahead of the playhead when the segment was asked for. */
  bufferAheadSec: number;
  bufferSafetyMarginSec: number;
  minPeerTimeoutMs: number;
  maxPeerTimeoutMs: number;
  /** Longest wait for a peer to announce a live segment nobody announced yet. */
  liveWaitMaxMs: number;
  /** Requests one peer may serve us at once. */
  maxRequestsPerPeer: number;
  /** A number in [0, 1): spreads waits and breaks ties so load spreads across peers. */
  random: number;
}

export type Plan =
  | { source: 'cache' }
  | { source: 'peer'; peerId: string; timeoutMs: number }
  | { source: 'wait'; reason: 'live-edge' | 'flowing' | 'retry'; timeoutMs: number }
  | { source: 'http'; reason: 'no-holder' | 'holders-busy' | 'no-time' };

/**
 * The whole time peers may take for a segment, counted from when it was asked for: what the
 * buffer can spare beyond the safety margin, within the configured bounds. An empty buffer
 * still gives a peer the minimum, because a peer on a good link is as fast as the CDN; the
 * first-byte timeout cuts a slow one short.
 */
export function peerTimeoutMs(input: Pick<PlanInput, 'bufferAheadSec' | 'bufferSafetyMarginSec' | 'minPeerTimeoutMs' | 'maxPeerTimeoutMs'>): number {
  const spareMs = (input.bufferAheadSec - input.bufferSafetyMarginSec) * 1000;
  return Math.round(Math.min(input.maxPeerTimeoutMs, Math.max(input.minPeerTimeoutMs, spareMs)));
}

/**
 * Best peer to ask: the fastest measured, discounted by the requests it is already serving us,
 * whether it holds the segment whole or is still receiving it (it relays as bytes arrive, and
 * under a tight uplink spreading requests matters more); a peer never measured is scored as the
 * median of those measured, so new peers get tried.
 */
export function choosePeer(holders: PeerCandidate[], maxRequestsPerPeer: number, random: number): PeerCandidate | undefined {
  const pool = holders.filter((p) => p.activeRequests < maxRequestsPerPeer);
  if (pool.length === 0) return undefined;
  const measured = pool.map((p) => p.throughputBytesPerSec).filter((t): t is number => t !== undefined).sort((a, b) => a - b);
  const assumed = measured.length > 0 ? (measured[Math.floor(measured.length / 2)] as number) : 1;
  const score = (p: PeerCandidate) => (p.throughputBytesPerSec ?? assumed) / (1 + p.activeRequests);
  const best = Math.max(...pool.map(score));
  const top = pool.filter((p) => score(p) >= best * 0.9);
  return top[Math.floor(random * top.length)];
}

/**
 * Live coordination: a live segment nobody announced yet is not fetched from the CDN at once.
 * The viewer waits a random part of what its buffer can spare (up to `liveWaitMaxMs`), and the
 * first viewer whose wait ends fetches it over HTTP and announces it as loading; news of that
 * crosses the whole swarm in a few message hops (see {@link PlanInput.flowing}), and everyone
 * who hears it waits for a peer to offer the segment instead, relaying it chunk by chunk in
 * turn. So only the few viewers who find a segment before its news reaches them pay the CDN,
 * and nobody waits past what its buffer allows.
 */
export function liveWaitMs(input: Pick<PlanInput, 'bufferAheadSec' | 'bufferSafetyMarginSec' | 'liveWaitMaxMs' | 'elapsedMs' | 'random'>): number {
  const spareMs = (input.bufferAheadSec - input.bufferSafetyMarginSec) * 1000 - input.elapsedMs;
  return Math.max(0, Math.round(input.random * Math.min(input.liveWaitMaxMs, spareMs / 2)));
}

/** A late transfer is waited for only if it would finish this much sooner than the time left allows. */
const FINISHING_RATE_HEADROOM = 1.25;

/**
 * How much longer to let a peer transfer that reached its deadline finish, in ms; 0 to take
 * the rest over HTTP now. At the stream's own pace a relayed live segment takes about its
 * duration to arrive, so many reach the deadline nearly whole (simulator, 1,000 viewers: 93 %
 * of the segments completed over HTTP had 80 % or more of their bytes in, 71 % had 90 %). Such a
 * transfer is worth waiting for while, at the rate it has arrived at so far (with headroom), the
 * rest comes before `spareMs` runs out: the time left before the buffer falls to what fetching
 * that small rest over HTTP needs.
 */
export function finishingGraceMs(input: { receivedBytes: number; totalBytes: number; receivingForMs: number; spareMs: number }): number {
  const { receivedBytes, totalBytes, receivingForMs, spareMs } = input;
  if (receivedBytes <= 0 || receivedBytes >= totalBytes || receivingForMs <= 0 || spareMs <= 0) return 0;
  const restMs = ((totalBytes - receivedBytes) / receivedBytes) * receivingForMs * FINISHING_RATE_HEADROOM;
  return restMs <= spareMs ? Math.ceil(restMs) : 0;
}

/** Shortest time worth giving a peer for a whole segment when looking again after failures. */
const MIN_RETRY_BUDGET_MS = 1000;

export function planSegmentLoad(input: PlanInput): Plan {
  if (input.cached) return { source: 'cache' };
  const budgetMs = peerTimeoutMs(input) - input.elapsedMs;
  if (input.holders.length === 0) {
    if (input.retrying) {
      // Those asked were busy or gone; others start relaying moments later. Wait for one while
      // enough time would remain for the transfer itself.
      const wait = Math.round((budgetMs - MIN_RETRY_BUDGET_MS) / 2);
      return wait > 0 ? { source: 'wait', reason: 'retry', timeoutMs: wait } : { source: 'http', reason: 'no-time' };
    }
    if (input.flowing && !(input.live && input.elapsedMs === 0)) {
      // After the short live wait: the segment is on its way through the swarm, and a peer
      // sends it as soon as an upload slot frees. Wait for one while the transfer itself would
      // still fit in the budget.
      const wait = Math.round(budgetMs - MIN_RETRY_BUDGET_MS);
      return wait > 0 ? { source: 'wait', reason: 'flowing', timeoutMs: wait } : { source: 'http', reason: 'no-time' };
    }
    if (!input.live || input.elapsedMs > 0) return { source: 'http', reason: 'no-holder' };
    const wait = liveWaitMs(input);
    return wait > 0 ? { source: 'wait', reason: 'live-edge', timeoutMs: wait } : { source: 'http', reason: 'no-holder' };
  }
  if (budgetMs <= 0) return { source: 'http', reason: 'no-time' };
  const peer = choosePeer(input.holders, input.maxRequestsPerPeer, input.random);
  if (!peer) return { source: 'http', reason: 'holders-busy' };
  return { source: 'peer', peerId: peer.id, timeoutMs: budgetMs };
}

export interface PrefetchInput {
  /** The swarm plays a live stream. */
  live: boolean;
  /** Media sequence number a peer announced the segment with, if any. */
  seq: number | undefined;
  /** Newest media sequence number this viewer's player asked for in the swarm. */
  newestRequestedSeq: number | undefined;
  /** The segment is cached here or already arriving. */
  held: boolean;
  /** How far past the player's newest request to fetch ahead. */
  lookaheadSegments: number;
}

/**
 * Live prefetch: the viewers of a live stream discover a new segment up to a target duration
 * apart (each refreshes its playlist on its own beat). Whoever holds it, or receives it, sends
 * it unasked to a peer lacking it as soon as an upload slot is free, and a viewer takes such an
 * offer of the segment its player waits for or of one just ahead of it, relaying onward as it
 * arrives. So the swarm distributes a segment from the moment the first viewer discovers it,
 * and by the time the other players ask for it, it is cached or on its way.
 */
export function shouldPrefetch(input: PrefetchInput): boolean {
  const { seq, newestRequestedSeq } = input;
  if (!input.live || seq === undefined || newestRequestedSeq === undefined || input.held) return false;
  return seq >= newestRequestedSeq && seq <= newestRequestedSeq + input.lookaheadSegments;
}

export interface UploadCapacityInput {
  /** The configured ceiling. */
  maxUploads: number;
  /** Measured rate of this viewer's uploads of whole segments, if any were made. */
  uploadBytesPerSec: number | undefined;
  /** Size and duration of the segments being played. */
  segmentBytes: number | undefined;
  segmentDurationSec: number | undefined;
  /** A live stream is playing: its viewers want each new segment at about the same moment. */
  live: boolean;
}

/**
 * Live uploads at once before the uplink is measured (most live uploads are relays, paced by
 * their source, which measure nothing): an uplink of twice the bitrate, the least a sharing
 * viewer is expected to have, carries two at the stream's pace.
 */
const UNMEASURED_LIVE_UPLOAD_SLOTS = 2;

/** A measured upload runs a little slower than the uplink (control messages share it): the slot count allows for that. */
const UPLINK_MEASURE_TOLERANCE = 1.1;

/**
 * Uploads to run at once; never more than `maxUploads`, never fewer than one.
 *
 * Live: as many as the uplink carries at the stream's own pace each (a segment per segment
 * duration), so a relay chain keeps up with playback while a new segment fans out to several
 * peers at once instead of one after another; two until the uplink has been measured.
 *
 * VOD: as many as the uplink can finish in half a segment's duration each, one until measured.
 * VOD viewers ask for segments at different moments, and each wants its own soon (a newcomer's
 * startup waits on it): one fast upload serves them better than two at half the speed.
 */
export function uploadSlotsFor(input: UploadCapacityInput): number {
  const { uploadBytesPerSec, segmentBytes, segmentDurationSec, live } = input;
  if (!uploadBytesPerSec || !segmentBytes || !segmentDurationSec) return Math.min(live ? UNMEASURED_LIVE_UPLOAD_SLOTS : 1, input.maxUploads);
  const secondsPerUpload = segmentBytes / uploadBytesPerSec;
  const slots = live ? (UPLINK_MEASURE_TOLERANCE * segmentDurationSec) / secondsPerUpload : segmentDurationSec / (2 * secondsPerUpload);
  return Math.max(1, Math.min(input.maxUploads, Math.floor(slots)));
}

/** A swarm joined less than this long ago may still be connecting to its first peers. */
export const SWARM_WARMUP_MS = 5000;

/**
 * How long to wait for a just-joined swarm's first peer before fetching over HTTP: a player
 * filling its buffer fetches many segments in the first seconds, which its swarm could serve
 * once connected. Only while the buffer can spare it (half of it), never past the warm-up.
 */
export function swarmWarmupWaitMs(input: { peerCount: number; sinceJoinMs: number; bufferAheadSec: number; bufferSafetyMarginSec: number }): number {
  if (input.peerCount > 0 || input.sinceJoinMs >= SWARM_WARMUP_MS) return 0;
  const spareMs = (input.bufferAheadSec - input.bufferSafetyMarginSec) * 1000;
  return Math.max(0, Math.round(Math.min(spareMs / 2, SWARM_WARMUP_MS - input.sinceJoinMs)));
}
