/**
 * The Shoal tracker: a WebTorrent-protocol signaling server (WebSocket at `/`) plus HTTP
 * endpoints (`/health`, `/stats`, `/metrics`) on the same port. It introduces peers of a swarm
 * to each other by relaying their WebRTC offers and answers; it never sees media.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import express, { type RequestHandler } from 'express';
import { pino, type Level, type Logger } from 'pino';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { originAllowed, tokenProblem } from './access.ts';
import { defaultIntegrityOptions, parseIntegrityOrigin, SegmentHasher } from './integrity.ts';
import { TrackerMetrics, type RejectionReason, type TrackerStats } from './metrics.ts';
import { OfferShelf, type ShelvedOffer } from './offer-shelf.ts';
import { PairingBook } from './pairing.ts';
import {
  failureReply,
  parseRequest,
  type AnnounceReply,
  type AnnounceRequest,
  type OfferEntry,
  type ScrapeRequest,
  type TrackerReply,
} from './protocol.ts';
import { TokenBucket } from './rate-limit.ts';
import { SwarmRegistry, type Peer } from './swarm-registry.ts';

export type { RejectionReason, TrackerStats } from './metrics.ts';
export { createTrackerToken } from './access.ts';

/** Options of {@link startTracker}. Every limit has a default fit for a public deployment. */
export interface TrackerOptions {
  /**
   * TCP port for both WebSocket and HTTP; 0 picks a free port (see {@link RunningTracker.port}).
   * @default 8000
   */
  port?: number;
  /**
   * Interface to listen on.
   * @default '0.0.0.0'
   */
  host?: string;
  /**
   * Seconds between a client's announces, sent as `interval` in announce replies.
   * @default 120
   */
  announceIntervalSec?: number;
  /**
   * The `interval` sent instead to a client with fewer partners in the swarm than it could
   * have (the swarm's other peers, at most `maxPeersPerClient` minus the two kept for
   * newcomers): it announces again sooner, so its offers stay fresh for peers that arrive
   * and a failed connection is retried. trystero announces at most every 10 s whatever it is
   * sent.
   * @default 15
   */
  lonelyAnnounceIntervalSec?: number;
  /**
   * Largest message, in bytes, the tracker processes. Larger messages up to 4 times this size
   * get a `failure reason`; beyond that the connection is closed with code 1009 (the frame is
   * not even buffered).
   * @default 65536
   */
  maxMessageBytes?: number;
  /**
   * A peer that has not announced in a swarm for this long is dropped from it, even if its
   * connection stays open (trystero, for one, leaves a swarm by just not announcing again).
   * Must exceed the clients' re-announce period; trystero re-announces at least every 120 s.
   * @default max(2 * announceIntervalSec, 300)
   */
  peerTimeoutSec?: number;
  /**
   * Seconds between WebSocket pings; a connection that has not answered the previous ping
   * by the next one (half-open: the client vanished without closing) is closed.
   * @default 30
   */
  heartbeatIntervalSec?: number;
  /**
   * WebRTC connections the tracker hands one client (one WebSocket), across its swarms: a
   * client with this many partners and pending offers gets no more offers, and its own offers
   * stop being relayed two short of it, leaving room for newcomers. Set it to the SDK's
   * `maxPeers`.
   * @default 8
   */
  maxPeersPerClient?: number;
  /**
   * Offers relayed from one announce; further ones are ignored (trystero sends 3, WebTorrent
   * up to 10).
   * @default 10
   */
  maxOffersPerAnnounce?: number;
  /**
   * Messages (announces and scrapes) per second one connection may send on average, in bursts
   * of twice as many. Beyond it, messages get a `failure reason`; a client that keeps sending
   * until it owes another whole burst is disconnected (code 1008).
   * @default 10
   */
  maxAnnouncesPerSec?: number;
  /**
   * Swarms one connection may be in at once (Shoal joins one per rendition).
   * @default 32
   */
  maxSwarmsPerConnection?: number;
  /**
   * Swarm memberships in the whole tracker; an announce that would add one more gets a
   * `failure reason` (memory stays bounded under any load).
   * @default 100000
   */
  maxPeers?: number;
  /**
   * Open WebSocket connections in the whole tracker; beyond it a new connection gets a
   * `failure reason` and is closed (code 1013).
   * @default 100000
   */
  maxConnections?: number;
  /**
   * A connection that is in no swarm for this long (it never announced, or left them all) is
   * closed.
   * @default 60
   */
  idleTimeoutSec?: number;
  /**
   * Page origins allowed to connect, e.g. `['https://example.com', 'https://*.example.com']`;
   * others get a `failure reason` and are closed (code 1008). Empty allows every origin,
   * and clients that send no `Origin` (not browsers).
   * @default []
   */
  allowedOrigins?: string[];
  /**
   * When set, every connection must carry a valid, unexpired token signed with this secret
   * in its URL (`wss://tracker.example/?token=...`, see {@link createTrackerToken}); others
   * get a `failure reason` and are closed (code 1008).
   * @default undefined (no tokens)
   */
  tokenSecret?: string;
  /**
   * Log level of the structured (pino, JSON lines on stdout) log. The `shoal-tracker` CLI
   * defaults to `'info'`.
   * @default 'silent'
   */
  logLevel?: Level | 'silent';
  /** A pino logger to log to instead; `logLevel` is then ignored. */
  logger?: Logger;
  /**
   * URL prefixes (e.g. `https://cdn.example.com/` or `https://cdn.example.com/live/`) whose
   * segments the integrity service (`GET /integrity?id=<segment id>`) fetches once (or reads
   * the `Repr-Digest` of, from a HEAD, where the origin publishes one) and publishes the
   * SHA-256 of, for viewers to check what peers send. Empty disables the service
   * (404); viewers then need `integrity: 'none'` or their own `verifySegment`. An entry
   * `prefix=fetch-prefix` (e.g. `https://cdn.example.com/live/=http://origin.internal/live/`)
   * fetches the same files from elsewhere, such as the origin behind the CDN, so that hashing
   * costs no CDN egress.
   * @default []
   */
  integrityOrigins?: string[];
}

