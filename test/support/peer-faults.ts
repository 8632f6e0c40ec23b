/**
 * Faults in what one viewer sends to its peers, injected below the SDK: the page's
 * `RTCDataChannel.prototype.send` is wrapped before any script runs, and the test switches the
 * fault on when it wants. Only segment data is touched (messages of Shoal's `shoal-dat` action,
 * see sdk/swarm/wire.ts); control messages pass, so the peer still looks healthy.
 *
 * What goes down a data channel is trystero's framing (@trystero-p2p/core, action-wire.ts),
 * optionally inside a room frame (shared-peer.ts: byte 1, token length in 2 bytes, token):
 *   bytes 0-31  action name, UTF-8, zero-padded
 *   32-33       nonce: one per action send, i.e. per Shoal chunk
 *   34          tag: bit 0 last message of the send, bit 1 metadata, bit 2 binary, bit 3 JSON
 *   35          progress
 *   36-         payload: the send's JSON metadata, or up to 16 KiB - 36 of its bytes
 * A Shoal chunk is one message, its payload Shoal's 13-byte chunk header (format, rid, offset,
 * total) and then the chunk's bytes; to a peer of an earlier version, one metadata message
 * { rid, offset, total } and then its bytes in one or two messages.
 *
 * One fault touches trystero's own messages instead: `drop-handshake-ready` swallows the
 * message (action `@_hsready`) that tells the peer this side's handshake passed, so the peer's
 * handshake times out while this side's passes.
 */
import type { Page } from 'puppeteer-core';

export type PeerFault =
  /** Everything goes out untouched. */
  | { mode: 'pass' }
  /** `after` more segment-data messages go out, then none (the connection stays up). */
  | { mode: 'drop'; after: number }
  /** Every segment-data message carrying media bytes has one byte changed inside a TS packet's payload. */
  | { mode: 'corrupt' }
  /** The next `count` handshake-ready messages are not sent; segment data goes out untouched. */
  | { mode: 'drop-handshake-ready'; count: number };

export interface PeerFaultCounters {
  /** Segment-data messages sent (metadata included), untouched or corrupted. */
  sent: number;
  dropped: number;
  corrupted: number;
  /** Handshake-ready messages not sent. */
  handshakesSpoiled: number;
}

