import type { UploadRateLimiter } from './upload-rate.ts';
import type { MessageAction, Room, JsonValue } from '@trystero-p2p/core';
import type { PeerCandidate } from '../scheduler/plan.ts';
import type { PartialSegment } from '../store/partial-segment.ts';
import type { UploadSlots } from './upload-slots.ts';
import {
  CHUNK_BYTES,
  CONTROL_ACTION,
  DATA_ACTION,
  encodeChunk,
  fitsChunkHeader,
  MAX_IDS_PER_MESSAGE,
  parseDataMessage,
  parseControlMessage,
  type ControlMessage,
} from './wire.ts';

/** Why a peer request failed; every one of them sends the segment to HTTP. */
export type PeerFailure = 'absent' | 'busy' | 'timeout' | 'first-byte-timeout' | 'disconnected' | 'aborted' | 'corrupt';

export class PeerRequestError extends Error {
  constructor(readonly failure: PeerFailure, readonly peerId: string) {
    super(`peer ${peerId}: ${failure}`);
    this.name = 'PeerRequestError';
  }
}

export interface PeerRequestOptions {
  /** Whole-transfer deadline. */
  timeoutMs: number;
  /** Deadline for the first chunk. */
  firstByteTimeoutMs: number;
  signal?: AbortSignal;
  /** Receives the chunks as they arrive, so they can be relayed before the segment is whole. */
  sink: PartialSegment;
}

export interface PeerDelivery {
  data: ArrayBuffer;
  /** performance.now() when the request was sent, the first chunk arrived, the last did. */
  startedAt: number;
  firstByteAt: number;
  endedAt: number;
}

export interface SwarmListener {
  peerConnected(peerId: string): void;
  peerDisconnected(peerId: string): void;
  uploaded(peerId: string, bytes: number): void;
  /** A whole segment (held here, not relayed as it arrived) was uploaded in `durationMs`, with no other upload running. */
  uploadedWhole(bytes: number, durationMs: number): void;
  /** A peer broke the protocol; it has been dropped from this swarm. */
  misbehaved(peerId: string, reason: string): void;
  /**
   * A peer is sending us a live segment it holds or receives (an offer, answer `rid`): true to
   * take it, which the listener does with {@link Swarm.receiveOffer}; false declines it.
   */
  offered(peerId: string, segmentId: string, seq: number, rid: number): boolean;
  /** A peer said nothing since it connected: its side of the connection never opened, and it has been dropped. */
  unresponsive(peerId: string): void;
}

export interface SwarmOptions {
  uploadSlots: UploadSlots;
  /** What this viewer can serve of a segment: whole bytes, bytes still arriving, or nothing. */
  source: (segmentId: string) => ArrayBuffer | PartialSegment | undefined;
  /** Whether this viewer serves peers now; a download-only viewer announces nothing. */
  upload: () => boolean;
  /** Whether this swarm plays a live stream: news of a new segment arriving is relayed across it. */
  live?: () => boolean;
  /** Caps the bytes per second of all uploads, if set. */
  uploadRate?: UploadRateLimiter;
  listener: SwarmListener;
  now: () => number;
  /** How long a new peer has to send its first message before it is dropped; default {@link PEER_HELLO_TIMEOUT_MS}. */
  helloTimeoutMs?: number;
}

/**
 * Every peer sends its list of held segments the moment it sees a connection (see
 * `#onPeerJoin`), so a peer silent this long after connecting never saw the connection: its
 * trystero handshake failed (trystero gives up after 10 s) while this side's passed. trystero
 * then keeps its end open for two minutes for its other rooms, so this side holds a peer that
 * will never answer, and the pair cannot meet again. Closing the connection ends both sides.
 */
export const PEER_HELLO_TIMEOUT_MS = 15_000;

interface RemotePeer {
  have: Set<string>;
  loading: Set<string>;
  throughputBytesPerSec: number | undefined;
  activeRequests: number;
  /** Uploads to this peer in flight or queued, by the peer's request id. */
  uploads: Map<number, AbortController>;
  /** Offers being sent to this peer, by this viewer's offer id. */
  offersOut: Map<number, AbortController>;
  /** Drops the peer if it stays silent (see {@link PEER_HELLO_TIMEOUT_MS}); cleared by its first message. */
  helloTimer: ReturnType<typeof setTimeout>;
  /** It takes data chunks with their header inside (see wire.ts); peers of earlier versions take metadata. */
  binaryChunks: boolean;
}

