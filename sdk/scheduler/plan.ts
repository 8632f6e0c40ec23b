/**
 * Pure decisions for one segment: from the cache, from which peer and for how long, or over
 * HTTP. No I/O and no clock here, so the browser, the unit tests and the swarm simulator run the
 * same choices.
 */

/** What the scheduler knows of a peer that announced it holds the wanted segment. */
export interface PeerCandidate {
  id: string;
  /** Measured delivery rate in bytes/s, undefined until a transfer from it completed. */
  throughputBytesPerSec: number | undefined;
  /** Requests to this peer still in flight. */
  activeRequests: number;
}

export interface PlanInput {
  cached: boolean;
  holders: PeerCandidate[];
  /** Seconds of media buffered ahead of the playhead. */
  bufferAheadSec: number;
  bufferSafetyMarginSec: number;
  minPeerTimeoutMs: number;
  maxPeerTimeoutMs: number;
  /** Requests one peer may serve us at once. */
  maxRequestsPerPeer: number;
  /** A number in [0, 1): breaks ties so load spreads across equally good peers. */
  random: number;
}

export type Plan =
  | { source: 'cache' }
  | { source: 'peer'; peerId: string; timeoutMs: number }
  | { source: 'http'; reason: 'no-holder' | 'holders-busy' };

/**
 * The time a peer may take: what the buffer can spare beyond the safety margin, within the
 * configured bounds. An empty buffer still gives a peer the minimum, because a peer on a good
 * link is as fast as the CDN; the first-byte timeout cuts a slow one short.
 */
export function peerTimeoutMs(input: Pick<PlanInput, 'bufferAheadSec' | 'bufferSafetyMarginSec' | 'minPeerTimeoutMs' | 'maxPeerTimeoutMs'>): number {
  const spareMs = (input.bufferAheadSec - input.bufferSafetyMarginSec) * 1000;
  return Math.round(Math.min(input.maxPeerTimeoutMs, Math.max(input.minPeerTimeoutMs, spareMs)));
}

/**
 * Best peer to ask: the fastest measured, discounted by the requests it is already serving us;
 * a peer never measured is scored as the median of those measured, so new peers get tried.
 */
export function choosePeer(holders: PeerCandidate[], maxRequestsPerPeer: number, random: number): PeerCandidate | undefined {
  const free = holders.filter((p) => p.activeRequests < maxRequestsPerPeer);
  if (free.length === 0) return undefined;
  const measured = free.map((p) => p.throughputBytesPerSec).filter((t): t is number => t !== undefined).sort((a, b) => a - b);
  const assumed = measured.length > 0 ? (measured[Math.floor(measured.length / 2)] as number) : 1;
  const score = (p: PeerCandidate) => (p.throughputBytesPerSec ?? assumed) / (1 + p.activeRequests);
  const best = Math.max(...free.map(score));
  const top = free.filter((p) => score(p) >= best * 0.9);
  return top[Math.floor(random * top.length)];
}

export function planSegmentLoad(input: PlanInput): Plan {
  if (input.cached) return { source: 'cache' };
  if (input.holders.length === 0) return { source: 'http', reason: 'no-holder' };
  const peer = choosePeer(input.holders, input.maxRequestsPerPeer, input.random);
  if (!peer) return { source: 'http', reason: 'holders-busy' };
  return { source: 'peer', peerId: peer.id, timeoutMs: peerTimeoutMs(input) };
}
