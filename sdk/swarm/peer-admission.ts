/**
 * The cap on peer connections of one viewer. trystero connects every pair of viewers it
 * introduces (full mesh); Shoal refuses the handshake of a connection beyond the cap, so a
 * viewer keeps at most `maxPeers` connections, pending ones included, across all its swarms.
 */
export class PeerAdmission {
  #connected = new Set<string>();
  #pending = new Map<string, number>();

  /**
   * @param maxPeers most connections, connected and pending.
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

  /** Reserves a place for a connection being negotiated; false when at the cap. */
  tryAdmit(key: string): boolean {
    this.#expirePending();
    if (this.#connected.has(key) || this.#pending.has(key)) return true;
    if (this.#connected.size + this.#pending.size >= this.maxPeers) return false;
    this.#pending.set(key, this.now());
    return true;
  }

  connected(key: string): void {
    this.#pending.delete(key);
    this.#connected.add(key);
  }

  release(key: string): void {
    this.#pending.delete(key);
    this.#connected.delete(key);
  }

  #expirePending(): void {
    const oldest = this.now() - this.pendingTtlMs;
    for (const [key, since] of this.#pending) if (since < oldest) this.#pending.delete(key);
  }
}
