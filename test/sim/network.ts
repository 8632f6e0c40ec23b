/**
 * The simulated network: every viewer has an uplink and a downlink of fixed capacity, each a
 * FIFO queue, and every pair of viewers a fixed one-way latency. A message leaves the sender's
 * uplink at its capacity, travels, then enters the receiver's downlink. The CDN answers after a
 * time to first byte and streams at its per-response rate, within the viewer's downlink, one
 * piece at a time, so that peer messages arriving during a download interleave with it.
 */
import type { VirtualTime } from './virtual-time.ts';

export interface LinkSpec {
  uploadBytesPerSec: number;
  downloadBytesPerSec: number;
}

export class SimNode {
  uplinkFreeAt = 0;
  downlinkFreeAt = 0;
  uploadedBytes = 0;
  httpBytes = 0;
  p2pReceivedBytes = 0;
  connected = true;
  constructor(
    readonly id: string,
    readonly link: LinkSpec,
  ) {}
}

export class SimNetwork {
  cdnBytes = 0;
  /** CDN bytes of whole segments, and of the rests of segments a peer sent part of (range requests). */
  readonly cdnBytesByKind = { whole: 0, rest: 0 };
  constructor(
    readonly time: VirtualTime,
    readonly options: { minLatencyMs: number; maxLatencyMs: number; cdnTtfbMs: number; cdnBytesPerSec: number },
  ) {}

  /** One-way latency between two viewers: fixed per pair, derived from their ids. */
  latencyMs(a: SimNode, b: SimNode): number {
    const key = a.id < b.id ? a.id + b.id : b.id + a.id;
    let hash = 2166136261;
    for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 16777619);
    const unit = (hash >>> 0) / 4294967296;
    return this.options.minLatencyMs + unit * (this.options.maxLatencyMs - this.options.minLatencyMs);
  }

  /**
   * Sends `bytes` from one viewer to another; `deliver` runs on arrival (unless either side
   * left). Resolves when the message has left the sender's uplink, which is the backpressure a
   * data channel applies.
   */
  send(from: SimNode, to: SimNode, bytes: number, deliver: () => void): Promise<void> {
    const { time } = this;
    const start = Math.max(time.now, from.uplinkFreeAt);
    const sent = start + (bytes / from.link.uploadBytesPerSec) * 1000;
    from.uplinkFreeAt = sent;
    from.uploadedBytes += bytes;
    const arrives = sent + this.latencyMs(from, to);
    // The downlink is taken when the message gets there, not when it leaves: reserving it at
    // sending would queue a CDN piece arriving now behind messages still in flight, and a viewer
    // receiving a relay at the stream's pace would then download from the CDN at a fraction
    // of its downlink.
    time.at(arrives, () => {
      const received = Math.max(time.now, to.downlinkFreeAt) + (bytes / to.link.downloadBytesPerSec) * 1000;
      to.downlinkFreeAt = received;
      time.at(received, () => {
        if (from.connected && to.connected) deliver();
      });
    });
    return new Promise((resolve) => time.at(sent, resolve));
  }

  /** An HTTP response of `bytes` from the CDN to `to`, delivered in pieces of `pieceBytes`. */
  fetchFromCdn(
    to: SimNode,
    bytes: number,
    pieceBytes: number,
    kind: 'whole' | 'rest',
    onHeaders: () => void,
    onPiece: (offset: number, length: number, last: boolean) => void,
  ): void {
    const { time } = this;
    const rate = Math.min(this.options.cdnBytesPerSec, to.link.downloadBytesPerSec);
    const headersAt = time.now + this.options.cdnTtfbMs;
    time.at(headersAt, onHeaders);
    // The downlink is taken piece by piece, not for the whole response at once: peer messages
    // arriving meanwhile share it, as flows share a real link, instead of queueing behind the
    // entire response.
    const sendPiece = (offset: number) => {
      const length = Math.min(pieceBytes, bytes - offset);
      const receivedAt = Math.max(time.now, to.downlinkFreeAt) + (length / to.link.downloadBytesPerSec) * 1000;
      to.downlinkFreeAt = receivedAt;
      const last = offset + length >= bytes;
      const paced = time.now + (length / rate) * 1000;
      time.at(receivedAt, () => {
        if (!to.connected) return;
        this.cdnBytes += length;
        this.cdnBytesByKind[kind] += length;
        to.httpBytes += length;
        onPiece(offset, length, last);
      });
      if (!last) time.at(Math.max(receivedAt, paced), () => to.connected && sendPiece(offset + length));
    };
    time.at(headersAt, () => sendPiece(0));
  }
}