interface PendingRequest {
  peerId: string;
  segmentId: string;
  sink: PartialSegment;
  total: number | undefined;
  received: number;
  startedAt: number;
  firstByteAt: number;
  resolve: (delivery: PeerDelivery) => void;
  fail: (failure: PeerFailure) => void;
}

type ChunkMetaJson = { rid: number; offset: number; total: number; push?: boolean };

/** Segments whose offers are remembered, to offer each to a peer once. */
const OFFERED_SEGMENTS_REMEMBERED = 8;
/** Live segments remembered as arriving in the swarm, so news of each is relayed once. */
const FLOWING_SEGMENTS_REMEMBERED = 16;

/**
 * Longest a request of a live swarm waits in the upload queue for a slot before it is told
 * `busy`: the asker has a deadline, and another holder, or an offer, may serve it sooner.
 */
const UPLOAD_QUEUE_WAIT_MS = 300;

/** Weight of the newest throughput sample in a peer's moving average. */
const THROUGHPUT_SMOOTHING = 0.3;

/**
 * One swarm: the viewers of one rendition, met in one trystero room. Tracks which peer holds
 * which segment, fetches segments from peers, and serves this viewer's cache to them. Owns no
 * decision about whether to use a peer: the scheduler does.
 */
export class Swarm {
  readonly #room: Room;
  readonly #control: MessageAction<JsonValue>;
  readonly #data: MessageAction<ArrayBuffer>;
  readonly #peers = new Map<string, RemotePeer>();
  /** Answers being received: to this viewer's requests by `r<rid>`, to peers' offers by `o<peerId> <rid>`. */
  readonly #pending = new Map<string, PendingRequest>();
  /** Segments of this swarm announced to peers as held whole, and as arriving. */
  readonly #announced = new Set<string>();
  readonly #announcedLoading = new Set<string>();
  /** Peers each recent segment was offered to. */
  readonly #offered = new Map<string, Set<string>>();
  /** How many times each peer offered each recent segment to this viewer. */
  readonly #offersReceived = new Map<string, Map<string, number>>();
  /** Live segments known to be arriving somewhere in the swarm, with their sequence numbers. */
  readonly #flowing = new Map<string, number>();
  /** Callers waiting for a peer to announce a segment. */
  readonly #holderWaiters = new Map<string, Set<(peerId: string) => void>>();
  #nextRequestId = 1;
  #nextOfferId = 1;
  #closed = false;
  /** Callers waiting for a first peer. */
  readonly #peerWaiters = new Set<() => void>();
  readonly joinedAt: number;

  constructor(
    readonly id: string,
    room: Room,
    private readonly options: SwarmOptions,
  ) {
    this.joinedAt = options.now();
    this.#room = room;
    this.#control = room.makeAction<JsonValue>(CONTROL_ACTION);
    this.#data = room.makeAction<ArrayBuffer>(DATA_ACTION);
    this.#control.onMessage = (data, { peerId }) => this.#onControl(peerId, data);
    this.#data.onMessage = (data, { peerId, metadata }) => this.#onChunk(peerId, data, metadata);
    room.onPeerJoin = (peerId) => this.#onPeerJoin(peerId);
    room.onPeerLeave = (peerId) => this.#onPeerLeave(peerId);
  }

  get peerCount(): number {
    return this.#peers.size;
  }

  hasPeer(peerId: string): boolean {
    return this.#peers.has(peerId);
  }

