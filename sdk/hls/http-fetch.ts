/**
 * A segment over HTTP with `fetch`, chunk by chunk, so that peers can be relayed the bytes
 * while they are still arriving. Used instead of hls.js's own loader when the page has not
 * customised HTTP (`xhrSetup`, `fetchSetup`, a custom loader), which only hls.js's loader
 * would honour.
 */

export interface HttpFetchOptions {
  url: string;
  /** Byte range `[start, endExclusive)`, as hls.js's loader context has it. */
  rangeStart?: number | undefined;
  rangeEnd?: number | undefined;
  /**
   * The caller holds the first `resumeAt` bytes of the range already (from a peer): only the
   * rest is asked for, and if the server ignores the `Range` header and sends everything, the
   * bytes held are skipped. `onSize` is not called then.
   */
  resumeAt?: number;
  signal: AbortSignal;
  /** Deadline for the response headers. */
  firstByteTimeoutMs: number;
  /** Deadline for the whole body. */
  totalTimeoutMs: number;
  /** Called once the size is known from `Content-Length` (not called without it). */
  onSize(total: number): void;
  onChunk(chunk: Uint8Array): void;
  now(): number;
}

export type HttpFetchResult =
  | { ok: true; data: ArrayBuffer; status: number; url: string; startedAt: number; firstByteAt: number; endedAt: number }
  | { ok: false; reason: 'status' | 'network' | 'timeout' | 'aborted'; status: number; text: string };

export async function fetchSegment(options: HttpFetchOptions): Promise<HttpFetchResult> {
  const controller = new AbortController();
  const abort = () => controller.abort();
  options.signal.addEventListener('abort', abort, { once: true });
  let timedOut = false;
  const expire = () => {
    timedOut = true;
    controller.abort();
  };
  let timer = setTimeout(expire, options.firstByteTimeoutMs);
  const startedAt = options.now();
  try {
    const headers: Record<string, string> = {};
    const resumeAt = options.resumeAt ?? 0;
    const start = (options.rangeStart ?? 0) + resumeAt;
    if (start > 0 || options.rangeEnd !== undefined) {
      const end = options.rangeEnd !== undefined ? options.rangeEnd - 1 : '';
      headers.Range = `bytes=${start}-${end}`;
    }
    const response = await fetch(options.url, { headers, signal: controller.signal, credentials: 'same-origin' });
    const firstByteAt = options.now();
    clearTimeout(timer);
    timer = setTimeout(expire, Math.max(0, options.totalTimeoutMs - (firstByteAt - startedAt)));
    if (!response.ok) {
      await response.body?.cancel().catch(() => {});
      return { ok: false, reason: 'status', status: response.status, text: response.statusText };
    }
    // A resumed fetch answered 206 must start where asked; answered 200, it is the whole file.
    let skip = 0;
    let keep = Infinity;
    if (resumeAt > 0) {
      if (response.status === 206) {
        if (contentRangeStart(response.headers.get('Content-Range')) !== start) {
          await response.body?.cancel().catch(() => {});
          return { ok: false, reason: 'status', status: response.status, text: 'Content-Range does not start where asked' };
        }
      } else {
        skip = start;
        if (options.rangeEnd !== undefined) keep = options.rangeEnd - start;
      }
    } else {
      const length = Number(response.headers.get('Content-Length'));
      if (response.headers.has('Content-Length') && Number.isSafeInteger(length) && length > 0) options.onSize(length);
    }
    const chunks: Uint8Array[] = [];
    let received = 0;
    const reader = response.body?.getReader();
    while (received < keep) {
      const next = reader ? await reader.read() : { done: true as const, value: undefined };
      if (next.done) break;
      let chunk = next.value;
      if (skip > 0) {
        const skipped = Math.min(skip, chunk.byteLength);
        skip -= skipped;
        chunk = chunk.subarray(skipped);
      }
      if (chunk.byteLength > keep - received) chunk = chunk.subarray(0, keep - received);
      if (chunk.byteLength === 0) continue;
      chunks.push(chunk);
      received += chunk.byteLength;
      options.onChunk(chunk);
    }
    if (received >= keep) await reader?.cancel().catch(() => {});
    const data = new Uint8Array(received);
    let offset = 0;
    for (const chunk of chunks) {
      data.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return { ok: true, data: data.buffer, status: response.status, url: response.url || options.url, startedAt, firstByteAt, endedAt: options.now() };
  } catch (error) {
    if (timedOut) return { ok: false, reason: 'timeout', status: 0, text: 'timeout' };
    if (options.signal.aborted) return { ok: false, reason: 'aborted', status: 0, text: 'aborted' };
    return { ok: false, reason: 'network', status: 0, text: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
    options.signal.removeEventListener('abort', abort);
  }
}

/** The first byte position of a `Content-Range: bytes a-b/n` header, if it has one. */
function contentRangeStart(header: string | null): number | undefined {
  const match = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(header?.trim() ?? '');
  return match ? Number(match[1]) : undefined;
}
