/**
 * The WebTorrent tracker protocol, as spoken by WebTorrent, bittorrent-tracker and trystero's
 * torrent strategy: one JSON object per WebSocket message. Every message shape the tracker
 * reads or writes is defined here, and incoming messages are validated here.
 *
 * Wire format (client -> tracker):
 * ```
 * { action: 'announce', info_hash, peer_id,           // 20-character strings
 *   numwant?, event?, uploaded?, downloaded?, left?,   // numbers may be null (JSON of NaN)
 *   offers?: [{ offer_id, offer: { type: 'offer', sdp } }],        // relay to random peers
 *   answer?: { type: 'answer', sdp }, offer_id?, to_peer_id? }     // relay to one peer
 * { action: 'scrape', info_hash?: string | string[] }              // none = every swarm
 * ```
 * Tracker -> client:
 * ```
 * { action: 'announce', info_hash, interval, complete, incomplete }   // announce reply
 * { action: 'announce', info_hash, peer_id, offer_id, offer }         // relayed offer
 * { action: 'announce', info_hash, peer_id, offer_id, answer }        // relayed answer
 * { action: 'scrape', files: { [info_hash]: { complete, incomplete, downloaded } } }
 * { 'failure reason': string, action?, info_hash? }
 * ```
 * `info_hash` and `peer_id` are opaque 20-character strings: WebTorrent sends 20 raw bytes as
 * a binary string, trystero sends 20 hex characters. The tracker never decodes them.
 */

/** Length of `info_hash`, `peer_id` and `to_peer_id`. */
export const ID_LENGTH = 20;

/** Most offers relayed for a single announce, whatever `numwant` or `offers.length` say. */
export const MAX_OFFERS_PER_ANNOUNCE = 50;

/**
 * Lifecycle event of an announce. `paused` is sent by recent bittorrent-tracker clients and
 * handled like `update`.
 */
export type AnnounceEvent = 'started' | 'stopped' | 'completed' | 'update' | 'paused';

const ANNOUNCE_EVENTS: readonly AnnounceEvent[] = ['started', 'stopped', 'completed', 'update', 'paused'];

/** A WebRTC session description as carried by the protocol. */
export interface SessionDescription<T extends 'offer' | 'answer'> {
  type: T;
  sdp: string;
}

/** One offer of an announce, to be relayed to one other peer of the swarm. */
export interface OfferEntry {
  offer_id: string;
  offer: SessionDescription<'offer'>;
}

/** A validated `announce` request. Numeric fields sent as `null` are left out. */
export interface AnnounceRequest {
  action: 'announce';
  info_hash: string;
  peer_id: string;
  numwant?: number;
  offers?: OfferEntry[];
  /** With `answer`, `offer_id` and `to_peer_id` are always present. */
  answer?: SessionDescription<'answer'>;
  offer_id?: string;
  to_peer_id?: string;
  event?: AnnounceEvent;
  uploaded?: number;
  downloaded?: number;
  left?: number;
}

/** A validated `scrape` request. Without `info_hash`, every swarm is scraped. */
export interface ScrapeRequest {
  action: 'scrape';
  info_hash?: string | string[];
}

/** Any validated request from a client. */
export type TrackerRequest = AnnounceRequest | ScrapeRequest;

/** The tracker's reply to every announce. */
export interface AnnounceReply {
  action: 'announce';
  info_hash: string;
  /** Seconds the client should wait before announcing again. */
  interval: number;
  /** Peers that reported `left: 0` or `event: 'completed'`. */
  complete: number;
  /** All other peers of the swarm. */
  incomplete: number;
}

/** An offer relayed to a peer; `peer_id` is the offering peer. */
export interface OfferRelay {
  action: 'announce';
  info_hash: string;
  peer_id: string;
  offer_id: string;
  offer: SessionDescription<'offer'>;
}

/** An answer relayed to the offering peer; `peer_id` is the answering peer. */
export interface AnswerRelay {
  action: 'announce';
  info_hash: string;
  peer_id: string;
  offer_id: string;
  answer: SessionDescription<'answer'>;
}

/** Per-swarm counts of a scrape reply. */
export interface ScrapeFile {
  complete: number;
  incomplete: number;
  /** `completed` events seen while the swarm existed. */
  downloaded: number;
}

/** The tracker's reply to a scrape. */
export interface ScrapeReply {
  action: 'scrape';
  files: Record<string, ScrapeFile>;
}

/** The reply to a request the tracker could not honour. */
export interface FailureReply {
  'failure reason': string;
  action?: TrackerRequest['action'];
  info_hash?: string;
}

/** Any message the tracker sends. */
export type TrackerReply = AnnounceReply | OfferRelay | AnswerRelay | ScrapeReply | FailureReply;

/**
 * Outcome of validating one incoming message: the typed request, or the failure reason with
 * the `action` and `info_hash` of the message when they could be read.
 */
export type ParseResult = { ok: true; request: TrackerRequest } | ParseFailure;

/** A message that failed validation. */
export interface ParseFailure {
  ok: false;
  reason: string;
  action?: TrackerRequest['action'];
  info_hash?: string;
}

