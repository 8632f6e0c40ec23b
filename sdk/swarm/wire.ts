/**
 * Shoal's peer wire protocol, carried by two trystero actions inside one swarm's room.
 *
 * Control action `shoal-ctl` (JSON, one message per send):
 *   { t: 'have',   ids: string[], reset: boolean, seqs?: number[], binaryChunks?: true }
 *                                                    segments I hold in full; reset = this is my
 *                                                    whole set, else additions to it;
 *                                                    binaryChunks (on a reset): send me data
 *                                                    chunks with their header inside
 *   { t: 'loading', ids: string[], seqs?: number[] } segments arriving here now (over HTTP or
 *                                                    from a peer): ask, and I relay as they come
 *       `seqs[i]`, when present, is the media sequence number of `ids[i]` in the playlist:
 *       it tells a live viewer that a segment is newer than any it has asked for yet.
 *   { t: 'lost',   ids: string[] }                  segments I no longer hold or load
 *   { t: 'req',    rid: number, id: string }        send me segment `id`; `rid` is mine to pick
 *   { t: 'cancel', rid: number }                    stop sending what `rid` asked for
 *   { t: 'absent', rid: number, push?: boolean }    I can't serve `rid` (not held, or no upload);
 *                                                    `push`: the `rid` of my offer
 *   { t: 'busy',   rid: number }                    all my upload slots are taken: ask elsewhere
 *   { t: 'offer',  id: string, seq: number, rid: number }
 *                                                    a live segment I hold or receive, sent to you
 *                                                    now: its chunks follow as the answer `rid`
 *                                                    (mine to pick), flagged `push`
 *   { t: 'decline', rid: number }                   stop sending the offer `rid`: I have it, or
 *                                                    get it elsewhere
 *   { t: 'flowing', id: string, seq: number }       a live segment is arriving somewhere in the
 *                                                    swarm, maybe not at me: a peer near you will
 *                                                    offer it, so don't fetch it over HTTP yet.
 *                                                    Relayed once by every viewer that hears it
 *
 * Data action `shoal-dat` (binary): the answer to a `req` or an `offer`, streamed as chunks of
 * at most {@link MAX_CHUNK_BYTES}, each described by { rid, offset, total, push? } (`push`: the
 * `rid` is the sender's, of an offer): in a {@link CHUNK_HEADER_BYTES}-byte header before the
 * chunk's bytes, to a peer that asked for `binaryChunks`, else as trystero metadata (peers of
 * earlier versions). Chunks of one answer arrive in order, and the answer is complete when
 * offset + chunk length === total. An answer relayed from a segment still arriving may pause
 * between chunks; `absent` mid-answer means its source failed.
 *
 * Everything received is validated here; a peer that sends something else is misbehaving.
 */

export const CONTROL_ACTION = 'shoal-ctl';
export const DATA_ACTION = 'shoal-dat';

/**
 * Size of the data chunks this viewer sends: a relay forwards a chunk once it has it whole, so
 * the delay per hop is one chunk's time on the uplink, and a live segment crosses the swarm in
 * hops. In the simulator (uplink 2x the bitrate, 100 viewers, seeds 1-3), 16 KiB -> 8 KiB took
 * offload from 0.739 / 0.736 / 0.742 to 0.776 / 0.761 / 0.761, and 8 KiB -> 4 KiB from
 * 0.795 / 0.790 / 0.797 to 0.814 / 0.803 / 0.808 (2 KiB: +0.004 more at seed 1, for twice the
 * messages again). Each chunk is one trystero message (two for peers of earlier versions,
 * which take the chunk's description as trystero metadata).
 */
export const CHUNK_BYTES = 4 * 1024;
/** Largest data chunk accepted from a peer: peers of earlier versions send 16 KiB. */
export const MAX_CHUNK_BYTES = 16 * 1024;
/** Longest segment id accepted from a peer. */
export const MAX_ID_LENGTH = 2048;
/** Most ids in one have/lost message. */
export const MAX_IDS_PER_MESSAGE = 2000;
/** Largest segment a peer may announce it is sending. */
export const MAX_SEGMENT_BYTES = 64 * 1024 * 1024;

