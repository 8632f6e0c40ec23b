/**
 * `fetch` as the SDK sees it in the simulator: a response whose body streams on virtual time
 * from the simulated CDN, within the requesting viewer's downlink. The viewer is named in the
 * URL's query, which the SDK's segment ids ignore, as they ignore per-viewer CDN tokens.
 */
import { parseRange } from '../../demo/origin-pacing.ts';
import type { SimNetwork, SimNode } from './network.ts';

const PIECE_BYTES = 16 * 1024;

export function simulatedFetch(network: SimNetwork, nodes: Map<string, SimNode>, segmentBytes: number) {
  /** One shared payload: every segment's bytes are alike, only their sizes matter here. */
  const payload = new Uint8Array(segmentBytes).fill(7);
  return async (input: string, init?: { signal?: AbortSignal; headers?: Record<string, string> }) => {
    const url = new URL(input);
    // A `Range` asks for part of the segment: the rest of what a peer sent.
    const range = parseRange(init?.headers?.Range, segmentBytes);
    if (range === 'unsatisfiable') throw new TypeError(`simulated fetch: unsatisfiable range for ${input}`);
    const from = range?.start ?? 0;
    const to = range ? range.end + 1 : segmentBytes;
    const length = to - from;
    const node = nodes.get(url.searchParams.get('viewer') ?? '');
    if (!node) throw new TypeError(`simulated fetch: no viewer in ${input}`);
    const signal = init?.signal;
    const pieces: Uint8Array[] = [];
    let done = false;
    let wake: (() => void) | undefined;
    let aborted = false;
    signal?.addEventListener('abort', () => {
      aborted = true;
      wake?.();
    });
    await new Promise<void>((resolve, reject) => {
      network.fetchFromCdn(
        node,
        length,
        PIECE_BYTES,
        range ? 'rest' : 'whole',
        () => (aborted ? reject(new DOMException('aborted', 'AbortError')) : resolve()),
        (offset, length, last) => {
          if (aborted) return;
          pieces.push(payload.subarray(from + offset, from + offset + length));
          done = last;
          wake?.();
        },
      );
    });
    const reader = {
      async read(): Promise<{ done: true; value: undefined } | { done: false; value: Uint8Array }> {
        while (pieces.length === 0 && !done && !aborted) await new Promise<void>((resolve) => (wake = resolve));
        if (aborted) throw new DOMException('aborted', 'AbortError');
        const value = pieces.shift();
        return value ? { done: false, value } : { done: true, value: undefined };
      },
      async cancel() {},
    };
    const headers = new Headers({ 'Content-Length': String(length) });
    if (range) headers.set('Content-Range', `bytes ${from}-${to - 1}/${segmentBytes}`);
    return {
      ok: true,
      status: range ? 206 : 200,
      statusText: range ? 'Partial Content' : 'OK',
      url: input,
      headers,
      body: { getReader: () => reader, cancel: async () => {} },
    };
  };
}
