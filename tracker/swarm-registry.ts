/**
 * Who is in which swarm: info_hash -> peer_id -> the socket that announced it. Pure state with
 * no I/O; the socket is an opaque handle, so this runs in unit tests with plain objects.
 *
 * A socket may be in several swarms (one peer_id each). A peer_id announced from a new socket
 * takes the entry over (a client that reconnected). Empty swarms are forgotten.
 *
 * Each swarm also indexes its peers whose socket has room for more connections (see
 * {@link SwarmRegistry.setRoom}): offers are only ever handed to those.
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
  /** Position in {@link Swarm.open}, -1 when its socket has no room. */
  openIndex: number;
}

interface Swarm<S> {
  peers: Map<string, Entry<S>>;
  /** The same entries in an array, for O(1) random picks and swap-removal. */
  order: Entry<S>[];
  /** The entries whose socket has room for more connections. */
  open: Entry<S>[];
  complete: number;
  downloaded: number;
}

/** Swarms of peers keyed by info_hash, with each socket's memberships indexed for cleanup. */
export class SwarmRegistry<S> {
  readonly #swarms = new Map<string, Swarm<S>>();
  /** socket -> info_hash -> peer_id, to drop a socket from every swarm at once. */
  readonly #memberships = new Map<S, Map<string, string>>();
  /** Sockets with no room for more connections. */
  readonly #full = new Set<S>();
  #peerCount = 0;

  /** Number of swarms with at least one peer. */
  get swarmCount(): number {
    return this.#swarms.size;
  }

  /** Number of swarm memberships: a socket in two swarms counts twice. */
  get peerCount(): number {
    return this.#peerCount;
  }

  /** Number of swarms the socket is in. */
  swarmsOf(socket: S): number {
    return this.#memberships.get(socket)?.size ?? 0;
  }

  /** The peer_id the socket announced in this swarm, if it is in it. */
  peerIdOf(socket: S, infoHash: string): string | undefined {
    return this.#memberships.get(socket)?.get(infoHash);
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
      swarm = { peers: new Map(), order: [], open: [], complete: 0, downloaded: 0 };
      this.#swarms.set(infoHash, swarm);
    }
    let entry = swarm.peers.get(peerId);
    if (entry === undefined) {
      entry = { peerId, socket, left: undefined, lastSeen: info.now, index: swarm.order.length, openIndex: -1 };
      swarm.peers.set(peerId, entry);
      swarm.order.push(entry);
      this.#peerCount++;
    } else if (entry.socket !== socket) {
      this.#unindex(entry.socket, infoHash);
      entry.socket = socket;
    }
    this.#setOpen(swarm, entry, !this.#full.has(socket));
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

  /** Removes every peer whose last announce is older than `before`; returns them. */
  expire(before: number): Array<{ infoHash: string; peer: Peer<S> }> {
    const removed: Array<{ infoHash: string; peer: Peer<S> }> = [];
    for (const [infoHash, swarm] of [...this.#swarms]) {
      for (const entry of [...swarm.order]) {
        if (entry.lastSeen < before) {
          this.#remove(infoHash, swarm, entry);
          removed.push({ infoHash, peer: entry });
        }
      }
    }
    return removed;
  }

  /**
   * Whether the socket can take more connections: a socket without room stays in its swarms
   * but is never picked by {@link pickPeers}. Sockets have room until told otherwise.
   */
  setRoom(socket: S, hasRoom: boolean): void {
    if (hasRoom) this.#full.delete(socket);
    else this.#full.add(socket);
    for (const [infoHash, peerId] of this.#memberships.get(socket) ?? []) {
      const swarm = this.#swarms.get(infoHash);
      const entry = swarm?.peers.get(peerId);
      if (swarm && entry) this.#setOpen(swarm, entry, hasRoom);
    }
  }

  /** Forgets the room flag of a socket that is gone. */
  forgetSocket(socket: S): void {
    this.dropSocket(socket);
    this.#full.delete(socket);
  }

  /** The peer with this id in this swarm, if any. */
  getPeer(infoHash: string, peerId: string): Peer<S> | undefined {
    return this.#swarms.get(infoHash)?.peers.get(peerId);
  }

  /**
   * Up to `count` distinct peers of the swarm chosen uniformly at random among those whose
   * socket has room, never `excludePeerId` (the asking peer) nor one `accept` turns down.
   * O(count) when few are turned down, whatever the swarm size: candidates are drawn by a lazy
   * Fisher-Yates shuffle, giving up after `4 * count + 16` draws.
   * @param random - source of numbers in [0, 1), injectable for tests.
   */
  pickPeers(
    infoHash: string,
    excludePeerId: string,
    count: number,
    random: () => number = Math.random,
    accept: (peer: Peer<S>) => boolean = () => true,
  ): Peer<S>[] {
    const swarm = this.#swarms.get(infoHash);
    if (swarm === undefined || count <= 0) return [];
    const pool = swarm.open;
    const picked: Peer<S>[] = [];
    /** Positions swapped so far by the shuffle: position -> index into `pool`. */
    const swapped = new Map<number, number>();
    const maxDraws = Math.min(pool.length, 4 * Math.floor(count) + 16);
    for (let draw = 0; draw < maxDraws && picked.length < count; draw++) {
      const j = draw + Math.min(Math.floor(random() * (pool.length - draw)), pool.length - draw - 1);
      const index = swapped.get(j) ?? j;
      swapped.set(j, swapped.get(draw) ?? draw);
      const entry = pool[index];
      if (entry !== undefined && entry.peerId !== excludePeerId && accept(entry)) picked.push(entry);
    }
    return picked;
  }

  /** Counts of the swarm; zeros for an unknown swarm. */
  counts(infoHash: string): SwarmCounts {
    const swarm = this.#swarms.get(infoHash);
    if (swarm === undefined) return { complete: 0, incomplete: 0, downloaded: 0 };
    return { complete: swarm.complete, incomplete: swarm.order.length - swarm.complete, downloaded: swarm.downloaded };
  }

  /** Adds the entry to, or removes it from, the swarm's peers with room. */
  #setOpen(swarm: Swarm<S>, entry: Entry<S>, open: boolean): void {
    if (open && entry.openIndex < 0) {
      entry.openIndex = swarm.open.length;
      swarm.open.push(entry);
    } else if (!open && entry.openIndex >= 0) {
      const last = swarm.open.pop();
      if (last !== undefined && last !== entry) {
        last.openIndex = entry.openIndex;
        swarm.open[entry.openIndex] = last;
      }
      entry.openIndex = -1;
    }
  }

  #remove(infoHash: string, swarm: Swarm<S>, entry: Entry<S>): void {
    this.#setOpen(swarm, entry, false);
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
