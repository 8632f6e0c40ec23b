/**
 * Who is in which swarm: info_hash -> peer_id -> the socket that announced it. Pure state with
 * no I/O; the socket is an opaque handle, so this runs in unit tests with plain objects.
 *
 * A socket may be in several swarms (one peer_id each). A peer_id announced from a new socket
 * takes the entry over (a client that reconnected). Empty swarms are forgotten.
 */

/** A peer of a swarm, as seen from outside the registry. */
export interface Peer<S> {
  readonly peerId: string;
  readonly socket: S;
  /** Bytes the peer still needs; `undefined` until it reports `left`. 0 means complete. */
  readonly left: number | undefined;
  /** Clock value of the peer's last announce. */
  readonly lastSeen: number;
}

/** What an announce tells the registry about its peer. */
export interface JoinInfo {
  /** Bytes left, when the announce says. */
  left?: number;
  /** The announce carried `event: 'completed'`: the peer is complete whatever `left` says. */
  completed?: boolean;
  /** Current clock value, compared later by {@link SwarmRegistry.expire}. */
  now: number;
}

/** Counts of one swarm, as reported in announce and scrape replies. */
export interface SwarmCounts {
  complete: number;
  incomplete: number;
  /** `completed` events seen since the swarm was created. */
  downloaded: number;
}

interface Entry<S> {
  peerId: string;
  socket: S;
  left: number | undefined;
  lastSeen: number;
  /** Position in {@link Swarm.order}. */
  index: number;
}

interface Swarm<S> {
  peers: Map<string, Entry<S>>;
  /** The same entries in an array, for O(1) random picks and swap-removal. */
  order: Entry<S>[];
  complete: number;
  downloaded: number;
}

/** Swarms of peers keyed by info_hash, with each socket's memberships indexed for cleanup. */
export class SwarmRegistry<S> {
  readonly #swarms = new Map<string, Swarm<S>>();
  /** socket -> info_hash -> peer_id, to drop a socket from every swarm at once. */
  readonly #memberships = new Map<S, Map<string, string>>();
  #peerCount = 0;

  /** Number of swarms with at least one peer. */
  get swarmCount(): number {
    return this.#swarms.size;
  }

  /** Number of swarm memberships: a socket in two swarms counts twice. */
  get peerCount(): number {
    return this.#peerCount;
  }

  /** Info hashes of all swarms. */
  infoHashes(): IterableIterator<string> {
    return this.#swarms.keys();
  }

  /** Adds the peer to the swarm, or refreshes it. Creates the swarm if needed. */
  join(infoHash: string, peerId: string, socket: S, info: JoinInfo): void {
    const previousId = this.#memberships.get(socket)?.get(infoHash);
    if (previousId !== undefined && previousId !== peerId) this.leave(infoHash, previousId, socket);

    let swarm = this.#swarms.get(infoHash);
    if (swarm === undefined) {
      swarm = { peers: new Map(), order: [], complete: 0, downloaded: 0 };
      this.#swarms.set(infoHash, swarm);
    }
    let entry = swarm.peers.get(peerId);
    if (entry === undefined) {
      entry = { peerId, socket, left: undefined, lastSeen: info.now, index: swarm.order.length };
      swarm.peers.set(peerId, entry);
      swarm.order.push(entry);
      this.#peerCount++;
    } else if (entry.socket !== socket) {
      this.#unindex(entry.socket, infoHash);
      entry.socket = socket;
    }
    this.#index(socket, infoHash, peerId);

    const wasComplete = entry.left === 0;
    if (info.completed) entry.left = 0;
    else if (info.left !== undefined) entry.left = info.left;
    const isComplete = entry.left === 0;
    if (isComplete !== wasComplete) swarm.complete += isComplete ? 1 : -1;
    if (info.completed && !wasComplete) swarm.downloaded++;
    entry.lastSeen = info.now;
  }