type Fields = Record<string, unknown>;

/** Thrown by field readers, caught by {@link validateRequest}. */
class InvalidField extends Error {}

function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function id(fields: Fields, name: string): string {
  const value = fields[name];
  if (typeof value !== 'string' || value.length !== ID_LENGTH) {
    throw new InvalidField(`invalid ${name}: expected a string of ${ID_LENGTH} characters`);
  }
  return value;
}

function nonEmptyString(fields: Fields, name: string, label = name): string {
  const value = fields[name];
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidField(`invalid ${label}: expected a non-empty string`);
  }
  return value;
}

function optionalCount(fields: Fields, name: string): number | undefined {
  const value = fields[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !(value >= 0)) {
    throw new InvalidField(`invalid ${name}: expected a non-negative number`);
  }
  return value;
}

function description<T extends 'offer' | 'answer'>(value: unknown, name: string, type: T): SessionDescription<T> {
  if (!isObject(value) || value.type !== type || typeof value.sdp !== 'string') {
    throw new InvalidField(`invalid ${name}: expected { type: '${type}', sdp: string }`);
  }
  return { type, sdp: value.sdp };
}

function offers(value: unknown): OfferEntry[] {
  if (!Array.isArray(value)) throw new InvalidField('invalid offers: expected an array');
  return value.map((entry: unknown, i) => {
    if (!isObject(entry)) throw new InvalidField(`invalid offers[${i}]: expected an object`);
    return {
      offer_id: nonEmptyString(entry, 'offer_id', `offers[${i}].offer_id`),
      offer: description(entry.offer, `offers[${i}].offer`, 'offer'),
    };
  });
}

function announce(fields: Fields): AnnounceRequest {
  const request: AnnounceRequest = {
    action: 'announce',
    info_hash: id(fields, 'info_hash'),
    peer_id: id(fields, 'peer_id'),
  };
  const numwant = optionalCount(fields, 'numwant');
  if (numwant !== undefined) request.numwant = Math.floor(numwant);
  for (const name of ['uploaded', 'downloaded', 'left'] as const) {
    const value = optionalCount(fields, name);
    if (value !== undefined) request[name] = value;
  }
  if (fields.event !== undefined) {
    const event = ANNOUNCE_EVENTS.find((e) => e === fields.event);
    if (event === undefined) throw new InvalidField(`invalid event: expected one of ${ANNOUNCE_EVENTS.join(', ')}`);
    request.event = event;
  }
  if (fields.offers !== undefined) request.offers = offers(fields.offers);
  if (fields.answer !== undefined) {
    request.answer = description(fields.answer, 'answer', 'answer');
    request.offer_id = nonEmptyString(fields, 'offer_id');
    request.to_peer_id = id(fields, 'to_peer_id');
  }
  return request;
}

function scrape(fields: Fields): ScrapeRequest {
  const value = fields.info_hash;
  if (value === undefined) return { action: 'scrape' };
  const hashes = Array.isArray(value) ? value : [value];
  for (const hash of hashes) {
    if (typeof hash !== 'string' || hash.length !== ID_LENGTH) {
      throw new InvalidField(`invalid info_hash: expected a string of ${ID_LENGTH} characters or an array of them`);
    }
  }
  return { action: 'scrape', info_hash: value as string | string[] };
}

/** Validates an already JSON-parsed message. */
export function validateRequest(message: unknown): ParseResult {
  if (!isObject(message)) return { ok: false, reason: 'invalid message: expected a JSON object' };
  const { action } = message;
  const known = action === 'announce' || action === 'scrape' ? action : undefined;
  const infoHash =
    typeof message.info_hash === 'string' && message.info_hash.length === ID_LENGTH ? message.info_hash : undefined;
  try {
    if (known === 'announce') return { ok: true, request: announce(message) };
    if (known === 'scrape') return { ok: true, request: scrape(message) };
  } catch (err) {
    if (!(err instanceof InvalidField)) throw err;
    return failure(err.message, known, infoHash);
  }
  const reason =
    typeof action === 'string' ? `unknown action: ${JSON.stringify(action)}` : 'invalid action: expected "announce" or "scrape"';
  return failure(reason, undefined, infoHash);
}

/** Parses and validates one raw WebSocket text message. */
export function parseRequest(text: string): ParseResult {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'invalid message: not valid JSON' };
  }
  return validateRequest(message);
}

function failure(reason: string, action: TrackerRequest['action'] | undefined, infoHash: string | undefined): ParseFailure {
  const result: ParseFailure = { ok: false, reason };
  if (action !== undefined) result.action = action;
  if (infoHash !== undefined) result.info_hash = infoHash;
  return result;
}

/** Builds the reply to a refused request. */
export function failureReply(reason: string, action?: TrackerRequest['action'], infoHash?: string): FailureReply {
  const reply: FailureReply = { 'failure reason': reason };
  if (action !== undefined) reply.action = action;
  if (infoHash !== undefined) reply.info_hash = infoHash;
  return reply;
}
