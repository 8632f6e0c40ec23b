/**
 * Sending a segment body the way a CDN looks from a home connection: nothing for `ttfbMs`,
 * then the bytes at `rateBytesPerSec`, in chunks on a timer. Also the single-range `Range`
 * header parsing that segment responses support.
 */
import type { ServerResponse } from 'node:http';

/** Bytes handed to the socket per write. */
const CHUNK_BYTES = 16 * 1024;

/** Inclusive byte range, as in `Content-Range`. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * Parses a `Range` header against a body of `size` bytes. Returns undefined when the whole
 * body should be sent (no header, another unit, or several ranges, which a server may ignore),
 * and 'unsatisfiable' for a syntactically valid single range outside the body (416).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  const match = header?.trim().match(/^bytes=(\d*)-(\d*)$/);
  if (!match) return undefined;
  const [, from = '', to = ''] = match;
  if (from === '' && to === '') return undefined;
  if (from === '') {
    const suffix = Number(to);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(from);
  const end = to === '' ? size - 1 : Math.min(Number(to), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

export interface Pacing {
  /** Delay before the status line. */
  ttfbMs: number;
  /** Average body rate; Infinity sends as fast as the socket takes it. */
  rateBytesPerSec: number;
}

/**
 * Writes `status`, `headers` and `body` to `res` with `pacing`. `onBytes` is called with each
 * chunk's size once the chunk has been handed to the socket. Stops, without throwing, when the
 * response closes early (client abort, server shutdown). `headOnly` sends no body.
 */
export function sendPaced(
  res: ServerResponse,
  status: number,
  headers: Record<string, string | number>,
  body: Uint8Array,
  pacing: Pacing,
  onBytes: (bytes: number) => void,
  headOnly = false,
): void {
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  res.once('close', () => {
    closed = true;
    clearTimeout(timer);
  });

  let offset = 0;
  let bodyStart = 0;
  // Chunk k goes out no earlier than bodyStart + (bytes before it) / rate: the body as a whole
  // keeps the average rate even when timers fire late.
  const pump = (): void => {
    while (!closed) {
      if (offset >= body.length) {
        res.end();
        return;
      }
      const dueMs = bodyStart + (offset / pacing.rateBytesPerSec) * 1000;
      const waitMs = dueMs - performance.now();
      if (waitMs > 0) {
        timer = setTimeout(pump, waitMs);
        return;
      }
      const chunk = body.subarray(offset, offset + CHUNK_BYTES);
      offset += chunk.length;
      const accepted = res.write(chunk, (err) => {
        if (!err) onBytes(chunk.length);
      });
      if (!accepted) {
        res.once('drain', pump);
        return;
      }
    }
  };

  timer = setTimeout(() => {
    if (closed) return;
    res.writeHead(status, headers);
    if (headOnly) {
      res.end();
      return;
    }
    bodyStart = performance.now();
    pump();
  }, pacing.ttfbMs);
}
