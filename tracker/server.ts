/**
 * The Shoal tracker: a WebTorrent-protocol signaling server (WebSocket at `/`) plus HTTP
 * endpoints (`/health`, `/stats`, `/metrics`) on the same port. It introduces peers of a swarm
 * to each other by relaying their WebRTC offers and answers; it never sees media.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import express, { type RequestHandler } from 'express';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { TrackerMetrics, type TrackerStats } from './metrics.ts';
import {
  MAX_OFFERS_PER_ANNOUNCE,
  failureReply,
  parseRequest,
  type AnnounceReply,
  type AnnounceRequest,
  type ScrapeRequest,
  type TrackerReply,
} from './protocol.ts';
import { SwarmRegistry, type Peer } from './swarm-registry.ts';

export type { TrackerStats } from './metrics.ts';

/** Options of {@link startTracker}. */
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
   * by the next one is closed and its peers dropped.
   * @default 30
   */
  heartbeatIntervalSec?: number;
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
 * Starts a tracker and resolves once it is listening.
 *
 * Every valid announce registers its peer in the swarm (`event: 'stopped'` removes it) and gets
 * an announce reply; its offers go to distinct random other peers of the swarm, and its answer
 * to the peer named by `to_peer_id` (a `failure reason` follows the reply if that peer is
 * unknown). Invalid messages get a `failure reason`; the connection stays open. A closed
 * connection's peers leave every swarm.
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
  const intervalSec = options.announceIntervalSec ?? 120;
  const maxMessageBytes = options.maxMessageBytes ?? 64 * 1024;
  const peerTimeoutMs = (options.peerTimeoutSec ?? Math.max(2 * intervalSec, 300)) * 1000;
  const heartbeatMs = (options.heartbeatIntervalSec ?? 30) * 1000;

  const registry = new SwarmRegistry<WebSocket>();
  const app = express();
  const server = createServer(app);
  const wss = new WebSocketServer({ server, path: '/', maxPayload: maxMessageBytes * 4 });
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
  app.get('/metrics', async (_req, res) => {
    const text = await metrics.registry.metrics();
    res.set({ 'Content-Type': metrics.registry.contentType, 'Cache-Control': 'no-store' }).send(text);
  });

  const send = (socket: WebSocket, message: TrackerReply): boolean => {
    if (socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(message));
    return true;
  };

  const reject = (socket: WebSocket, reason: string, action?: 'announce' | 'scrape', infoHash?: string): void => {
    metrics.count('rejected');
    send(socket, failureReply(reason, action, infoHash));
  };

  const announceReply = (infoHash: string): AnnounceReply => {
    const { complete, incomplete } = registry.counts(infoHash);
    return { action: 'announce', info_hash: infoHash, interval: intervalSec, complete, incomplete };
  };

  const onAnnounce = (socket: WebSocket, request: AnnounceRequest): void => {
    metrics.count('announces');
    const { info_hash: infoHash, peer_id: peerId } = request;
    if (request.event === 'stopped') {
      registry.leave(infoHash, peerId, socket);
      send(socket, announceReply(infoHash));
      return;
    }
    registry.join(infoHash, peerId, socket, {
      left: request.left,
      completed: request.event === 'completed',
      now: Date.now(),
    });
    send(socket, announceReply(infoHash));
    relayOffers(request);
    relayAnswer(socket, request);
  };

  /** Each offer goes to a different random peer, at most min(numwant, offers) of them. */
  const relayOffers = ({ info_hash, peer_id, numwant, offers = [] }: AnnounceRequest): void => {
    const wanted = Math.min(numwant ?? offers.length, offers.length, MAX_OFFERS_PER_ANNOUNCE);
    let relayed = 0;
    pickOpenPeers(info_hash, peer_id, wanted).forEach((peer, i) => {
      const entry = offers[i];
      if (entry === undefined) return;
      const { offer_id, offer } = entry;
      if (send(peer.socket, { action: 'announce', info_hash, peer_id, offer_id, offer })) relayed++;
    });
    metrics.count('offersRelayed', relayed);
  };

  /** An answer goes to the peer that made the offer, named by `to_peer_id`. */
  const relayAnswer = (socket: WebSocket, request: AnnounceRequest): void => {
    const { info_hash, peer_id, answer, offer_id, to_peer_id } = request;
    if (answer === undefined || offer_id === undefined || to_peer_id === undefined) return;
    const target = registry.getPeer(info_hash, to_peer_id);
    if (target !== undefined && send(target.socket, { action: 'announce', info_hash, peer_id, offer_id, answer })) {
      metrics.count('answersRelayed');
    } else {
      reject(socket, 'unknown to_peer_id: no such peer in this swarm', 'announce', info_hash);
    }
  };

  /**
   * Random peers whose socket is open. A socket that received its peer's close frame is
   * closing but its 'close' event (which drops its peers) may not have fired yet: such peers
   * are dropped here and the pick is redone, so no offer is wasted on them.
   */
  const pickOpenPeers = (infoHash: string, peerId: string, count: number): Peer<WebSocket>[] => {
    for (;;) {
      const picked = registry.pickPeers(infoHash, peerId, count);
      const closing = picked.filter((peer) => peer.socket.readyState !== WebSocket.OPEN);
      if (closing.length === 0) return picked;
      for (const peer of closing) registry.dropSocket(peer.socket);
    }
  };

  const onScrape = (socket: WebSocket, request: ScrapeRequest): void => {
    const requested = request.info_hash;
    const hashes = requested === undefined ? [...registry.infoHashes()] : [requested].flat();
    const files = Object.fromEntries(hashes.map((hash) => [hash, registry.counts(hash)]));
    send(socket, { action: 'scrape', files });
  };

  const onMessage = (socket: WebSocket, data: RawData): void => {
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    if (bytes.byteLength > maxMessageBytes) {
      reject(socket, `message too large: ${bytes.byteLength} bytes, the limit is ${maxMessageBytes}`);
      return;
    }
    const parsed = parseRequest(bytes.toString('utf8'));
    if (!parsed.ok) reject(socket, parsed.reason, parsed.action, parsed.info_hash);
    else if (parsed.request.action === 'announce') onAnnounce(socket, parsed.request);
    else onScrape(socket, parsed.request);
  };

  const awaitingPong = new Set<WebSocket>();
  wss.on('connection', (socket) => {
    socket.on('message', (data) => {
      try {
        onMessage(socket, data);
      } catch (err) {
        console.error('shoal-tracker: error while handling a message', err);
        reject(socket, 'internal tracker error');
      }
    });
    socket.on('pong', () => awaitingPong.delete(socket));
    socket.on('close', () => {
      awaitingPong.delete(socket);
      registry.dropSocket(socket);
    });
    // Protocol errors (oversized frame, invalid UTF-8): ws closes the socket, 'close' cleans up.
    socket.on('error', () => {});
  });

  server.listen(options.port ?? 8000, host);
  try {
    // ws re-emits the http server's 'listening' and 'error' events.
    await once(wss, 'listening');
  } catch (err) {
    wss.close();
    throw err;
  }
  wss.on('error', (err) => console.error('shoal-tracker: server error', err));

  const sweep = setInterval(() => {
    for (const socket of wss.clients) {
      if (awaitingPong.has(socket)) {
        socket.terminate();
        continue;
      }
      awaitingPong.add(socket);
      socket.ping();
    }
    registry.expire(Date.now() - peerTimeoutMs);
  }, heartbeatMs);
  sweep.unref();

  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : (options.port ?? 8000);
  const authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;

  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    clearInterval(sweep);
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
