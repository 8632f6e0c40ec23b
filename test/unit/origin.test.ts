import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startOrigin, type OriginOptions, type RunningOrigin } from '../../demo/origin.ts';

const SEGMENT_MS = 2000;
const WINDOW = 6;

/** A fake live clock the tests move by hand. */
function fakeClock() {
  let t = Date.UTC(2025, 0, 1);
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

async function fetchBytes(url: string, init?: RequestInit): Promise<{ res: Response; bytes: Buffer }> {
  const res = await fetch(url, init);
  return { res, bytes: Buffer.from(await res.arrayBuffer()) };
}

async function fetchText(url: string): Promise<{ res: Response; text: string }> {
  const res = await fetch(url);
  return { res, text: await res.text() };
}

/** Media playlist essentials: tags by name (last value wins) and segment URIs in order. */
function parseMediaPlaylist(text: string) {
  const lines = text.trim().split('\n');
  const tags = new Map<string, string>();
  for (const line of lines) {
    const [name = '', value = ''] = line.split(/:(.*)/s);
    if (line.startsWith('#EXT')) tags.set(name, value);
  }
  const uris = lines.filter((l) => l !== '' && !l.startsWith('#'));
  const extinf = lines.filter((l) => l.startsWith('#EXTINF:')).map((l) => parseFloat(l.slice(8)));
  return { lines, tags, uris, extinf };
}

async function withOrigin(options: OriginOptions, run: (origin: RunningOrigin) => Promise<void>) {
  const origin = await startOrigin({ port: 0, ...options });
  try {
    await run(origin);
  } finally {
    await origin.close();
  }
}

describe('demo origin', () => {
  const clock = fakeClock();
  let origin: RunningOrigin;
  before(async () => {
    origin = await startOrigin({ port: 0, ttfbMs: 0, rateBytesPerSec: Infinity, now: clock.now });
  });
  after(() => origin.close());

  describe('VOD', () => {
    it('serves a master playlist listing both renditions', async () => {
      const { res, text } = await fetchText(`${origin.url}/vod/master.m3u8`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type')!, /^application\/vnd\.apple\.mpegurl/);
      const lines = text.trim().split('\n');
      assert.equal(lines[0], '#EXTM3U');
      const variants = lines.filter((l) => l.startsWith('#EXT-X-STREAM-INF:'));
      assert.equal(variants.length, 2);
      for (const v of variants) {
        assert.match(v, /BANDWIDTH=\d+/);
        assert.match(v, /RESOLUTION=\d+x\d+/);
        assert.match(v, /CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2"/);
      }
      assert.deepEqual(lines.filter((l) => !l.startsWith('#')), ['180p/index.m3u8', '270p/index.m3u8']);
    });

    for (const rendition of ['180p', '270p']) {
      it(`serves a complete ${rendition} media playlist`, async () => {
        const { res, text } = await fetchText(`${origin.url}/vod/${rendition}/index.m3u8`);
        assert.equal(res.status, 200);
        const { lines, tags, uris, extinf } = parseMediaPlaylist(text);
        assert.equal(lines[0], '#EXTM3U');
        assert.equal(tags.get('#EXT-X-VERSION'), '3');
        assert.equal(tags.get('#EXT-X-TARGETDURATION'), '2');
        assert.equal(tags.get('#EXT-X-MEDIA-SEQUENCE'), '0');
        assert.equal(tags.get('#EXT-X-PLAYLIST-TYPE'), 'VOD');
        assert.equal(lines.at(-1), '#EXT-X-ENDLIST');
        assert.deepEqual(uris, Array.from({ length: 20 }, (_, i) => `seg-${i}.ts`));
        assert.equal(extinf.length, 20);
        for (const d of extinf) assert.ok(Math.round(d) <= 2 && d > 1.9, `EXTINF ${d}`);
      });
    }

    it('serves segment bytes identical to the fixture file', async () => {
      const { res, bytes } = await fetchBytes(`${origin.url}/vod/270p/seg-7.ts`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'video/mp2t');
      const file = origin.segmentFile('/vod/270p/seg-7.ts');
      assert.ok(file !== undefined && file.endsWith('270p/seg-7.ts'), `fixture file ${file}`);
      assert.deepEqual(bytes, await readFile(file));
      assert.equal(Number(res.headers.get('content-length')), bytes.length);
    });

    it("publishes each segment's SHA-256 as Repr-Digest, of the whole file in a range's answer too", async () => {
      const whole = await readFile(origin.segmentFile('/vod/270p/seg-7.ts')!);
      const expected = `sha-256=:${createHash('sha256').update(whole).digest('base64')}:`;
      const head = await fetch(`${origin.url}/vod/270p/seg-7.ts`, { method: 'HEAD' });
      assert.equal(head.headers.get('repr-digest'), expected);
      const { res } = await fetchBytes(`${origin.url}/vod/270p/seg-7.ts`, { headers: { Range: 'bytes=0-99' } });
      assert.equal(res.headers.get('repr-digest'), expected);
      assert.match(res.headers.get('access-control-expose-headers') ?? '', /Repr-Digest/);
    });

    it('answers 404 outside the fixture', async () => {
      for (const path of ['/vod/270p/seg-20.ts', '/vod/1080p/seg-0.ts', '/vod/180p/seg-01.ts', '/vod/nope.m3u8']) {
        const { res } = await fetchBytes(`${origin.url}${path}`);
        assert.equal(res.status, 404, path);
      }
      assert.equal(origin.segmentFile('/vod/270p/seg-20.ts'), undefined);
    });

    it('serves a byte range with 206 and Content-Range', async () => {
      const whole = await readFile(origin.segmentFile('/vod/180p/seg-3.ts')!);
      const { res, bytes } = await fetchBytes(`${origin.url}/vod/180p/seg-3.ts`, {
        headers: { Range: 'bytes=1000-20999' },
      });
      assert.equal(res.status, 206);
      assert.equal(res.headers.get('content-range'), `bytes 1000-20999/${whole.length}`);
      assert.deepEqual(bytes, whole.subarray(1000, 21000));

      const suffix = await fetchBytes(`${origin.url}/vod/180p/seg-3.ts`, { headers: { Range: 'bytes=-188' } });
      assert.equal(suffix.res.status, 206);
      assert.deepEqual(suffix.bytes, whole.subarray(whole.length - 188));

      const beyond = await fetchBytes(`${origin.url}/vod/180p/seg-3.ts`, {
        headers: { Range: `bytes=${whole.length}-` },
      });
      assert.equal(beyond.res.status, 416);
      assert.equal(beyond.res.headers.get('content-range'), `bytes */${whole.length}`);
    });
  });

  describe('live', () => {
    it('lists a full window that slides with the clock and never ends', async () => {
      const first = parseMediaPlaylist((await fetchText(`${origin.url}/live/180p/index.m3u8`)).text);
      const sequence = Number(first.tags.get('#EXT-X-MEDIA-SEQUENCE'));
      assert.equal(first.uris.length, WINDOW);
      assert.ok(!first.lines.includes('#EXT-X-ENDLIST'));
      assert.ok(!first.tags.has('#EXT-X-PLAYLIST-TYPE'));

      clock.advance(3 * SEGMENT_MS);
      const { res, text } = await fetchText(`${origin.url}/live/180p/index.m3u8`);
      assert.equal(res.headers.get('cache-control'), 'no-cache');
      const later = parseMediaPlaylist(text);
      assert.equal(Number(later.tags.get('#EXT-X-MEDIA-SEQUENCE')), sequence + 3);
      assert.equal(later.uris.length, WINDOW);
      assert.deepEqual(later.uris.slice(0, WINDOW - 3), first.uris.slice(3));
      assert.ok(!later.lines.includes('#EXT-X-ENDLIST'));

      const master = await fetchText(`${origin.url}/live/master.m3u8`);
      assert.equal(master.text.match(/#EXT-X-STREAM-INF:/g)?.length, 2);
    });

    it('keeps both renditions on the same window', async () => {
      const low = parseMediaPlaylist((await fetchText(`${origin.url}/live/180p/index.m3u8`)).text);
      const high = parseMediaPlaylist((await fetchText(`${origin.url}/live/270p/index.m3u8`)).text);
      assert.deepEqual(low.uris, high.uris);
      assert.equal(low.tags.get('#EXT-X-MEDIA-SEQUENCE'), high.tags.get('#EXT-X-MEDIA-SEQUENCE'));
    });

    it('marks the fixture loop with a discontinuity and counts it once it slid out', async () => {
      const current = parseMediaPlaylist((await fetchText(`${origin.url}/live/180p/index.m3u8`)).text);
      const last = Number(current.uris.at(-1)!.match(/\d+/)![0]);
      clock.advance((21 - last) * SEGMENT_MS); // newest is now seg-21: 16..21, loop at 20
      const around = parseMediaPlaylist((await fetchText(`${origin.url}/live/180p/index.m3u8`)).text);
      assert.equal(around.uris.at(-1), 'seg-21.ts');
      assert.equal(around.tags.get('#EXT-X-DISCONTINUITY-SEQUENCE'), '0');
      const loop = around.lines.indexOf('seg-20.ts');
      const tagIndex = around.lines.indexOf('#EXT-X-DISCONTINUITY');
      assert.ok(tagIndex > around.lines.indexOf('seg-19.ts') && tagIndex < loop);
      assert.equal(around.lines.filter((l) => l === '#EXT-X-DISCONTINUITY').length, 1);

      clock.advance(5 * SEGMENT_MS); // 21..26: seg-20 slid out
      const past = parseMediaPlaylist((await fetchText(`${origin.url}/live/180p/index.m3u8`)).text);
      assert.equal(past.uris[0], 'seg-21.ts');
      assert.equal(past.tags.get('#EXT-X-DISCONTINUITY-SEQUENCE'), '1');
      assert.ok(!past.lines.includes('#EXT-X-DISCONTINUITY'));
    });

    it('serves live segment n with the bytes of fixture segment n % 20', async () => {
      const { uris } = parseMediaPlaylist((await fetchText(`${origin.url}/live/270p/index.m3u8`)).text);
      const n = Number(uris.at(-1)!.match(/\d+/)![0]);
      assert.ok(n >= 20, 'the window has looped');
      const { res, bytes } = await fetchBytes(`${origin.url}/live/270p/seg-${n}.ts`);
      assert.equal(res.status, 200);
      const file = origin.segmentFile(`/live/270p/seg-${n}.ts`)!;
      assert.ok(file.endsWith(`270p/seg-${n % 20}.ts`));
      assert.deepEqual(bytes, await readFile(file));
    });

    it('answers 404 for a segment not yet recorded or long gone', async () => {
      const { uris } = parseMediaPlaylist((await fetchText(`${origin.url}/live/180p/index.m3u8`)).text);
      const newest = Number(uris.at(-1)!.match(/\d+/)![0]);
      assert.equal((await fetchBytes(`${origin.url}/live/180p/seg-${newest + 1}.ts`)).res.status, 404);
      clock.advance(SEGMENT_MS);
      assert.equal((await fetchBytes(`${origin.url}/live/180p/seg-${newest + 1}.ts`)).res.status, 200);

      clock.advance(4 * WINDOW * SEGMENT_MS);
      assert.equal((await fetchBytes(`${origin.url}/live/180p/seg-${newest + 1}.ts`)).res.status, 404);
    });
  });

  describe('byte accounting', () => {
    it('counts segment payload bytes, per path, and not playlists or HEAD', async () => {
      origin.resetCounters();
      await fetchText(`${origin.url}/vod/master.m3u8`);
      await fetchText(`${origin.url}/vod/180p/index.m3u8`);
      await fetchText(`${origin.url}/live/180p/index.m3u8`);
      assert.equal(origin.mediaBytesSent(), 0);

      const whole = await fetchBytes(`${origin.url}/vod/180p/seg-0.ts`);
      const part = await fetchBytes(`${origin.url}/vod/180p/seg-1.ts`, { headers: { Range: 'bytes=0-9999' } });
      const head = await fetch(`${origin.url}/vod/180p/seg-2.ts`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(part.bytes.length, 10_000);

      assert.equal(origin.mediaBytesSent(), whole.bytes.length + 10_000);
      assert.deepEqual(
        origin.bytesByPath(),
        new Map([
          ['/vod/180p/seg-0.ts', whole.bytes.length],
          ['/vod/180p/seg-1.ts', 10_000],
        ]),
      );
      const stats = await (await fetch(`${origin.url}/origin/stats`)).json();
      assert.deepEqual(stats, { mediaBytesSent: whole.bytes.length + 10_000, requests: 3 });

      origin.resetCounters();
      assert.equal(origin.mediaBytesSent(), 0);
      assert.equal(origin.bytesByPath().size, 0);
    });
  });

  describe('CORS', () => {
    it('answers preflight for Range and opens every response', async () => {
      const preflight = await fetch(`${origin.url}/vod/180p/seg-0.ts`, {
        method: 'OPTIONS',
        headers: { Origin: 'http://page.test', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'range' },
      });
      assert.equal(preflight.status, 204);
      assert.equal(preflight.headers.get('access-control-allow-origin'), '*');
      assert.match(preflight.headers.get('access-control-allow-headers')!, /range/i);
      assert.match(preflight.headers.get('access-control-allow-methods')!, /GET/);
      for (const path of ['/vod/master.m3u8', '/live/180p/index.m3u8', '/origin/stats']) {
        const res = await fetch(`${origin.url}${path}`);
        await res.arrayBuffer();
        assert.equal(res.headers.get('access-control-allow-origin'), '*', path);
      }
    });
  });
});

describe('demo origin static files', () => {
  it('serves staticDirs under their prefix without counting them as media', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-origin-'));
    try {
      await writeFile(join(dir, 'index.html'), '<!doctype html><title>demo</title>');
      await withOrigin({ staticDirs: { '/page': dir } }, async (origin) => {
        const { res, text } = await fetchText(`${origin.url}/page/index.html`);
        assert.equal(res.status, 200);
        assert.match(text, /<title>demo<\/title>/);
        assert.equal(origin.mediaBytesSent(), 0);
      });
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});

describe('demo origin pacing', () => {
  it('waits ttfbMs before the headers and paces the body', async () => {
    const rate = 200_000;
    await withOrigin({ ttfbMs: 200, rateBytesPerSec: rate }, async (origin) => {
      const size = (await readFile(origin.segmentFile('/vod/180p/seg-0.ts')!)).length;
      const start = performance.now();
      const res = await fetch(`${origin.url}/vod/180p/seg-0.ts`);
      const headersAt = performance.now() - start;
      const bytes = Buffer.from(await res.arrayBuffer());
      const doneAt = performance.now() - start;
      assert.equal(bytes.length, size);
      // Timers may fire up to a millisecond early; the first 16 KiB chunk goes out at once.
      assert.ok(headersAt >= 199, `headers after ${headersAt} ms`);
      const paced = 200 + ((size - 16 * 1024) / rate) * 1000;
      assert.ok(doneAt >= paced - 5, `body done after ${doneAt} ms, expected at least ${paced} ms`);
    });
  });

  it('stops sending when the client aborts', async () => {
    await withOrigin({ ttfbMs: 0, rateBytesPerSec: 50_000 }, async (origin) => {
      const controller = new AbortController();
      const res = await fetch(`${origin.url}/vod/270p/seg-0.ts`, { signal: controller.signal });
      const reader = res.body!.getReader();
      await reader.read();
      controller.abort();
      await sleep(300);
      const afterAbort = origin.mediaBytesSent();
      await sleep(300);
      assert.equal(origin.mediaBytesSent(), afterAbort);
      const size = (await readFile(origin.segmentFile('/vod/270p/seg-0.ts')!)).length;
      assert.ok(afterAbort < size, `${afterAbort} of ${size} bytes sent`);
    });
  });

  it('closes promptly with a paced response in flight and frees the port', async () => {
    const origin = await startOrigin({ port: 0, ttfbMs: 0, rateBytesPerSec: 10_000 });
    const res = await fetch(`${origin.url}/vod/270p/seg-0.ts`);
    const body = res.arrayBuffer();
    await origin.close();
    await assert.rejects(body);

    const again = await startOrigin({ port: origin.port });
    await again.close();
  });
});
