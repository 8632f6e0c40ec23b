/**
 * The demo origin: a stand-in CDN serving the fixture media in demo/media/ as HLS, VOD and
 * (looped, wall-clock driven) live, paced like a CDN seen from a home connection, and counting
 * the media bytes it sends so tests can measure offload.
 *
 * Routes (CORS open on all, `Range` allowed, OPTIONS preflight answered):
 *   GET /vod/master.m3u8, /vod/<rendition>/index.m3u8, /vod/<rendition>/seg-<i>.ts
 *   GET /live/master.m3u8, /live/<rendition>/index.m3u8, /live/<rendition>/seg-<n>.ts
 *   GET /origin/stats      { mediaBytesSent, requests }: segment bytes and segment responses
 *                          since start or the last resetCounters()
 *   static directories from `staticDirs`
 * Segment responses are paced (`ttfbMs`, `rateBytesPerSec`) and support a single `Range`;
 * playlists are not paced. Segments are `Cache-Control: no-store` so a browser cache never
 * hides a request from the byte counters.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { loadMedia, type RenditionMedia } from './origin-media.ts';
import { parseRange, sendPaced } from './origin-pacing.ts';
import { liveWindow, livePlaylist, masterPlaylist, vodPlaylist } from './origin-playlists.ts';
import { INTEGRITY_USER_AGENT } from '../tracker/integrity.ts';

export interface OriginOptions {
  /**
   * Port to listen on; 0 picks a free one (read it from {@link RunningOrigin.port}).
   * @default 8080
   */
  port?: number;
  /**
   * Interface to listen on.
   * @default '127.0.0.1'
   */
  host?: string;
  /**
   * Delay before the first byte (status line included) of every segment response.
   * @default 60
   */
  ttfbMs?: number;
  /**
   * Body rate of each segment response, in bytes per second (about 20 Mbit/s by default);
   * Infinity disables pacing.
   * @default 2_500_000
   */
  rateBytesPerSec?: number;
  /**
   * Segments listed in a live media playlist. The live clock starts this many segments in, so
   * the first playlist is already full.
   * @default 6
   */
  liveWindowSegments?: number;
  /**
   * Times the VOD stream plays the fixture through (with a discontinuity at each loop), so VOD
   * can be longer than the 40 s of media on disk; segment n serves fixture n % 20.
   * @default 1
   */
  vodLoops?: number;
  /**
   * Extra directories served as static files, by URL prefix, e.g.
   * `{ '/': 'demo/page', '/dist': 'dist', '/vendor/hls': 'node_modules/hls.js/dist' }`.
   * Not paced and not counted as media bytes.
   * @default {}
   */
  staticDirs?: Record<string, string>;
  /**
   * Clock driving the live window, in epoch milliseconds. For tests: inject a fake clock to
   * move the live edge without sleeping. Pacing always uses real time.
   * @default Date.now
   */
  now?: () => number;
}

export interface RunningOrigin {
  /** The port actually bound. */
  port: number;
  /** Base URL, `http://host:port`. */
  url: string;
  /** Media payload bytes written for segment responses since start or the last reset. */
  mediaBytesSent(): number;
  /** Of those, the bytes sent to the tracker's integrity service (its User-Agent). */
  integrityBytesSent(): number;
  /** Media payload bytes by URL path (`/live/180p/seg-12.ts`), since start or the last reset. */
  bytesByPath(): Map<string, number>;
  /** Zeroes the byte and request counters. */
  resetCounters(): void;
  /**
   * The fixture file on disk whose bytes a segment URL path serves (a live path maps to its
   * looped fixture segment whether or not it is available yet); undefined if it is no segment.
   */
  segmentFile(urlPath: string): string | undefined;
  /** Ends in-flight responses and frees the port. */
  close(): Promise<void>;
}

/** Live segments older than this many windows behind the live edge are gone (404). */
const LIVE_RETENTION_WINDOWS = 3;

const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';
const SEGMENT_TYPE = 'video/mp2t';

type StreamKind = 'vod' | 'live';

interface SegmentRef {
  kind: StreamKind;
  rendition: RenditionMedia;
  /** Media sequence number: the fixture index for VOD, the live sequence for live. */
  sequence: number;
  /** Index of the fixture segment whose bytes are served. */
  fixture: number;
}