export type HaveMessage = { t: 'have'; ids: string[]; reset: boolean; seqs?: number[]; binaryChunks?: true };
export type LoadingMessage = { t: 'loading'; ids: string[]; seqs?: number[] };
export type LostMessage = { t: 'lost'; ids: string[] };
export type RequestMessage = { t: 'req'; rid: number; id: string };
export type CancelMessage = { t: 'cancel'; rid: number };
export type AbsentMessage = { t: 'absent'; rid: number; push?: boolean };
export type BusyMessage = { t: 'busy'; rid: number };
export type OfferMessage = { t: 'offer'; id: string; seq: number; rid: number };
export type DeclineMessage = { t: 'decline'; rid: number };
export type ControlMessage = HaveMessage | LoadingMessage | LostMessage | RequestMessage | CancelMessage | AbsentMessage | BusyMessage | OfferMessage | DeclineMessage | FlowingMessage;
export type FlowingMessage = { t: 'flowing'; id: string; seq: number };

export type ChunkMeta = { rid: number; offset: number; total: number; push: boolean };

type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isRequestId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isSegmentId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_ID_LENGTH;
const isIdList = (v: unknown): v is string[] => Array.isArray(v) && v.length <= MAX_IDS_PER_MESSAGE && v.every(isSegmentId);
const isSeqList = (v: unknown, length: number): v is number[] | undefined =>
  v === undefined || (Array.isArray(v) && v.length === length && v.every((n) => Number.isSafeInteger(n) && n >= 0));
const withSeqs = <T extends object>(message: T, seqs: number[] | undefined): T & { seqs?: number[] } => (seqs ? { ...message, seqs } : message);

/** Validates a control message received from a peer. */
export function parseControlMessage(data: unknown): Parsed<ControlMessage> {
  if (!isRecord(data)) return { ok: false, reason: 'control message is not an object' };
  switch (data.t) {
    case 'have':
      if (!isIdList(data.ids) || typeof data.reset !== 'boolean' || !isSeqList(data.seqs, data.ids.length)) return { ok: false, reason: 'malformed have' };
      return { ok: true, value: withSeqs({ t: 'have', ids: data.ids, reset: data.reset, ...(data.binaryChunks === true ? { binaryChunks: true as const } : {}) }, data.seqs) };
    case 'loading':
      if (!isIdList(data.ids) || !isSeqList(data.seqs, data.ids.length)) return { ok: false, reason: 'malformed loading' };
      return { ok: true, value: withSeqs({ t: 'loading', ids: data.ids }, data.seqs) };
    case 'lost':
      if (!isIdList(data.ids)) return { ok: false, reason: 'malformed lost' };
      return { ok: true, value: { t: 'lost', ids: data.ids } };
    case 'req':
      if (!isRequestId(data.rid) || !isSegmentId(data.id)) return { ok: false, reason: 'malformed req' };
      return { ok: true, value: { t: 'req', rid: data.rid, id: data.id } };
    case 'absent':
      if (!isRequestId(data.rid) || (data.push !== undefined && typeof data.push !== 'boolean')) return { ok: false, reason: 'malformed absent' };
      return { ok: true, value: data.push ? { t: 'absent', rid: data.rid, push: true } : { t: 'absent', rid: data.rid } };
    case 'cancel':
    case 'busy':
    case 'decline':
      if (!isRequestId(data.rid)) return { ok: false, reason: `malformed ${data.t}` };
      return { ok: true, value: { t: data.t, rid: data.rid } };
    case 'offer':
      if (!isSegmentId(data.id) || !Number.isSafeInteger(data.seq) || (data.seq as number) < 0 || !isRequestId(data.rid)) return { ok: false, reason: 'malformed offer' };
      return { ok: true, value: { t: 'offer', id: data.id, seq: data.seq as number, rid: data.rid } };
    case 'flowing':
      if (!isSegmentId(data.id) || !Number.isSafeInteger(data.seq) || (data.seq as number) < 0) return { ok: false, reason: `malformed ${data.t}` };
      return { ok: true, value: { t: data.t, id: data.id, seq: data.seq as number } };
    default:
      return { ok: false, reason: `unknown control message ${JSON.stringify(data.t)}` };
  }
}

