/**
 * Offers the tracker keeps after relaying an announce, so it can hand them to peers that
 * arrive later. Pure state, no I/O: the client handle is opaque (a socket in the server, a
 * plain object in tests).
 *
 * Why: trystero ignores an offer from a peer whose id sorts above its own whenever it has
 * offers of its own outstanding, which in the torrent strategy is always. A newcomer whose id
 * sorts above an existing peer's can therefore only connect to it by answering one of that
 * peer's offers, and trystero announces (with offers) only every tracker interval. The offers a
 * peer announced stay valid for a while, so the tracker keeps them and hands one to such a
 * newcomer at once.
 *
 * How long an offer stays valid depends on the client. trystero keeps a pool of offers and
 * sends the same ones again in each announce until they are answered, dropping them once
 * older than 120 s; WebTorrent clients make new offers each announce and drop them after 50 s.
 * A client that sends an offer id twice is taken for a pooling one: its offers are handed out
 * up to {@link OfferShelfOptions.pooledTtlMs} after they were first seen. Any other offer is
 * handed out up to {@link OfferShelfOptions.freshTtlMs} after it was last seen.
 *
 * Each offer is relayed at most once, whether when it was announced or later from the shelf:
 * a second answer to it would find the offer claimed and leave its answerer waiting.
 *
 * Memory is bounded: at most `maxOffersPerShelf` offers per client and swarm, and
 * `maxBytes` in all. An offer beyond either is not kept; it can still be relayed when
 * announced, only not remembered.
 */

export interface OfferShelfOptions {
  /** An offer of a client that sends offers again is handed out up to this long after it was first seen. */
  pooledTtlMs: number;
  /** Any other offer is handed out up to this long after it was last announced. */
  freshTtlMs: number;
  /** Offers kept per client and swarm (trystero keeps 3 out). */
  maxOffersPerShelf: number;
  /** Bytes of offers kept in all, as measured by `sizeOf`. */
  maxBytes: number;
  sizeOf: (offer: unknown) => number;
}

/** One announced offer, as the tracker relays it. */
export interface ShelvedOffer<O> {
  offerId: string;
  /** The offer itself, relayed unchanged. */
  offer: O;
}

interface Kept<O> extends ShelvedOffer<O> {
  bytes: number;
  firstSeen: number;
  lastSeen: number;
  relayed: boolean;
}

interface Shelf<O> {
  peerId: string;
  offers: Kept<O>[];
}

/** Offers per client and swarm, each relayed at most once. */
export class OfferShelf<C, O> {
  /** client -> swarm -> that client's offers there. */
  readonly #shelves = new Map<C, Map<string, Shelf<O>>>();
  /** Clients seen sending an offer id a second time. */
  readonly #pooling = new Set<C>();
  /** Clients seen announcing only new offers after announcing some. */
  readonly #renewing = new Set<C>();
  #bytes = 0;

  constructor(readonly options: OfferShelfOptions) {}

