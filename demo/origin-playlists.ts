/**
 * HLS playlist text for the demo origin (RFC 8216), and the live window: pure functions of the
 * media catalog and elapsed time, no I/O.
 *
 * Live model: the fixture loops forever. Live media sequence n is fixture segment
 * n % segmentCount and becomes available when it would have finished recording, at
 * clockStart + (n + 1) * segmentSeconds. Each loop restarts the timestamps, so every segment
 * with n % segmentCount == 0 (n > 0) carries EXT-X-DISCONTINUITY.
 */
import type { Rendition, RenditionMedia } from './origin-media.ts';

/** The live segments listed at one instant, both ends inclusive. */
export interface LiveWindow {
  /** EXT-X-MEDIA-SEQUENCE: the oldest segment listed. */
  first: number;
  /** The newest available segment. */
  last: number;
}

/**
 * Segments listed `elapsedMs` after the live clock started. The newest available segment is
 * the last one that finished recording; `last` is -1 (empty window) before the first one.
 */
export function liveWindow(elapsedMs: number, segmentSeconds: number, windowSegments: number): LiveWindow {
  const last = Math.floor(elapsedMs / (segmentSeconds * 1000)) - 1;
  return { first: Math.max(0, last - windowSegments + 1), last };
}

/** Whether live segment n starts a new loop of the fixture (and so a discontinuity). */
export function isLoopStart(n: number, segmentCount: number): boolean {
  return n > 0 && n % segmentCount === 0;
}

/**
 * EXT-X-DISCONTINUITY-SEQUENCE of a live playlist starting at `first`: the discontinuity tags
 * that have slid out of the window, i.e. those on segments before `first`.
 */
export function discontinuitySequence(first: number, segmentCount: number): number {
  return first > 0 ? Math.floor((first - 1) / segmentCount) : 0;
}

/** Master playlist; media playlists at `<rendition>/index.m3u8` relative to it. */
export function masterPlaylist(renditions: readonly Rendition[]): string {
  const lines = ['#EXTM3U', '#EXT-X-VERSION:3'];
  for (const r of [...renditions].sort((a, b) => a.bandwidth - b.bandwidth)) {
    lines.push(
      `#EXT-X-STREAM-INF:BANDWIDTH=${r.bandwidth},RESOLUTION=${r.width}x${r.height},CODECS="${r.codecs}"`,
      `${r.name}/index.m3u8`,
    );
  }
  return lines.join('\n') + '\n';
}

/** EXT-X-TARGETDURATION: every EXTINF rounded to an integer must not exceed it. */
function targetDuration(durations: readonly number[]): number {
  return Math.max(1, ...durations.map((d) => Math.round(d)));
}

function extinf(seconds: number): string {
  return `#EXTINF:${seconds.toFixed(3)},`;
}

/** The whole fixture as a VOD media playlist. */
/** The VOD media playlist: the fixture `loops` times over, a discontinuity at each loop. */
export function vodPlaylist(rendition: RenditionMedia, loops = 1): string {
  const count = rendition.durations.length;
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:3',
    `#EXT-X-TARGETDURATION:${targetDuration(rendition.durations)}`,
    '#EXT-X-MEDIA-SEQUENCE:0',
    '#EXT-X-PLAYLIST-TYPE:VOD',
  ];
  for (let n = 0; n < count * loops; n++) {
    if (isLoopStart(n, count)) lines.push('#EXT-X-DISCONTINUITY');
    lines.push(extinf(rendition.durations[n % count] as number), `seg-${n}.ts`);
  }
  lines.push('#EXT-X-ENDLIST');
  return lines.join('\n') + '\n';
}

/**
 * A live media playlist for `window`. `clockStartMs` (epoch ms when live segment 0 started
 * recording) dates each segment with EXT-X-PROGRAM-DATE-TIME.
 */
export function livePlaylist(
  rendition: RenditionMedia,
  window: LiveWindow,
  segmentSeconds: number,
  clockStartMs: number,
): string {
  const count = rendition.durations.length;
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:3',
    `#EXT-X-TARGETDURATION:${targetDuration(rendition.durations)}`,
    `#EXT-X-MEDIA-SEQUENCE:${window.first}`,
    `#EXT-X-DISCONTINUITY-SEQUENCE:${discontinuitySequence(window.first, count)}`,
  ];
  for (let n = window.first; n <= window.last; n++) {
    if (isLoopStart(n, count)) lines.push('#EXT-X-DISCONTINUITY');
    const recordedAt = new Date(clockStartMs + n * segmentSeconds * 1000);
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${recordedAt.toISOString()}`);
    lines.push(extinf(rendition.durations[n % count]!), `seg-${n}.ts`);
  }
  return lines.join('\n') + '\n';
}