  /**
   * Removes the peer from the swarm if `socket` owns it (a socket cannot remove someone
   * else's peer). Returns whether a peer was removed.
   */
  leave(infoHash: string, peerId: string, socket: S): boolean {
    const swarm = this.#swarms.get(infoHash);
    const entry = swarm?.peers.get(peerId);
    if (swarm === undefined || entry === undefined || entry.socket !== socket) return false;
    this.#remove(infoHash, swarm, entry);
    return true;
  }

  /** Removes the socket's peers from every swarm. Returns how many were removed. */
  dropSocket(socket: S): number {
    const memberships = this.#memberships.get(socket);
    if (memberships === undefined) return 0;
    let removed = 0;
    for (const [infoHash, peerId] of [...memberships]) {
      if (this.leave(infoHash, peerId, socket)) removed++;
    }
    return removed;
  }

  /** Removes every peer whose last announce is older than `before`. Returns how many. */
  expire(before: number): number {
    let removed = 0;
    for (const [infoHash, swarm] of [...this.#swarms]) {
      for (const entry of [...swarm.order]) {
        if (entry.lastSeen < before) {
          this.#remove(infoHash, swarm, entry);
          removed++;
        }
      }
    }
    return removed;
  }

  /** The peer with this id in this swarm, if any. */
  getPeer(infoHash: string, peerId: string): Peer<S> | undefined {
    return this.#swarms.get(infoHash)?.peers.get(peerId);
  }

  /**
   * Up to `count` distinct peers of the swarm chosen uniformly at random, never
   * `excludePeerId` (the asking peer). O(count), whatever the swarm size.
   * @param random - source of numbers in [0, 1), injectable for tests.
   */
  pickPeers(infoHash: string, excludePeerId: string, count: number, random: () => number = Math.random): Peer<S>[] {
    const swarm = this.#swarms.get(infoHash);
    if (swarm === undefined || count <= 0) return [];
    const excluded = swarm.peers.get(excludePeerId)?.index;
    const candidates = swarm.order.length - (excluded === undefined ? 0 : 1);
    const wanted = Math.min(Math.floor(count), candidates);
    // Floyd's sampling of `wanted` distinct indices out of [0, candidates).
    const chosen = new Set<number>();
    for (let j = candidates - wanted; j < candidates; j++) {
      const t = Math.min(Math.floor(random() * (j + 1)), j);
      chosen.add(chosen.has(t) ? j : t);
    }
    const picked: Peer<S>[] = [];
    for (const i of chosen) {
      // Candidate indices skip the excluded entry's slot.
      const entry = swarm.order[excluded !== undefined && i >= excluded ? i + 1 : i];
      if (entry !== undefined) picked.push(entry);
    }
    return picked;
  }

  /** Counts of the swarm; zeros for an unknown swarm. */
  counts(infoHash: string): SwarmCounts {
    const swarm = this.#swarms.get(infoHash);
    if (swarm === undefined) return { complete: 0, incomplete: 0, downloaded: 0 };
    return { complete: swarm.complete, incomplete: swarm.order.length - swarm.complete, downloaded: swarm.downloaded };
  }

  #remove(infoHash: string, swarm: Swarm<S>, entry: Entry<S>): void {
    swarm.peers.delete(entry.peerId);
    const last = swarm.order.pop();
    if (last !== undefined && last !== entry) {
      last.index = entry.index;
      swarm.order[entry.index] = last;
    }
    if (entry.left === 0) swarm.complete--;
    this.#peerCount--;
    this.#unindex(entry.socket, infoHash);
    if (swarm.order.length === 0) this.#swarms.delete(infoHash);
  }

  #index(socket: S, infoHash: string, peerId: string): void {
    let memberships = this.#memberships.get(socket);
    if (memberships === undefined) {
      memberships = new Map();
      this.#memberships.set(socket, memberships);
    }
    memberships.set(infoHash, peerId);
  }

  #unindex(socket: S, infoHash: string): void {
    const memberships = this.#memberships.get(socket);
    if (memberships === undefined) return;
    memberships.delete(infoHash);
    if (memberships.size === 0) this.#memberships.delete(socket);
  }
}