  /** Resolves true when a peer connects (or one is connected), false after `timeoutMs` or on abort. */
  waitForPeer(timeoutMs: number, signal: AbortSignal): Promise<boolean> {
    if (this.#peers.size > 0) return Promise.resolve(true);
    if (signal.aborted || this.#closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (connected: boolean) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.#peerWaiters.delete(onPeer);
        resolve(connected);
      };
      const onPeer = () => done(true);
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.#peerWaiters.add(onPeer);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Peers that announced `segmentId`, whole or arriving, as the scheduler sees them. */
  holdersOf(segmentId: string): PeerCandidate[] {
    const holders: PeerCandidate[] = [];
    for (const [id, peer] of this.#peers) {
      const whole = peer.have.has(segmentId);
      if (whole || peer.loading.has(segmentId)) {
        holders.push({ id, whole, throughputBytesPerSec: peer.throughputBytesPerSec, activeRequests: peer.activeRequests });
      }
    }
    return holders;
  }

  /**
   * Resolves true as soon as a peer not in `exclude` announces `segmentId` (or already has),
   * false after `timeoutMs`.
   */
  waitForHolder(segmentId: string, timeoutMs: number, signal: AbortSignal, exclude: { has(peerId: string): boolean } = new Set()): Promise<boolean> {
    if (this.holdersOf(segmentId).some((p) => !exclude.has(p.id))) return Promise.resolve(true);
    if (signal.aborted || this.#closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      let waiters = this.#holderWaiters.get(segmentId);
      if (!waiters) this.#holderWaiters.set(segmentId, (waiters = new Set()));
      const done = (found: boolean) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        waiters.delete(onHolder);
        if (waiters.size === 0) this.#holderWaiters.delete(segmentId);
        resolve(found);
      };
      const onHolder = (peerId: string) => {
        if (!exclude.has(peerId)) done(true);
      };
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), timeoutMs);
      waiters.add(onHolder);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Whether `segmentId` is known to be arriving somewhere in the swarm: a peer announced it, or
   * news of it was relayed from further away. Then a peer near this viewer will offer it soon,
   * and fetching it over HTTP would only add one more CDN copy.
   */
  isFlowing(segmentId: string): boolean {
    return this.#flowing.has(segmentId) || this.holdersOf(segmentId).length > 0;
  }

  /** Tells peers `segmentId` (media sequence `seq`) is arriving here and can be asked for already. */
  announceLoading(segmentId: string, seq: number): void {
    this.#remember(segmentId, seq);
    if (!this.options.upload() || this.#announced.has(segmentId) || this.#announcedLoading.has(segmentId)) return;
    this.#announcedLoading.add(segmentId);
    this.#sendControl({ t: 'loading', ids: [segmentId], seqs: [seq] });
  }

  /** Tells peers this viewer now holds `segmentId` (media sequence `seq`) whole. */
  announce(segmentId: string, seq: number): void {
    if (!this.options.upload() || this.#announced.has(segmentId)) return;
    this.#announcedLoading.delete(segmentId);
    this.#announced.add(segmentId);
    this.#sendControl({ t: 'have', ids: [segmentId], reset: false, seqs: [seq] });
  }

  /**
   * Sends a live segment this viewer holds or receives to one peer that has not announced it
   * and was not offered it yet, unasked: the offer and the first chunks leave together, so a
   * new segment crosses a hop in one trip instead of three (offer, request, answer), and the
   * peer declines if it has it already. False when there is no such peer or no free upload
   * slot. Offers go one per free upload slot, so a new segment spreads down a tree instead of
   * every peer asking the first holder.
   */
  offer(segmentId: string, seq: number): boolean {
    if (this.#closed || !this.options.upload() || this.options.uploadSlots.free <= 0) return false;
    const source = this.options.source(segmentId);
    if (!source) return false;
    let offered = this.#offered.get(segmentId);
    const candidates = [...this.#peers].filter(([id, peer]) => !peer.have.has(segmentId) && !peer.loading.has(segmentId) && !offered?.has(id));
    const [target] = candidates[Math.floor(Math.random() * candidates.length)] ?? [];
    if (target === undefined) return false;
    if (!offered) {
      this.#offered.set(segmentId, (offered = new Set()));
      // Only the newest few segments are ever offered: forget the oldest.
      if (this.#offered.size > OFFERED_SEGMENTS_REMEMBERED) this.#offered.delete(this.#offered.keys().next().value as string);
    }
    offered.add(target);
    const peer = this.#peers.get(target) as RemotePeer;
    const rid = this.#nextOfferId++;
    const upload = new AbortController();
    peer.offersOut.set(rid, upload);
    this.#sendControlTo(target, { t: 'offer', id: segmentId, seq, rid });
    void this.options.uploadSlots.acquire(upload.signal).then((granted) => {
      if (!granted) {
        peer.offersOut.delete(rid);
        return;
      }
      void this.#send(target, rid, source, upload, true).finally(() => peer.offersOut.delete(rid));
    });
    return true;
  }

  /** Takes a peer's offer `rid` (see {@link SwarmListener.offered}): resolves with the segment as {@link request} does. */
  receiveOffer(peerId: string, rid: number, segmentId: string, options: PeerRequestOptions): Promise<PeerDelivery> {
    return this.#receive(peerId, `o${peerId} ${rid}`, rid, segmentId, 'offer', options);
  }

  /**
   * How many times `peerId` offered `segmentId` to this viewer: a peer offers as an upload slot
   * frees, so one that answered busy may be asked again once it offered since.
   */
  offersFrom(segmentId: string, peerId: string): number {
    return this.#offersReceived.get(segmentId)?.get(peerId) ?? 0;
  }

  /** Tells peers these segments are gone from this viewer (evicted, or their loading failed). */
  withdraw(segmentIds: string[]): void {
    const gone = segmentIds.filter((id) => this.#announced.delete(id) || this.#announcedLoading.delete(id));
    if (gone.length > 0) this.#sendControl({ t: 'lost', ids: gone });
  }

  /** Fetches a segment from one peer, failing with a {@link PeerRequestError}. */
  request(peerId: string, segmentId: string, options: PeerRequestOptions): Promise<PeerDelivery> {
    const rid = this.#nextRequestId++;
    return this.#receive(peerId, `r${rid}`, rid, segmentId, 'req', options);
  }

  /** Receives the answer `rid` from a peer: to a request of `segmentId` (sent here), or to its offer. */
  #receive(peerId: string, key: string, rid: number, segmentId: string, kind: 'req' | 'offer', options: PeerRequestOptions): Promise<PeerDelivery> {
    const peer = this.#peers.get(peerId);
    if (!peer || this.#closed) return Promise.reject(new PeerRequestError('disconnected', peerId));
    if (options.signal?.aborted) return Promise.reject(new PeerRequestError('aborted', peerId));
    const startedAt = this.options.now();
    return new Promise<PeerDelivery>((resolve, reject) => {
      let firstByteTimer: ReturnType<typeof setTimeout> | undefined;
      let settled = false;
      /** Ends the request once: timers, listeners, bookkeeping. False if it had already ended. */
      const settle = () => {
        if (settled) return false;
        settled = true;
        clearTimeout(firstByteTimer);
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        this.#pending.delete(key);
        peer.activeRequests--;
        return true;
      };
      const pending: PendingRequest = {
        peerId,
        segmentId,
        sink: options.sink,
        total: undefined,
        received: 0,
        startedAt,
        firstByteAt: 0,
        resolve: (delivery) => {
          if (!settle()) return;
          const seconds = (delivery.endedAt - delivery.startedAt) / 1000;
          const sample = delivery.data.byteLength / Math.max(seconds, 0.001);
          peer.throughputBytesPerSec =
            peer.throughputBytesPerSec === undefined ? sample : peer.throughputBytesPerSec * (1 - THROUGHPUT_SMOOTHING) + sample * THROUGHPUT_SMOOTHING;
          resolve(delivery);
        },
        fail: (failure) => {
          if (!settle()) return;
          if (failure === 'timeout' || failure === 'first-byte-timeout' || failure === 'aborted') {
            this.#sendControlTo(peerId, kind === 'offer' ? { t: 'decline', rid } : { t: 'cancel', rid });
          }
          if (failure === 'timeout' || failure === 'first-byte-timeout') peer.throughputBytesPerSec = (peer.throughputBytesPerSec ?? 0) / 2;
          reject(new PeerRequestError(failure, peerId));
        },
      };
      const onAbort = () => pending.fail('aborted');
      const timer = setTimeout(() => pending.fail('timeout'), options.timeoutMs);
      firstByteTimer = setTimeout(() => {
        if (pending.received === 0) pending.fail('first-byte-timeout');
      }, Math.min(options.firstByteTimeoutMs, options.timeoutMs));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      peer.activeRequests++;
      this.#pending.set(key, pending);
      if (kind === 'req') this.#sendControlTo(peerId, { t: 'req', rid, id: segmentId });
    });
  }

  /**
   * Leaves the room; requests in flight fail as disconnected. trystero keeps a peer's
   * connection for the page's other rooms; this swarm's peers are closed `release.afterMs`
   * later unless `release.stillWanted(peerId)` says a room of the page uses them again by then
   * (a player destroyed and recreated at once keeps its peers).
   */
  async close(release: { afterMs: number; stillWanted: (peerId: string) => boolean } = { afterMs: 0, stillWanted: () => false }): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const request of [...this.#pending.values()]) request.fail('disconnected');
    for (const peer of this.#peers.values()) {
      clearTimeout(peer.helloTimer);
      for (const upload of peer.uploads.values()) upload.abort();
      for (const upload of peer.offersOut.values()) upload.abort();
    }
    const peerIds = [...this.#peers.keys()];
    this.#peers.clear();
    for (const peerId of peerIds) this.options.listener.peerDisconnected(peerId);
    const connections = this.#room.getPeers?.() ?? {};
    await this.#room.leave();
    const timer = setTimeout(() => {
      for (const peerId of peerIds) if (!release.stillWanted(peerId)) closeQuietly(connections[peerId]);
    }, release.afterMs);
    (timer as { unref?: () => void }).unref?.();
  }

  #onPeerJoin(peerId: string): void {
    if (this.#closed || this.#peers.has(peerId)) return;
    const helloTimer = setTimeout(() => {
      if (this.#peers.get(peerId) !== peer) return;
      this.disconnect(peerId);
      this.options.listener.unresponsive(peerId);
    }, this.options.helloTimeoutMs ?? PEER_HELLO_TIMEOUT_MS);
    (helloTimer as { unref?: () => void }).unref?.();
    const peer: RemotePeer = { have: new Set(), loading: new Set(), throughputBytesPerSec: undefined, activeRequests: 0, uploads: new Map(), offersOut: new Map(), helloTimer, binaryChunks: false };
    this.#peers.set(peerId, peer);
    this.options.listener.peerConnected(peerId);
    for (const wake of [...this.#peerWaiters]) wake();
    const ids = [...this.#announced];
    for (let i = 0; i === 0 || i < ids.length; i += MAX_IDS_PER_MESSAGE) {
      const have = { t: 'have' as const, ids: ids.slice(i, i + MAX_IDS_PER_MESSAGE), reset: i === 0 };
      this.#sendControlTo(peerId, have.reset ? { ...have, binaryChunks: true } : have);
    }
    if (this.#announcedLoading.size > 0) this.#sendControlTo(peerId, { t: 'loading', ids: [...this.#announcedLoading].slice(0, MAX_IDS_PER_MESSAGE) });
  }

  #onPeerLeave(peerId: string): void {
    const peer = this.#peers.get(peerId);
    if (!peer) return;
    this.#peers.delete(peerId);
    clearTimeout(peer.helloTimer);
    for (const upload of peer.uploads.values()) upload.abort();
    for (const upload of peer.offersOut.values()) upload.abort();
    for (const request of [...this.#pending.values()]) if (request.peerId === peerId) request.fail('disconnected');
    this.options.listener.peerDisconnected(peerId);
  }

  #dropPeer(peerId: string, reason: string): void {
    this.disconnect(peerId);
    this.options.listener.misbehaved(peerId, reason);
  }

  /** Forgets a peer and closes its connection (trystero keeps it open otherwise). */
  disconnect(peerId: string): void {
    this.#onPeerLeave(peerId);
    closeQuietly(this.#room.getPeers?.()[peerId]);
  }

  #onControl(peerId: string, raw: unknown): void {
    const peer = this.#peers.get(peerId);
    if (!peer) return;
    clearTimeout(peer.helloTimer);
    const parsed = parseControlMessage(raw);
    if (!parsed.ok) {
      this.#dropPeer(peerId, parsed.reason);
      return;
    }
    const message = parsed.value;
    switch (message.t) {
      case 'have':
        if (message.reset) peer.have.clear();
        if (message.binaryChunks) peer.binaryChunks = true;
        message.ids.forEach((id, i) => {
          peer.have.add(id);
          peer.loading.delete(id);
          this.#heardFlowing(id, message.seqs?.[i], peerId);
          this.#wakeHolderWaiters(id, peerId);
        });
        break;
      case 'loading':
        message.ids.forEach((id, i) => {
          if (peer.have.has(id)) return;
          peer.loading.add(id);
          this.#heardFlowing(id, message.seqs?.[i], peerId);
          this.#wakeHolderWaiters(id, peerId);
        });
        break;
      case 'flowing':
        this.#heardFlowing(message.id, message.seq, peerId);
        break;
      case 'lost':
        for (const id of message.ids) {
          peer.have.delete(id);
          peer.loading.delete(id);
        }
        break;
      case 'req':
        void this.#serve(peerId, peer, message.rid, message.id);
        break;
      case 'cancel': {
        peer.uploads.get(message.rid)?.abort();
        break;
      }
      case 'decline':
        peer.offersOut.get(message.rid)?.abort();
        break;
      case 'absent': {
        const request = this.#pending.get(message.push ? `o${peerId} ${message.rid}` : `r${message.rid}`);
        if (request?.peerId === peerId) {
          peer.have.delete(request.segmentId);
          peer.loading.delete(request.segmentId);
          request.fail('absent');
        }
        break;
      }
      case 'offer': {
        if (!peer.have.has(message.id)) peer.loading.add(message.id);
        let offers = this.#offersReceived.get(message.id);
        if (!offers) {
          this.#offersReceived.set(message.id, (offers = new Map()));
          if (this.#offersReceived.size > OFFERED_SEGMENTS_REMEMBERED) this.#offersReceived.delete(this.#offersReceived.keys().next().value as string);
        }
        offers.set(peerId, (offers.get(peerId) ?? 0) + 1);
        this.#heardFlowing(message.id, message.seq, peerId);
        if (!this.options.listener.offered(peerId, message.id, message.seq, message.rid)) this.#sendControlTo(peerId, { t: 'decline', rid: message.rid });
        // Someone waiting for this segment may take the offer, though the peer was busy before.
        this.#wakeHolderWaiters(message.id, peerId);
        break;
      }
      case 'busy': {
        const request = this.#pending.get(`r${message.rid}`);
        if (request?.peerId === peerId) request.fail('busy');
        break;
      }
    }
  }

  async #serve(peerId: string, peer: RemotePeer, rid: number, segmentId: string): Promise<void> {
    const announced = this.#announced.has(segmentId) || this.#announcedLoading.has(segmentId);
    const source = this.options.upload() && announced ? this.options.source(segmentId) : undefined;
    if (!source || peer.uploads.has(rid)) {
      this.#sendControlTo(peerId, { t: 'absent', rid });
      return;
    }
    const upload = new AbortController();
    peer.uploads.set(rid, upload);
    const queueWait = new AbortController();
    const stopWaiting = () => queueWait.abort();
    // Only live viewers queue: they all want the same new segment at once, while a VOD viewer
    // asking a busy peer does better with another holder at once.
    if (!this.options.live?.()) stopWaiting();
    upload.signal.addEventListener('abort', stopWaiting, { once: true });
    const queueTimer = setTimeout(stopWaiting, UPLOAD_QUEUE_WAIT_MS);
    const granted = await this.options.uploadSlots.acquire(queueWait.signal);
    clearTimeout(queueTimer);
    upload.signal.removeEventListener('abort', stopWaiting);
    if (!granted) {
      peer.uploads.delete(rid);
      if (!upload.signal.aborted) this.#sendControlTo(peerId, { t: 'busy', rid });
      return;
    }
    await this.#send(peerId, rid, source, upload, false);
    peer.uploads.delete(rid);
  }

  /** Streams a segment to a peer as the answer `rid` (to its request, or to this viewer's offer); releases the upload slot. */
  async #send(peerId: string, rid: number, source: ArrayBuffer | PartialSegment, upload: AbortController, push: boolean): Promise<void> {
    try {
      const total = source instanceof ArrayBuffer ? source.byteLength : await source.size();
      const startedAt = this.options.now();
      let alone = this.options.uploadSlots.inUse === 1;
      const pieces = source instanceof ArrayBuffer ? [new Uint8Array(source)] : source.read(upload.signal);
      let offset = 0;
      for await (const piece of pieces) {
        for (let start = 0; start < piece.byteLength && !upload.signal.aborted; start += CHUNK_BYTES) {
          const chunk = piece.subarray(start, Math.min(start + CHUNK_BYTES, piece.byteLength));
          const meta = { rid, offset, total, push };
          offset += chunk.byteLength;
          await this.options.uploadRate?.take(chunk.byteLength, upload.signal);
          if (upload.signal.aborted) return;
          if (this.#peers.get(peerId)?.binaryChunks && fitsChunkHeader(rid)) {
            await this.#data.send(encodeChunk(meta, chunk), { target: peerId });
          } else {
            const metadata: ChunkMetaJson = push ? meta : { rid, offset: meta.offset, total };
            await this.#data.send(chunk.slice().buffer, { target: peerId, metadata });
          }
          alone &&= this.options.uploadSlots.inUse === 1;
          if (!upload.signal.aborted) this.options.listener.uploaded(peerId, chunk.byteLength);
        }
        if (upload.signal.aborted) return;
      }
      if (offset !== total) throw new Error('source ended short');
      // Only an upload that had the uplink to itself measures it.
      if (source instanceof ArrayBuffer && alone) this.options.listener.uploadedWhole(total, this.options.now() - startedAt);
    } catch {
      // The source failed or the channel closed: tell the peer, whose request falls back.
      if (!upload.signal.aborted) this.#sendControlTo(peerId, push ? { t: 'absent', rid, push } : { t: 'absent', rid });
    } finally {
      this.options.uploadSlots.release();
    }
  }

  /** Remembers a live segment as arriving in the swarm; false if it was known already. */
  #remember(segmentId: string, seq: number): boolean {
    if (this.#flowing.has(segmentId)) return false;
    this.#flowing.set(segmentId, seq);
    if (this.#flowing.size > FLOWING_SEGMENTS_REMEMBERED) this.#flowing.delete(this.#flowing.keys().next().value as string);
    return true;
  }

  /**
   * News that a live segment is arriving in the swarm, from `fromPeerId`: passed on once to
   * every other peer, so it crosses the swarm in a few message hops, well before the segment
   * itself. A viewer that hears it waits for an offer rather than fetch the segment over HTTP:
   * only the viewers who find a new segment before any news of it reaches them pay the CDN.
   */
  #heardFlowing(segmentId: string, seq: number | undefined, fromPeerId: string): void {
    if (seq === undefined || this.#closed || !this.options.live?.() || !this.#remember(segmentId, seq)) return;
    // Those who hear this viewer announce it loading or held have their news already.
    if (this.#announced.has(segmentId) || this.#announcedLoading.has(segmentId)) return;
    const others = [...this.#peers.keys()].filter((id) => id !== fromPeerId);
    if (others.length > 0) this.#control.send({ t: 'flowing', id: segmentId, seq }, { target: others }).catch(() => {});
  }

  #wakeHolderWaiters(segmentId: string, peerId: string): void {
    for (const wake of [...(this.#holderWaiters.get(segmentId) ?? [])]) wake(peerId);
  }

  #onChunk(peerId: string, raw: unknown, metadata: unknown): void {
    if (!this.#peers.has(peerId)) return;
    const bytes = raw instanceof ArrayBuffer ? new Uint8Array(raw) : ArrayBuffer.isView(raw) ? new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength) : undefined;
    if (!bytes) {
      this.#dropPeer(peerId, 'data chunk is not binary');
      return;
    }
    const parsed = parseDataMessage(bytes, metadata);
    if (!parsed.ok) {
      this.#dropPeer(peerId, parsed.reason);
      return;
    }
    const { meta: { rid, offset, total, push }, bytes: chunk } = parsed.value;
    const request = this.#pending.get(push ? `o${peerId} ${rid}` : `r${rid}`);
    // A chunk for a request already given up (cancelled, timed out) is expected; ignore it.
    if (!request || request.peerId !== peerId) return;
    if (request.sink.state !== 'loading') {
      // The segment came another way meanwhile (the player went to HTTP): stop this transfer.
      request.fail('aborted');
      return;
    }
    if (request.total === undefined) {
      request.total = total;
      request.firstByteAt = this.options.now();
      request.sink.start(total);
    }
    if (request.total !== total || request.sink.total !== total || offset !== request.received) {
      request.fail('corrupt');
      this.#dropPeer(peerId, 'chunks out of order or inconsistent size');
      return;
    }
    request.sink.append(chunk);
    request.received += chunk.byteLength;
    if (request.received === total) {
      // The sink stays loading: the caller settles it once the bytes are verified.
      const data = request.sink.assembled();
      if (data) request.resolve({ data, startedAt: request.startedAt, firstByteAt: request.firstByteAt, endedAt: this.options.now() });
      else request.fail('corrupt');
    }
  }

  #sendControl(message: ControlMessage): void {
    if (this.#closed || this.#peers.size === 0) return;
    this.#control.send(message, { target: [...this.#peers.keys()] }).catch(() => {});
  }

  #sendControlTo(peerId: string, message: ControlMessage): void {
    if (this.#closed) return;
    this.#control.send(message, { target: peerId }).catch(() => {});
  }
}

/** Closes a peer connection trystero may already have closed. */
function closeQuietly(connection: RTCPeerConnection | undefined): void {
  try {
    connection?.close();
  } catch {
    // Already closed.
  }
}