/** A listening tracker, as returned by {@link startTracker}. */
export interface RunningTracker {
  /** The port actually bound (useful with `port: 0`). */
  port: number;
  /** WebSocket URL for clients, `ws://host:port`. */
  url: string;
  /** Base HTTP URL of `/health`, `/stats` and `/metrics`, `http://host:port`. */
  httpUrl: string;
  /** Current counters, the same as `GET /stats`. */
  stats(): TrackerStats;
  /** Closes every connection (code 1001 to WebSocket clients) and stops listening. Idempotent. */
  close(): Promise<void>;
}

/** How long {@link RunningTracker.close} lets clients answer the close handshake. */
const CLOSE_GRACE_MS = 2000;
/**
 * An offer not answered within this long frees the connection slots it reserved, and the pair
 * may be offered to each other again: trystero answers within a second, or never (an answer
 * still arriving later is relayed while both have room).
 */
const OFFER_RESERVATION_MS = 10_000;
/**
 * How long an announced offer may be handed to a peer that arrives later: trystero keeps its
 * offers 120 s after making them; WebTorrent clients 50 s after announcing them.
 */
const SHELF_TTL = { pooledTtlMs: 100_000, freshTtlMs: 40_000 };
/**
 * Offers kept per client and swarm, and in all: about 1 KiB each, so 64 MiB keep the offers of
 * some 20,000 trystero viewers (3 each); beyond it offers are relayed when announced, as before.
 */
const SHELF_LIMITS = { maxOffersPerShelf: 3, maxBytes: 64 * 1024 * 1024 };
/**
 * Partners this recent are taken for connected: no offer goes between them. Older ones may be
 * offered again, since trystero leaves a room without telling the tracker, and a player that
 * rejoins must be able to reconnect.
 */
const FRESH_PARTNERS_MS = 30_000;
/** How often idle connections, stale peers and unanswered offers are swept. */
const HOUSEKEEPING_MS = 1000;

/** What the tracker keeps per connection. */
interface Client {
  bucket: TokenBucket;
  /** When the connection last found itself in no swarm; undefined while it is in one. */
  idleSince: number | undefined;
}

