/**
 * Who the tracker has paired with whom, so that no client is handed more WebRTC connections
 * than it can take. Pure state, no I/O: the client handle is opaque (a socket in the server,
 * a plain object in tests).
 *
 * Relaying an offer from A to B reserves one connection slot on both until B answers (the pair
 * becomes partners) or the reservation expires unanswered. A client with `cap` partners plus
 * reservations gets no more offers; one with `cap - headroom` or more stops having its own
 * offers relayed. That headroom keeps room for newcomers: if everyone filled up by offering to
 * each other, a late joiner would find nobody left to connect to, and the early joiners could
 * close into groups with no link out. Pairs end when either client leaves the swarm they were
 * paired in.
 */

export interface PairingOptions {
  /** Connections one client may be handed, across all its swarms. */
  cap: number;
  /** Slots below `cap` where a client stops initiating (its offers are no longer relayed). */
  headroom: number;
  /** An offer not answered within this long frees the slots it reserved. */
  reservationTtlMs: number;
}

interface Link<C> {
  other: C;
  swarm: string;
  /** Who sent the offer. */
  offerer: C;
  /** Offer id while reserved; undefined once answered. */
  offerId: string | undefined;
  /** Clock value after which an unanswered reservation is void. */
  expiresAt: number;
  /** Clock value when the offer was answered; undefined while reserved. */
  pairedAt: number | undefined;
}

/** Connection slots per client: partners (answered offers) and reservations (pending ones). */
export class PairingBook<C> {
  readonly #links = new Map<C, Link<C>[]>();

  /**
   * @param onRoomChange - called when a client's `hasRoom` flips, so the caller can keep an
   *   index of clients that can take offers.
   */
  constructor(
    readonly options: PairingOptions,
    private readonly onRoomChange: (client: C, hasRoom: boolean) => void = () => {},
  ) {
    if (!(options.cap >= 1)) throw new RangeError('cap must be at least 1');
    if (!(options.headroom >= 0 && options.headroom < options.cap)) throw new RangeError('headroom must be in [0, cap)');
  }

  /** Partners plus reservations. */
  slotsUsed(client: C): number {
    return this.#links.get(client)?.length ?? 0;
  }

