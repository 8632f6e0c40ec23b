import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { fetchSegment, type HttpFetchOptions } from '../../sdk/hls/http-fetch.ts';

const file = Uint8Array.from({ length: 10 }, (_, i) => i);
const realFetch = globalThis.fetch;

/** Serves `file`, honouring a single `Range` unless `ignoreRange`; records the Range asked for. */
function serve(options: { ignoreRange?: boolean; contentRangeStart?: number } = {}): { ranges: Array<string | undefined> } {
  const ranges: Array<string | undefined> = [];
  globalThis.fetch = (async (_url: string, init?: { headers?: Record<string, string> }) => {
    const range = init?.headers?.Range;
    ranges.push(range);
    const match = /^bytes=(\d+)-(\d*)$/.exec(range ?? '');
    if (!match || options.ignoreRange) return new Response(file.slice(), { status: 200, headers: { 'Content-Length': '10' } });
    const start = Number(match[1]);
    const end = match[2] ? Number(match[2]) : file.length - 1;
    const shownStart = options.contentRangeStart ?? start;
    return new Response(file.slice(start, end + 1), { status: 206, headers: { 'Content-Range': `bytes ${shownStart}-${end}/10`, 'Content-Length': String(end + 1 - start) } });
  }) as typeof fetch;
  return { ranges };
}

async function fetchRest(extra: Partial<HttpFetchOptions>) {
  const chunks: number[] = [];
  const sizes: number[] = [];
  const result = await fetchSegment({
    url: 'https://cdn.example/seg-1.ts',
    signal: new AbortController().signal,
    firstByteTimeoutMs: 1000,
    totalTimeoutMs: 1000,
    onSize: (size) => sizes.push(size),
    onChunk: (chunk) => chunks.push(...chunk),
    now: () => 0,
    ...extra,
  });
  return { result, chunks, sizes };
}

describe('HTTP segment fetch, resuming after a peer', () => {
  afterEach(() => {
    globalThis.fetch = realFetch;
  });

  it('asks only for the bytes after those held', async () => {
    const { ranges } = serve();
    const { result, chunks, sizes } = await fetchRest({ resumeAt: 4 });
    assert.deepEqual(ranges, ['bytes=4-']);
    assert.deepEqual(chunks, [4, 5, 6, 7, 8, 9]);
    assert.ok(result.ok);
    assert.deepEqual([...new Uint8Array(result.data)], [4, 5, 6, 7, 8, 9]);
    assert.deepEqual(sizes, [], 'the size is the one the peer gave');
  });

  it('resumes inside a byte-range segment', async () => {
    const { ranges } = serve();
    const { chunks } = await fetchRest({ rangeStart: 2, rangeEnd: 8, resumeAt: 3 });
    assert.deepEqual(ranges, ['bytes=5-7']);
    assert.deepEqual(chunks, [5, 6, 7]);
  });

  it('skips the bytes held when the server ignores the Range header and sends everything', async () => {
    serve({ ignoreRange: true });
    const whole = await fetchRest({ resumeAt: 4 });
    assert.deepEqual(whole.chunks, [4, 5, 6, 7, 8, 9]);
    const ranged = await fetchRest({ rangeStart: 2, rangeEnd: 8, resumeAt: 3 });
    assert.deepEqual(ranged.chunks, [5, 6, 7]);
  });

  it('refuses a partial answer that does not start where asked', async () => {
    serve({ contentRangeStart: 0 });
    const { result, chunks } = await fetchRest({ resumeAt: 4 });
    assert.equal(result.ok, false);
    assert.ok(!result.ok && result.reason === 'status');
    assert.deepEqual(chunks, []);
  });

  it('sends no Range for a whole segment fetched from the start', async () => {
    const { ranges } = serve();
    const { chunks, sizes } = await fetchRest({});
    assert.deepEqual(ranges, [undefined]);
    assert.equal(chunks.length, 10);
    assert.deepEqual(sizes, [10]);
  });
});