  /**
   * The offers `client` announced as `peerId` in `swarm` now. They replace the ones it
   * announced before: an offer missing from an announce was answered or dropped by the client.
   * Returns those of them never relayed, once each, in the order announced.
   */
  shelve(client: C, swarm: string, peerId: string, offers: ShelvedOffer<O>[], now: number): ShelvedOffer<O>[] {
    let swarms = this.#shelves.get(client);
    if (!swarms) this.#shelves.set(client, (swarms = new Map()));
    const before = swarms.get(swarm);
    for (const o of before?.offers ?? []) this.#bytes -= o.bytes;
    const known = new Map(before?.peerId === peerId ? before.offers.map((o) => [o.offerId, o]) : []);
    const announced = new Set<string>();
    const unrelayed: ShelvedOffer<O>[] = [];
    const kept: Kept<O>[] = [];
    for (const { offerId, offer } of offers) {
      if (announced.has(offerId)) continue;
      announced.add(offerId);
      const seen = known.get(offerId);
      if (!seen?.relayed) unrelayed.push({ offerId, offer });
      const bytes = seen?.bytes ?? this.options.sizeOf(offer);
      if (kept.length >= this.options.maxOffersPerShelf || this.#bytes + bytes > this.options.maxBytes) continue;
      this.#bytes += bytes;
      kept.push({ offerId, offer, bytes, firstSeen: seen?.firstSeen ?? now, lastSeen: now, relayed: seen?.relayed ?? false });
    }
    if (kept.length > 0 && known.size > 0) {
      if (kept.some((o) => known.has(o.offerId))) {
        this.#pooling.add(client);
        this.#renewing.delete(client);
      } else if (!this.#pooling.has(client)) {
        this.#renewing.add(client);
      }
    }
    swarms.set(swarm, { peerId, offers: kept });
    return unrelayed;
  }

  /** `offerId`, which `client` announced as `peerId` in `swarm`, was relayed. */
  markRelayed(client: C, swarm: string, peerId: string, offerId: string): void {
    const shelf = this.#shelves.get(client)?.get(swarm);
    const offer = shelf?.peerId === peerId ? shelf.offers.find((o) => o.offerId === offerId) : undefined;
    if (offer) offer.relayed = true;
  }

  /**
   * Takes one offer `client` announced as `peerId` in `swarm` that was never relayed and is
   * still valid, and marks it relayed; undefined when there is none.
   */
  take(client: C, swarm: string, peerId: string, now: number): ShelvedOffer<O> | undefined {
    const offer = this.#available(client, swarm, peerId, now);
    if (offer) offer.relayed = true;
    return offer && { offerId: offer.offerId, offer: offer.offer };
  }

  /** Whether {@link take} would return an offer. */
  has(client: C, swarm: string, peerId: string, now: number): boolean {
    return this.#available(client, swarm, peerId, now) !== undefined;
  }

  /**
   * Whether `client` may hold offers of its own in `swarm` that it keeps until answered, as
   * trystero does: such a client answers only offers from peers whose ids sort below its own.
   * Only a client seen announcing nothing but new offers is known not to.
   */
  mayHoldOffers(client: C, swarm: string, now: number): boolean {
    return !this.#renewing.has(client) && (this.#shelves.get(client)?.get(swarm)?.offers.some((o) => this.#valid(client, o, now)) ?? false);
  }

  /** The client left `swarm` (or, without `swarm`, disconnected): its offers go. */
  forget(client: C, swarm?: string): void {
    const swarms = this.#shelves.get(client);
    for (const [key, shelf] of swarms ?? []) {
      if (swarm !== undefined && key !== swarm) continue;
      for (const o of shelf.offers) this.#bytes -= o.bytes;
    }
    if (swarms && swarm !== undefined) swarms.delete(swarm);
    if (!swarms || swarm === undefined || swarms.size === 0) {
      this.#shelves.delete(client);
      if (swarm === undefined) {
        this.#pooling.delete(client);
        this.#renewing.delete(client);
      }
    }
  }

  /** Drops the offers that can no longer be handed out. */
  sweep(now: number): void {
    for (const [client, swarms] of this.#shelves) {
      for (const [swarm, shelf] of swarms) {
        const valid = shelf.offers.filter((o) => this.#valid(client, o, now));
        for (const o of shelf.offers) if (!valid.includes(o)) this.#bytes -= o.bytes;
        shelf.offers = valid;
        if (shelf.offers.length === 0) swarms.delete(swarm);
      }
      if (swarms.size === 0) this.#shelves.delete(client);
    }
  }

  /** Clients with offers kept, for tests and metrics. */
  get size(): number {
    return this.#shelves.size;
  }

  /** Bytes of the offers kept. */
  get bytes(): number {
    return this.#bytes;
  }

  #available(client: C, swarm: string, peerId: string, now: number): Kept<O> | undefined {
    const shelf = this.#shelves.get(client)?.get(swarm);
    return shelf?.peerId === peerId ? shelf.offers.find((o) => !o.relayed && this.#valid(client, o, now)) : undefined;
  }

  #valid(client: C, offer: Kept<O>, now: number): boolean {
    return this.#pooling.has(client) ? now - offer.firstSeen <= this.options.pooledTtlMs : now - offer.lastSeen <= this.options.freshTtlMs;
  }
}