  /** Answered pairs only. */
  partners(client: C): C[] {
    return (this.#links.get(client) ?? []).filter((l) => l.offerId === undefined).map((l) => l.other);
  }

  /** The client can be offered one more connection. */
  hasRoom(client: C): boolean {
    return this.slotsUsed(client) < this.options.cap;
  }

  /** How many of its own offers may be relayed now. */
  offersAllowed(client: C): number {
    return Math.max(0, this.options.cap - this.options.headroom - this.slotsUsed(client));
  }

  /** The two are partners in `swarm`. */
  paired(a: C, b: C, swarm: string): boolean {
    return this.pairedAt(a, b, swarm) !== undefined;
  }

  /** Number of answered pairs in `swarm`, without building the list. */
  partnerCount(client: C, swarm: string): number {
    let count = 0;
    for (const l of this.#links.get(client) ?? []) if (l.offerId === undefined && l.swarm === swarm) count++;
    return count;
  }

  /** When the two became partners in `swarm`; undefined if they are not. */
  pairedAt(a: C, b: C, swarm: string): number | undefined {
    return (this.#links.get(a) ?? []).find((l) => l.other === b && l.swarm === swarm && l.offerId === undefined)?.pairedAt;
  }

  /**
   * An offer from `offerer` to `receiver` would be redundant: one of `offerer`'s to `receiver`
   * is pending in `swarm`. One pending the other way does not count: when both offer at once,
   * WebRTC clients such as trystero ignore the offer of the peer with the higher id and expect
   * theirs to be answered, so it must get through. Nor does a partnership: trystero leaves a
   * room without telling the tracker, and a player that rejoins must be able to reconnect.
   */
  offerRedundant(offerer: C, receiver: C, swarm: string): boolean {
    return (this.#links.get(offerer) ?? []).some((l) => l.other === receiver && l.swarm === swarm && l.offerId !== undefined && l.offerer === offerer);
  }

  /** An offer from `offerer` was relayed to `receiver`: one slot reserved on each side. */
  reserve(offerer: C, receiver: C, swarm: string, offerId: string, now: number): void {
    const expiresAt = now + this.options.reservationTtlMs;
    this.#add(offerer, { other: receiver, swarm, offerer, offerId, expiresAt, pairedAt: undefined });
    this.#add(receiver, { other: offerer, swarm, offerer, offerId, expiresAt, pairedAt: undefined });
  }

  /**
   * `answerer` answered `offerer`'s offer `offerId`. Returns false, changing nothing, when the
   * answer must not be relayed: no such reservation and one of the two has no room left (a
   * reservation that expired, or an answer nobody asked for).
   */
  answer(answerer: C, offerer: C, swarm: string, offerId: string, now: number): boolean {
    const mine = this.#links.get(answerer)?.find((l) => l.other === offerer && l.offerId === offerId);
    const theirs = this.#links.get(offerer)?.find((l) => l.other === answerer && l.offerId === offerId);
    if (mine && theirs) {
      mine.offerId = theirs.offerId = undefined;
      mine.pairedAt = theirs.pairedAt = now;
      // An offer still pending the other way (both offered at once) is moot now.
      this.#dropPending(answerer, offerer, swarm);
      return true;
    }
    if (this.paired(answerer, offerer, swarm)) return true;
    this.#dropPending(answerer, offerer, swarm);
    if (!this.hasRoom(answerer) || !this.hasRoom(offerer)) return false;
    this.#add(answerer, { other: offerer, swarm, offerer, offerId: undefined, expiresAt: Infinity, pairedAt: now });
    this.#add(offerer, { other: answerer, swarm, offerer, offerId: undefined, expiresAt: Infinity, pairedAt: now });
    return true;
  }

  /** The client left `swarm` (or, without `swarm`, disconnected): its pairs there end. */
  leave(client: C, swarm?: string): void {
    for (const link of [...(this.#links.get(client) ?? [])]) {
      if (swarm === undefined || link.swarm === swarm) this.#unlink(client, link.other, link.swarm);
    }
  }

  /** Voids reservations that expired unanswered. */
  expire(now: number): void {
    for (const [client, links] of [...this.#links]) {
      for (const link of links.filter((l) => l.offerId !== undefined && l.expiresAt <= now)) {
        const same = (l: Link<C>) => l.swarm === link.swarm && l.offerId === link.offerId && l.offerer === link.offerer;
        this.#removeWhere(client, (l) => l.other === link.other && same(l));
        this.#removeWhere(link.other, (l) => l.other === client && same(l));
      }
    }
  }

  #removeWhere(client: C, match: (link: Link<C>) => boolean): void {
    const links = this.#links.get(client);
    const index = links?.findIndex(match) ?? -1;
    if (!links || index < 0) return;
    const before = this.hasRoom(client);
    links.splice(index, 1);
    if (links.length === 0) this.#links.delete(client);
    if (before !== this.hasRoom(client)) this.onRoomChange(client, !before);
  }

  /** Ends the reservations between the two in `swarm`, keeping their partnership. */
  #dropPending(a: C, b: C, swarm: string): void {
    for (const [x, y] of [[a, b], [b, a]] as const) {
      const links = this.#links.get(x);
      if (!links) continue;
      const before = this.hasRoom(x);
      const kept = links.filter((l) => !(l.other === y && l.swarm === swarm && l.offerId !== undefined));
      if (kept.length === links.length) continue;
      if (kept.length === 0) this.#links.delete(x);
      else this.#links.set(x, kept);
      if (before !== this.hasRoom(x)) this.onRoomChange(x, !before);
    }
  }

  #add(client: C, link: Link<C>): void {
    const before = this.hasRoom(client);
    let links = this.#links.get(client);
    if (!links) this.#links.set(client, (links = []));
    links.push(link);
    if (before !== this.hasRoom(client)) this.onRoomChange(client, !before);
  }

  #unlink(a: C, b: C, swarm: string): void {
    this.#remove(a, b, swarm);
    this.#remove(b, a, swarm);
  }

  #remove(client: C, other: C, swarm: string): void {
    this.#removeWhere(client, (l) => l.other === other && l.swarm === swarm);
  }
}