/** Wraps `RTCDataChannel.prototype.send` in every document the page loads; the fault starts as `pass`. */
export async function injectPeerFaults(page: Page): Promise<void> {
  // tsx compiles with esbuild's keepNames, which wraps named functions in calls to a `__name`
  // helper that only exists in Node: give the page one.
  await page.evaluateOnNewDocument('globalThis.__name ??= (fn) => fn;');
  await page.evaluateOnNewDocument(() => {
    const ACTION = new TextEncoder().encode('shoal-dat');
    const HANDSHAKE_READY = new TextEncoder().encode('@_hsready');
    const HEADER_BYTES = 36;
    const CHUNK_HEADER_BYTES = 13;
    const PIECE_BYTES = 16 * 1024 - HEADER_BYTES;
    const TS_PACKET_BYTES = 188;
    /** Far enough into a TS packet to miss its 4-byte header and any PCR: the stream still parses. */
    const CORRUPT_AT_IN_PACKET = 100;
    const state = { fault: { mode: 'pass' } as { mode: string; after?: number; count?: number }, sent: 0, dropped: 0, corrupted: 0, handshakesSpoiled: 0, sinceSet: 0, spoiledSinceSet: 0 };
    (window as any).peerFaults = state;
    /** Where each send's bytes start in the segment, per channel and nonce, from its metadata. */
    const sends = new WeakMap<RTCDataChannel, Map<number, { offset: number; pieces: number }>>();

    const isActionAt = (b: Uint8Array, at: number, action: Uint8Array) =>
      b.byteLength >= at + HEADER_BYTES && action.every((c, i) => b[at + i] === c) && b[at + action.byteLength] === 0;
    const actionStart = (b: Uint8Array, action = ACTION): number => {
      if (isActionAt(b, 0, action)) return 0;
      const roomFramed = b[0] === 1 && b.byteLength > 3 ? 3 + (((b[1] as number) << 8) | (b[2] as number)) : -1;
      return roomFramed > 0 && isActionAt(b, roomFramed, action) ? roomFramed : -1;
    };

    const send = RTCDataChannel.prototype.send as (this: RTCDataChannel, data: unknown) => void;
    RTCDataChannel.prototype.send = function (this: RTCDataChannel, data: unknown) {
      const bytes =
        data instanceof ArrayBuffer ? new Uint8Array(data) : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : undefined;
      if (bytes && state.fault.mode === 'drop-handshake-ready' && state.spoiledSinceSet < (state.fault.count ?? 0) && actionStart(bytes, HANDSHAKE_READY) >= 0) {
        state.spoiledSinceSet++;
        state.handshakesSpoiled++;
        return undefined;
      }
      const at = bytes ? actionStart(bytes) : -1;
      if (!bytes || at < 0) return send.call(this, data);
      if (state.fault.mode === 'drop' && state.sinceSet >= (state.fault.after ?? 0)) {
        state.dropped++;
        return undefined;
      }
      state.sent++;
      state.sinceSet++;
      const nonce = ((bytes[at + 32] as number) << 8) | (bytes[at + 33] as number);
      const tag = bytes[at + 34] as number;
      let byNonce = sends.get(this);
      if (!byNonce) sends.set(this, (byNonce = new Map()));
      if (tag & 2) {
        const meta = JSON.parse(new TextDecoder().decode(bytes.subarray(at + HEADER_BYTES))) as { offset?: unknown };
        byNonce.set(nonce, { offset: typeof meta.offset === 'number' ? meta.offset : 0, pieces: 0 });
        return send.call(this, data);
      }
      const piece = byNonce.get(nonce);
      let segmentOffset: number;
      let mediaAt = at + HEADER_BYTES;
      if (piece) {
        segmentOffset = piece.offset + piece.pieces * PIECE_BYTES;
        piece.pieces++;
        if (tag & 1) byNonce.delete(nonce);
      } else {
        // A chunk with its header inside: offset at header bytes 5-8, big-endian.
        if (bytes.byteLength < mediaAt + CHUNK_HEADER_BYTES) return send.call(this, data);
        segmentOffset = new DataView(bytes.buffer, bytes.byteOffset + mediaAt + 5, 4).getUint32(0);
        mediaAt += CHUNK_HEADER_BYTES;
      }
      if (state.fault.mode !== 'corrupt') return send.call(this, data);
      const index = (((CORRUPT_AT_IN_PACKET - segmentOffset) % TS_PACKET_BYTES) + TS_PACKET_BYTES) % TS_PACKET_BYTES;
      if (mediaAt + index >= bytes.byteLength) return send.call(this, data);
      // A copy: trystero sends the same message object to every peer.
      const corrupted = new Uint8Array(bytes);
      corrupted[mediaAt + index] = (corrupted[mediaAt + index] as number) ^ 0xff;
      state.corrupted++;
      return send.call(this, corrupted);
    };
  });
}

/** Switches the page's fault; counting for `drop` starts now. */
export async function setPeerFault(page: Page, fault: PeerFault): Promise<void> {
  await page.evaluate((next: PeerFault) => {
    const state = (window as any).peerFaults;
    state.fault = next;
    state.sinceSet = 0;
    state.spoiledSinceSet = 0;
  }, fault);
}

export async function peerFaultCounters(page: Page): Promise<PeerFaultCounters> {
  return page.evaluate(() => {
    const { sent, dropped, corrupted, handshakesSpoiled } = (window as any).peerFaults;
    return { sent, dropped, corrupted, handshakesSpoiled };
  });
}