export async function startOrigin(options: OriginOptions = {}): Promise<RunningOrigin> {
  const {
    port = 8080,
    host = '127.0.0.1',
    ttfbMs = 60,
    rateBytesPerSec = 2_500_000,
    liveWindowSegments = 6,
    vodLoops = 1,
    staticDirs = {},
    now = Date.now,
  } = options;
  const media = loadMedia();
  const renditions = new Map(media.renditions.map((r) => [r.name, r]));
  const segmentMs = media.segmentSeconds * 1000;
  /** Epoch ms at which live segment 0 started recording. */
  const liveClockStart = now() - liveWindowSegments * segmentMs;
  const currentLiveWindow = () =>
    liveWindow(now() - liveClockStart, media.segmentSeconds, liveWindowSegments);

  let mediaBytes = 0;
  let integrityBytes = 0;
  let segmentRequests = 0;
  let byPath = new Map<string, number>();

  function resolveSegment(kind: string, renditionName: string, file: string): SegmentRef | undefined {
    if (kind !== 'vod' && kind !== 'live') return undefined;
    const rendition = renditions.get(renditionName);
    const match = /^seg-(0|[1-9]\d*)\.ts$/.exec(file);
    if (!rendition || !match) return undefined;
    const sequence = Number(match[1]);
    if (!Number.isSafeInteger(sequence)) return undefined;
    if (kind === 'vod' && sequence >= media.segmentCount * vodLoops) return undefined;
    return { kind, rendition, sequence, fixture: sequence % media.segmentCount };
  }

  function isServable(ref: SegmentRef): boolean {
    if (ref.kind === 'vod') return true;
    const window = currentLiveWindow();
    return ref.sequence <= window.last && ref.sequence >= window.first - LIVE_RETENTION_WINDOWS * liveWindowSegments;
  }

  const app = express();
  app.disable('x-powered-by');

  app.use((req, res, next) => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Expose-Headers', 'Content-Length, Content-Range, Accept-Ranges, Repr-Digest');
    if (req.method !== 'OPTIONS') return next();
    res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD, OPTIONS');
    res.setHeader('Access-Control-Allow-Headers', req.get('Access-Control-Request-Headers') ?? 'Range');
    res.setHeader('Access-Control-Max-Age', '600');
    res.status(204).end();
  });

  app.get('/origin/stats', (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.json({ mediaBytesSent: mediaBytes, requests: segmentRequests });
  });

  app.get('/:kind/master.m3u8', (req, res, next) => {
    if (req.params.kind !== 'vod' && req.params.kind !== 'live') return next();
    res.setHeader('Cache-Control', 'no-cache');
    res.type(PLAYLIST_TYPE).send(masterPlaylist(media.renditions));
  });

  app.get('/:kind/:rendition/index.m3u8', (req, res, next) => {
    const rendition = renditions.get(req.params.rendition);
    if (!rendition) return next();
    res.setHeader('Cache-Control', 'no-cache');
    if (req.params.kind === 'vod') {
      res.type(PLAYLIST_TYPE).send(vodPlaylist(rendition, vodLoops));
    } else if (req.params.kind === 'live') {
      const text = livePlaylist(rendition, currentLiveWindow(), media.segmentSeconds, liveClockStart);
      res.type(PLAYLIST_TYPE).send(text);
    } else {
      next();
    }
  });

  app.get('/:kind/:rendition/:file', (req, res, next) => {
    const ref = resolveSegment(req.params.kind, req.params.rendition, req.params.file);
    if (!ref || !isServable(ref)) return next();
    const body = ref.rendition.bytes[ref.fixture]!;
    const range = parseRange(req.get('Range'), body.length);
    const headers: Record<string, string | number> = {
      'Content-Type': SEGMENT_TYPE,
      'Accept-Ranges': 'bytes',
      'Cache-Control': 'no-store',
      // Of the whole file, also in a range's answer: the tracker's integrity service reads it
      // from a HEAD instead of fetching the segment (see tracker/integrity.ts).
      'Repr-Digest': ref.rendition.reprDigests[ref.fixture]!,
    };
    if (range === 'unsatisfiable') {
      res.status(416).set({ ...headers, 'Content-Range': `bytes */${body.length}` }).end();
      return;
    }
    const slice = range ? body.subarray(range.start, range.end + 1) : body;
    headers['Content-Length'] = slice.length;
    if (range) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${body.length}`;
    segmentRequests++;
    const path = req.path;
    const forIntegrity = req.get('user-agent') === INTEGRITY_USER_AGENT;
    sendPaced(res, range ? 206 : 200, headers, slice, { ttfbMs, rateBytesPerSec }, (bytes) => {
      mediaBytes += bytes;
      if (forIntegrity) integrityBytes += bytes;
      byPath.set(path, (byPath.get(path) ?? 0) + bytes);
    }, req.method === 'HEAD');
  });

  for (const [prefix, dir] of Object.entries(staticDirs)) app.use(prefix, express.static(dir));

  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  return {
    port: bound,
    url: `http://${urlHost}:${bound}`,
    mediaBytesSent: () => mediaBytes,
    integrityBytesSent: () => integrityBytes,
    bytesByPath: () => new Map(byPath),
    resetCounters() {
      mediaBytes = 0;
      integrityBytes = 0;
      segmentRequests = 0;
      byPath = new Map();
    },
    segmentFile(urlPath) {
      const parts = new URL(urlPath, 'http://origin').pathname.split('/');
      if (parts.length !== 4 || parts[0] !== '') return undefined;
      const ref = resolveSegment(parts[1]!, parts[2]!, parts[3]!);
      return ref?.rendition.files[ref.fixture];
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}
