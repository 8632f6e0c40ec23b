/**
 * How viewers agree on names without talking: a swarm per stream rendition and an id per
 * segment, both computed from what every viewer's hls.js sees alike. Sites with tokenised URLs
 * (a different query string per viewer) still agree because queries are dropped; sites whose
 * tokens live in the path override the hooks in the config.
 */

/** What identifies a rendition: the input of the `swarmId` hook. */
export interface SwarmIdentity {
  /** URL of the rendition's media playlist, as hls.js loads it. */
  playlistUrl: string;
  bitrate: number;
  width: number;
  height: number;
  codecs: string;
}

/** What identifies a segment: the input of the `segmentId` hook. */
export interface SegmentIdentity {
  /** Absolute segment URL, as hls.js would request it. */
  url: string;
  /** Byte range `[start, endExclusive]` for byte-range segments. */
  byteRange: [number, number] | undefined;
  /** hls.js sequence number (media sequence for live). */
  sn: number;
  /** The swarm this segment belongs to. */
  swarmId: string;
}

/** Drops the query string and fragment: per-viewer tokens must not split the swarm. */
export function withoutQuery(url: string): string {
  const cut = url.search(/[?#]/);
  return cut === -1 ? url : url.slice(0, cut);
}

export function defaultSwarmId(rendition: SwarmIdentity): string {
  const { bitrate, width, height, codecs } = rendition;
  return `${withoutQuery(rendition.playlistUrl)}|${bitrate}|${width}x${height}|${codecs}`;
}

export function defaultSegmentId(segment: SegmentIdentity): string {
  const range = segment.byteRange ? `@${segment.byteRange[0]}-${segment.byteRange[1]}` : '';
  return withoutQuery(segment.url) + range;
}