/** Validates the metadata of a data chunk received from a peer of an earlier version. */
export function parseChunkMeta(meta: unknown, chunkBytes: number): Parsed<ChunkMeta> {
  if (!isRecord(meta)) return { ok: false, reason: 'chunk without metadata' };
  const { rid, offset, total, push } = meta;
  if (!isRequestId(rid) || !Number.isSafeInteger(offset) || !Number.isSafeInteger(total) || (push !== undefined && typeof push !== 'boolean')) {
    return { ok: false, reason: 'malformed chunk metadata' };
  }
  return inBounds({ rid, offset: offset as number, total: total as number, push: push === true }, chunkBytes);
}

function inBounds(meta: ChunkMeta, chunkBytes: number): Parsed<ChunkMeta> {
  const { offset, total } = meta;
  if (total <= 0 || total > MAX_SEGMENT_BYTES || offset < 0 || chunkBytes > MAX_CHUNK_BYTES || offset + chunkBytes > total) {
    return { ok: false, reason: 'chunk out of bounds' };
  }
  return { ok: true, value: meta };
}

/**
 * Size of the header a data chunk carries inside its message: a format byte (`CHUNK_FORMAT`,
 * plus 1 for `push`), then rid, offset and total as big-endian uint32. One message per chunk
 * instead of trystero's two (metadata, then bytes): in real Chromium a Shoal viewer's main
 * thread spent more time in `RTCDataChannel.send` and trystero's message handling than in all
 * of hls.js.
 */
export const CHUNK_HEADER_BYTES = 13;
const CHUNK_FORMAT = 0x10;
const UINT32_MAX = 0xffff_ffff;

/** Whether answer `rid`'s chunks can carry the binary header (a rid past uint32 cannot). */
export function fitsChunkHeader(rid: number): boolean {
  return rid <= UINT32_MAX;
}

/** A data chunk with its header: one message, ready to send. */
export function encodeChunk(meta: ChunkMeta, bytes: Uint8Array): ArrayBuffer {
  const message = new Uint8Array(CHUNK_HEADER_BYTES + bytes.byteLength);
  const view = new DataView(message.buffer);
  view.setUint8(0, CHUNK_FORMAT + (meta.push ? 1 : 0));
  view.setUint32(1, meta.rid);
  view.setUint32(5, meta.offset);
  view.setUint32(9, meta.total);
  message.set(bytes, CHUNK_HEADER_BYTES);
  return message.buffer;
}

/** Validates a data chunk with its header, received from a peer; its `bytes` are a view into `message`. */
export function parseChunk(message: Uint8Array): Parsed<{ meta: ChunkMeta; bytes: Uint8Array }> {
  if (message.byteLength < CHUNK_HEADER_BYTES) return { ok: false, reason: 'chunk shorter than its header' };
  const view = new DataView(message.buffer, message.byteOffset, CHUNK_HEADER_BYTES);
  const format = view.getUint8(0);
  if (format !== CHUNK_FORMAT && format !== CHUNK_FORMAT + 1) return { ok: false, reason: 'malformed chunk header' };
  const bytes = message.subarray(CHUNK_HEADER_BYTES);
  const parsed = inBounds({ rid: view.getUint32(1), offset: view.getUint32(5), total: view.getUint32(9), push: format === CHUNK_FORMAT + 1 }, bytes.byteLength);
  return parsed.ok ? { ok: true, value: { meta: parsed.value, bytes } } : parsed;
}

/** Validates a data message received from a peer: a chunk with its header inside, or (from a peer of an earlier version) with metadata. */
export function parseDataMessage(message: Uint8Array, metadata: unknown): Parsed<{ meta: ChunkMeta; bytes: Uint8Array }> {
  if (metadata === undefined) return parseChunk(message);
  const parsed = parseChunkMeta(metadata, message.byteLength);
  return parsed.ok ? { ok: true, value: { meta: parsed.value, bytes: message } } : parsed;
}