/**
 * Starts a tracker and resolves once it is listening.
 *
 * Every valid announce registers its peer in the swarm (`event: 'stopped'` removes it) and gets
 * an announce reply; its offers go to distinct random other peers of the swarm that have room
 * for another connection, and its answer to the peer named by `to_peer_id`. A peer with fewer
 * partners than it could have is also handed offers other peers announced earlier (see
 * {@link OfferShelf}). Invalid or refused messages get a `failure reason`; the connection stays
 * open unless it abuses the rate limit. A closed connection's peers leave every swarm.
 *
 * @example
 * ```ts
 * const tracker = await startTracker({ port: 0 });
 * console.log(tracker.url); // ws://0.0.0.0:41234
 * await tracker.close();
 * ```
 */
export async function startTracker(options: TrackerOptions = {}): Promise<RunningTracker> {
  const host = options.host ?? '0.0.0.0';
  const intervalSec = positive(options, 'announceIntervalSec', 120);
  const lonelyIntervalSec = Math.min(positive(options, 'lonelyAnnounceIntervalSec', 15), intervalSec);
  const maxMessageBytes = positive(options, 'maxMessageBytes', 64 * 1024);
  const peerTimeoutMs = positive(options, 'peerTimeoutSec', Math.max(2 * intervalSec, 300)) * 1000;
  const heartbeatMs = positive(options, 'heartbeatIntervalSec', 30) * 1000;
  const maxPeersPerClient = positive(options, 'maxPeersPerClient', 8);
  const maxOffersPerAnnounce = positive(options, 'maxOffersPerAnnounce', 10);
  const maxAnnouncesPerSec = positive(options, 'maxAnnouncesPerSec', 10);
  const maxSwarmsPerConnection = positive(options, 'maxSwarmsPerConnection', 32);
  const maxPeers = positive(options, 'maxPeers', 100_000);
  const maxConnections = positive(options, 'maxConnections', 100_000);
  const idleTimeoutMs = positive(options, 'idleTimeoutSec', 60) * 1000;
  const allowedOrigins = options.allowedOrigins ?? [];
  const { tokenSecret } = options;
  if (tokenSecret !== undefined && tokenSecret.length < 16) throw new RangeError('tokenSecret must be at least 16 characters');
  const integrityOrigins = (options.integrityOrigins ?? []).map((entry) => parseIntegrityOrigin(entry, 'tracker option integrityOrigins'));
  const hasher = new SegmentHasher({ ...defaultIntegrityOptions, origins: integrityOrigins });
  const log = options.logger ?? pino({ name: 'shoal-tracker', level: options.logLevel ?? 'silent' });

  const registry = new SwarmRegistry<WebSocket>();
  const pairing = new PairingBook<WebSocket>(
    { cap: maxPeersPerClient, headroom: Math.min(2, maxPeersPerClient - 1), reservationTtlMs: OFFER_RESERVATION_MS },
    (socket, hasRoom) => registry.setRoom(socket, hasRoom),
  );
  const shelf = new OfferShelf<WebSocket, OfferEntry['offer']>({ ...SHELF_TTL, ...SHELF_LIMITS, sizeOf: (offer) => (offer as OfferEntry['offer']).sdp.length + 64 });
  const clients = new Map<WebSocket, Client>();
  const app = express();
  const server = createServer(app);
  // UTF-8 is not validated frame by frame: a message is parsed as JSON, and invalid bytes
  // decode to replacement characters that validation then rejects.
  const wss = new WebSocketServer({ server, path: '/', maxPayload: maxMessageBytes * 4, skipUTF8Validation: true, perMessageDeflate: false });
  const metrics = new TrackerMetrics(() => ({
    swarms: registry.swarmCount,
    peers: registry.peerCount,
    connections: wss.clients.size,
  }));

  const allowAnyOrigin: RequestHandler = (_req, res, next) => {
    res.set('Access-Control-Allow-Origin', '*');
    next();
  };
  app.disable('x-powered-by');
  app.get('/health', allowAnyOrigin, (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/stats', allowAnyOrigin, (_req, res) => {
    res.set('Cache-Control', 'no-store').json(metrics.stats());
  });
  app.get('/integrity', allowAnyOrigin, async (req, res) => {
    const id = req.query.id;
    const answer =
      typeof id === 'string' && id.length > 0 && id.length <= 4096
        ? await hasher.lookup(id)
        : { status: 400, body: { error: 'expected ?id=<segment id>' } };
    if (answer.status !== 200) log.debug({ id, status: answer.status, body: answer.body }, 'integrity lookup refused');
    // A segment never changes under its URL: its hash can be cached for good.
    res.set('Cache-Control', answer.status === 200 ? 'public, max-age=31536000, immutable' : 'no-store');
    res.status(answer.status).json(answer.body);
  });
  app.get('/metrics', async (_req, res) => {
    const text = await metrics.registry.metrics();
    res.set({ 'Content-Type': metrics.registry.contentType, 'Cache-Control': 'no-store' }).send(text);
  });

  const send = (socket: WebSocket, message: TrackerReply): boolean => {
    if (socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(message));
    return true;
  };

  const reject = (socket: WebSocket, code: RejectionReason, reason: string, action?: 'announce' | 'scrape', infoHash?: string): void => {
    metrics.reject(code);
    log.debug({ code, reason }, 'rejected a message');
    send(socket, failureReply(reason, action, infoHash));
  };

  /** Refuses a connection: a `failure reason` the client can log, then a close frame. */
  const refuse = (socket: WebSocket, code: RejectionReason, reason: string, closeCode: number, request: IncomingMessage): void => {
    metrics.reject(code);
    log.info({ code, reason, origin: request.headers.origin, address: request.socket.remoteAddress }, 'refused a connection');
    send(socket, failureReply(reason));
    socket.close(closeCode, reason);
  };

  const announceReply = (infoHash: string, interval = intervalSec): AnnounceReply => {
    const { complete, incomplete } = registry.counts(infoHash);
    return { action: 'announce', info_hash: infoHash, interval, complete, incomplete };
  };

  /** How many more partners the socket could have in the swarm: 0 once it has enough. */
  const partnersMissing = (socket: WebSocket, infoHash: string): number => {
    const { complete, incomplete } = registry.counts(infoHash);
    const wanted = Math.min(pairing.options.cap - pairing.options.headroom, complete + incomplete - 1);
    return Math.max(0, wanted - pairing.partnerCount(socket, infoHash));
  };

  const leaveSwarm = (socket: WebSocket, infoHash: string, peerId: string): void => {
    if (registry.leave(infoHash, peerId, socket)) {
      pairing.leave(socket, infoHash);
      shelf.forget(socket, infoHash);
    }
    markIdle(socket);
  };

  const markIdle = (socket: WebSocket): void => {
    const client = clients.get(socket);
    if (client) client.idleSince = registry.swarmsOf(socket) === 0 ? (client.idleSince ?? Date.now()) : undefined;
  };

  const onAnnounce = (socket: WebSocket, request: AnnounceRequest, now: number): void => {
    const { info_hash: infoHash, peer_id: peerId } = request;
    if (request.event === 'stopped') {
      metrics.count('announces');
      leaveSwarm(socket, infoHash, peerId);
      send(socket, announceReply(infoHash));
      return;
    }
    const current = registry.peerIdOf(socket, infoHash);
    const joining = current === undefined && registry.getPeer(infoHash, peerId) === undefined;
    if (current === undefined && registry.swarmsOf(socket) >= maxSwarmsPerConnection) {
      reject(socket, 'swarm-limit', `too many swarms on this connection: the limit is ${maxSwarmsPerConnection}`, 'announce', infoHash);
      return;
    }
    if (joining && registry.peerCount >= maxPeers) {
      reject(socket, 'tracker-full', 'tracker full: try again later', 'announce', infoHash);
      return;
    }
    metrics.count('announces');
    if (current !== undefined && current !== peerId) pairing.leave(socket, infoHash);
    registry.join(infoHash, peerId, socket, {
      left: request.left,
      completed: request.event === 'completed',
      now,
    });
    markIdle(socket);
    const offers = request.offers?.slice(0, maxOffersPerAnnounce).map(({ offer_id, offer }) => ({ offerId: offer_id, offer }));
    const unrelayed = offers ? shelf.shelve(socket, infoHash, peerId, offers, now) : [];
    // An announce that only carries an answer gets no reply, as with bittorrent-tracker:
    // clients do not wait for one, and it would double the messages of every handshake.
    if (request.answer === undefined) {
      const missing = partnersMissing(socket, infoHash);
      send(socket, announceReply(infoHash, missing > 0 ? lonelyIntervalSec : intervalSec));
      if (missing > 0) relayShelvedOffers(socket, request, missing, now);
    }
    relayOffers(socket, request, unrelayed, now);
    relayAnswer(socket, request);
  };

  /**
   * Whether `receiver` would answer an offer from `offererId`. trystero ignores offers from
   * higher ids while it has offers of its own out, which, announcing the same offers until
   * they are answered, it nearly always has; other clients answer every offer.
   */
  const wouldAnswer = (receiver: WebSocket, receiverId: string, offererId: string, infoHash: string, now: number): boolean =>
    offererId < receiverId || !shelf.mayHoldOffers(receiver, infoHash, now);

  /** The two were paired too recently for their connection to have failed unnoticed. */
  const freshPartners = (a: WebSocket, b: WebSocket, infoHash: string, now: number): boolean => now - (pairing.pairedAt(a, b, infoHash) ?? -Infinity) < FRESH_PARTNERS_MS;

  /**
   * Hands a peer short of partners offers that peers it would answer (and is not a fresh
   * partner of) announced earlier and nobody took, one per offering peer, at most `numwant`.
   */
  const relayShelvedOffers = (socket: WebSocket, { info_hash, peer_id, numwant }: AnnounceRequest, missing: number, now: number): void => {
    const wanted = Math.min(numwant ?? 0, maxOffersPerAnnounce, missing, pairing.options.cap - pairing.slotsUsed(socket));
    if (wanted <= 0) return;
    // wouldAnswer, for this one receiver; the cheap tests first, a pick tries up to 4 * wanted + 16 peers.
    const answersHigherIds = !shelf.mayHoldOffers(socket, info_hash, now);
    const offerers = pickOpenPeers(
      info_hash,
      peer_id,
      wanted,
      (peer) =>
        peer.socket !== socket &&
        (answersHigherIds || peer.peerId < peer_id) &&
        shelf.has(peer.socket, info_hash, peer.peerId, now) &&
        !freshPartners(peer.socket, socket, info_hash, now) &&
        !pairing.offerRedundant(peer.socket, socket, info_hash),
    );
    let relayed = 0;
    for (const peer of offerers) {
      const shelved = shelf.take(peer.socket, info_hash, peer.peerId, now);
      if (shelved === undefined) continue;
      if (send(socket, { action: 'announce', info_hash, peer_id: peer.peerId, offer_id: shelved.offerId, offer: shelved.offer })) {
        pairing.reserve(peer.socket, socket, info_hash, shelved.offerId, now);
        relayed++;
      }
    }
    metrics.count('offersRelayed', relayed);
  };

  /**
   * Each of the announce's offers never relayed before goes to a different random peer of the
   * swarm that would answer it (see {@link wouldAnswer}), with room for a connection, not a
   * fresh partner of the sender's, and no offer of the sender's pending: at most min(numwant,
   * offers, maxOffersPerAnnounce) of them, and none once the sender has no room to initiate.
   * Peers with higher ids come first, and a lower-id peer whose offer to the sender is pending
   * is skipped: the sender will answer that one. Offers nobody takes stay on the shelf for
   * peers that come later.
   */
  const relayOffers = (socket: WebSocket, { info_hash, peer_id, numwant }: AnnounceRequest, offers: ShelvedOffer<OfferEntry['offer']>[], now: number): void => {
    const wanted = Math.min(numwant ?? offers.length, offers.length, maxOffersPerAnnounce, pairing.offersAllowed(socket));
    if (wanted <= 0) return;
    const eligible = (peer: Peer<WebSocket>) =>
      peer.socket !== socket &&
      !freshPartners(socket, peer.socket, info_hash, now) &&
      !pairing.offerRedundant(socket, peer.socket, info_hash) &&
      !(peer.peerId < peer_id && pairing.offerRedundant(peer.socket, socket, info_hash)) &&
      wouldAnswer(peer.socket, peer.peerId, peer_id, info_hash, now);
    const receivers = pickOpenPeers(info_hash, peer_id, wanted, (peer) => peer.peerId > peer_id && eligible(peer));
    if (receivers.length < wanted) receivers.push(...pickOpenPeers(info_hash, peer_id, wanted - receivers.length, (peer) => !receivers.includes(peer) && eligible(peer)));
    let relayed = 0;
    for (const [i, peer] of receivers.entries()) {
      const { offerId, offer } = offers[i]!;
      if (send(peer.socket, { action: 'announce', info_hash, peer_id, offer_id: offerId, offer })) {
        shelf.markRelayed(socket, info_hash, peer_id, offerId);
        pairing.reserve(socket, peer.socket, info_hash, offerId, now);
        relayed++;
      }
    }
    metrics.count('offersRelayed', relayed);
  };

  /** An answer goes to the peer that made the offer, named by `to_peer_id`. */
  const relayAnswer = (socket: WebSocket, request: AnnounceRequest): void => {
    const { info_hash, peer_id, answer, offer_id, to_peer_id } = request;
    if (answer === undefined || offer_id === undefined || to_peer_id === undefined) return;
    const target = registry.getPeer(info_hash, to_peer_id);
    if (target === undefined || target.socket.readyState !== WebSocket.OPEN) {
      reject(socket, 'unknown-peer', 'unknown to_peer_id: no such peer in this swarm', 'announce', info_hash);
      return;
    }
    if (!pairing.answer(socket, target.socket, info_hash, offer_id, Date.now())) {
      reject(socket, 'peer-at-cap', 'answer not relayed: a peer has no room for another connection', 'announce', info_hash);
      return;
    }
    send(target.socket, { action: 'announce', info_hash, peer_id, offer_id, answer });
    metrics.count('answersRelayed');
  };

  /**
   * Random peers with room whose socket is open. A socket that received its peer's close frame
   * is closing but its 'close' event (which drops its peers) may not have fired yet: such
   * peers are dropped here and the pick is redone, so no offer is wasted on them.
   */
  const pickOpenPeers = (infoHash: string, peerId: string, count: number, accept: (peer: Peer<WebSocket>) => boolean): Peer<WebSocket>[] => {
    for (;;) {
      const picked = registry.pickPeers(infoHash, peerId, count, Math.random, accept);
      const closing = picked.filter((peer) => peer.socket.readyState !== WebSocket.OPEN);
      if (closing.length === 0) return picked;
      for (const peer of closing) forget(peer.socket);
    }
  };

  const onScrape = (socket: WebSocket, request: ScrapeRequest): void => {
    const requested = request.info_hash;
    const hashes = requested === undefined ? [...registry.infoHashes()] : [...new Set([requested].flat())];
    const files = Object.fromEntries(hashes.map((hash) => [hash, registry.counts(hash)]));
    send(socket, { action: 'scrape', files });
  };

  const onMessage = (socket: WebSocket, client: Client, data: RawData): void => {
    const now = Date.now();
    const allowance = client.bucket.take(now);
    if (allowance === 'abusive') {
      metrics.reject('rate-limited');
      log.warn({ address: (socket as WebSocket & { _socket?: { remoteAddress?: string } })._socket?.remoteAddress }, 'closed a connection flooding past its rate limit');
      socket.close(1008, 'rate limit exceeded');
      return;
    }
    if (allowance === 'limited') {
      reject(socket, 'rate-limited', `rate limit exceeded: at most ${maxAnnouncesPerSec} messages per second`);
      return;
    }
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    if (bytes.byteLength > maxMessageBytes) {
      reject(socket, 'too-large', `message too large: ${bytes.byteLength} bytes, the limit is ${maxMessageBytes}`);
      return;
    }
    const parsed = parseRequest(bytes.toString('utf8'));
    if (!parsed.ok) reject(socket, 'malformed', parsed.reason, parsed.action, parsed.info_hash);
    else if (parsed.request.action === 'announce') onAnnounce(socket, parsed.request, now);
    else onScrape(socket, parsed.request);
  };

  /** A connection is gone: its peers leave every swarm, their pairs end. */
  const forget = (socket: WebSocket): void => {
    clients.delete(socket);
    awaitingPong.delete(socket);
    pairing.leave(socket);
    shelf.forget(socket);
    registry.forgetSocket(socket);
  };

  const awaitingPong = new Set<WebSocket>();
  // One set of listeners for every socket (`this` is the socket): no closure per connection,
  // and none that keeps the upgrade request alive, which matters at tens of thousands of peers.
  function onSocketMessage(this: WebSocket, data: RawData): void {
    const client = clients.get(this);
    if (!client) return;
    try {
      onMessage(this, client, data);
    } catch (err) {
      log.error({ err }, 'error while handling a message');
      reject(this, 'internal', 'internal tracker error');
    }
  }
  function onSocketPong(this: WebSocket): void {
    awaitingPong.delete(this);
  }
  function onSocketClose(this: WebSocket): void {
    forget(this);
  }

  /** Why a new connection may not stay, or undefined when it may. */
  const refusal = (request: IncomingMessage): [RejectionReason, string, number] | undefined => {
    if (wss.clients.size > maxConnections) return ['tracker-full', 'tracker full: try again later', 1013];
    if (!originAllowed(request.headers.origin, allowedOrigins)) {
      return ['origin', `origin not allowed: ${JSON.stringify(request.headers.origin ?? null)}`, 1008];
    }
    if (tokenSecret !== undefined) {
      const token = new URL(request.url ?? '/', 'http://tracker').searchParams.get('token');
      const problem = tokenProblem(token, tokenSecret, Date.now());
      if (problem !== undefined) return ['token', problem, 1008];
    }
    return undefined;
  };

  wss.on('connection', (socket, request) => {
    // Protocol errors (oversized frame, invalid UTF-8): ws closes the socket, 'close' cleans up.
    socket.on('error', ignore);
    const refused = refusal(request);
    if (refused) {
      refuse(socket, refused[0], refused[1], refused[2], request);
      return;
    }
    clients.set(socket, { bucket: new TokenBucket(maxAnnouncesPerSec, 2 * maxAnnouncesPerSec, Date.now()), idleSince: Date.now() });
    socket.on('message', onSocketMessage);
    socket.on('pong', onSocketPong);
    socket.on('close', onSocketClose);
  });

  server.listen(options.port ?? 8000, host);
  try {
    // ws re-emits the http server's 'listening' and 'error' events.
    await once(wss, 'listening');
  } catch (err) {
    wss.close();
    throw err;
  }
  wss.on('error', (err) => log.error({ err }, 'server error'));

  const heartbeat = setInterval(() => {
    for (const socket of wss.clients) {
      if (awaitingPong.has(socket)) {
        socket.terminate();
        continue;
      }
      awaitingPong.add(socket);
      socket.ping();
    }
  }, heartbeatMs);
  heartbeat.unref();

  const housekeeping = setInterval(() => {
    const now = Date.now();
    for (const { infoHash, peer } of registry.expire(now - peerTimeoutMs)) {
      pairing.leave(peer.socket, infoHash);
      shelf.forget(peer.socket, infoHash);
      markIdle(peer.socket);
    }
    pairing.expire(now);
    shelf.sweep(now);
    for (const [socket, client] of clients) {
      if (client.idleSince !== undefined && now - client.idleSince >= idleTimeoutMs) socket.close(1000, 'idle: in no swarm');
    }
  }, Math.min(HOUSEKEEPING_MS, idleTimeoutMs, peerTimeoutMs));
  housekeeping.unref();

  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : (options.port ?? 8000);
  const authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  log.info({ port, host }, 'tracker listening');

  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    log.info('tracker shutting down');
    clearInterval(heartbeat);
    clearInterval(housekeeping);
    const clientsClosed = new Promise<void>((resolve) => wss.close(() => resolve()));
    const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of wss.clients) socket.close(1001, 'tracker shutting down');
    const force = setTimeout(() => {
      for (const socket of wss.clients) socket.terminate();
      server.closeAllConnections();
    }, CLOSE_GRACE_MS);
    await Promise.all([clientsClosed, serverClosed]);
    clearTimeout(force);
  };

  return {
    port,
    url: `ws://${authority}`,
    httpUrl: `http://${authority}`,
    stats: () => metrics.stats(),
    close: () => (closing ??= close()),
  };
}

function ignore(): void {}

/** Reads a positive numeric option, throwing a RangeError naming it when it is not one. */
function positive(options: TrackerOptions, name: keyof TrackerOptions, fallback: number): number {
  const value = options[name] ?? fallback;
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    throw new RangeError(`invalid tracker option ${name}: ${JSON.stringify(value)}, expected a positive number`);
  }
  return value;
}
