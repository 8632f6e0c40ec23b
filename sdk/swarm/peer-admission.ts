/**
 * The cap on peer connections of one viewer. trystero connects every pair of viewers it
 * introduces (full mesh); Shoal refuses the handshake of a connection beyond the cap, so a
 * viewer keeps at most `maxPeers` peers, pending ones included. trystero shares one connection
 * per remote peer across rooms, so a peer met in two swarms counts once.
 */
export class PeerAdmission {
  /** Connected peers, with the number of swarms each is connected in. */
  #connected = new Map<string, number>();
  #pending = new Map<string, number>();
  /** Peers dropped for misbehaving: never admitted again. */
  #banned = new Set<string>();

  /**
   * @param maxPeers most peers, connected and pending.
   * @param pendingTtlMs a pending admission that never connected stops counting after this.
   * @param now clock in ms.
   */
  constructor(
    readonly maxPeers: number,
    private readonly pendingTtlMs: number,
    private readonly now: () => number,
  ) {}

  get connectedCount(): number {
    return this.#connected.size;
  }

  /** Reserves a place for a peer being negotiated; false when at the cap. */
  tryAdmit(peerId: string): boolean {
    if (this.#banned.has(peerId)) return false;
    this.#expirePending();
    if (this.#connected.has(peerId) || this.#pending.has(peerId)) return true;
    if (this.#connected.size + this.#pending.size >= this.maxPeers) return false;
    this.#pending.set(peerId, this.now());
    return true;
  }

  /** The peer connected in one more swarm. */
  connected(peerId: string): void {
    this.#pending.delete(peerId);
    this.#connected.set(peerId, (this.#connected.get(peerId) ?? 0) + 1);
  }

  /** The peer left one swarm; its place is free once it left all of them. */
  disconnected(peerId: string): void {
    const swarms = (this.#connected.get(peerId) ?? 0) - 1;
    if (swarms > 0) this.#connected.set(peerId, swarms);
    else this.#connected.delete(peerId);
  }

  /** The peer sent corrupt or malformed data: it is refused from now on. */
  ban(peerId: string): void {
    this.#banned.add(peerId);
    this.#pending.delete(peerId);
  }

  isBanned(peerId: string): boolean {
    return this.#banned.has(peerId);
  }

  /** A negotiation failed: frees its pending place. */
  abandon(peerId: string): void {
    this.#pending.delete(peerId);
  }

  #expirePending(): void {
    const oldest = this.now() - this.pendingTtlMs;
    for (const [peerId, since] of this.#pending) if (since < oldest) this.#pending.delete(peerId);
  }
}
