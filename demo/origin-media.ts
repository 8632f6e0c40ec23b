/**
 * The demo media on disk: the renditions made by `scripts/make-fixtures.sh`, their exact
 * segment durations and segment bytes, loaded once into memory (about 6 MB).
 *
 * Layout read here:
 *   media/renditions.json              [{ name, width, height, bandwidth, codecs }]
 *   media/<rendition>/durations.json   [seconds of segment 0, 1, ...]
 *   media/<rendition>/seg-<i>.ts
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The media directory committed with the repo. */
export const DEFAULT_MEDIA_DIR = fileURLToPath(new URL('./media/', import.meta.url));

/** One entry of `renditions.json`: what a master playlist says about a rendition. */
export interface Rendition {
  name: string;
  width: number;
  height: number;
  /** Peak bit rate in bit/s, TS overhead included. */
  bandwidth: number;
  /** RFC 6381 codecs, e.g. `avc1.42c00d,mp4a.40.2`. */
  codecs: string;
}

/** A rendition with its segments. */
export interface RenditionMedia extends Rendition {
  /** Exact duration in seconds of each segment, by index. */
  durations: number[];
  /** Absolute path of each segment file, by index. */
  files: string[];
  /** Bytes of each segment file, by index. */
  bytes: Buffer[];
  /** Each segment's `Repr-Digest` field value (RFC 9530): its SHA-256, by index. */
  reprDigests: string[];
}

export interface MediaCatalog {
  renditions: RenditionMedia[];
  /** Segments per rendition (the same for all: boundaries are aligned). */
  segmentCount: number;
  /** Mean segment duration in seconds: the cadence of the live clock. */
  segmentSeconds: number;
}

/** Reads and checks the fixtures in `dir`; throws if they are missing or inconsistent. */
export function loadMedia(dir: string = DEFAULT_MEDIA_DIR): MediaCatalog {
  const readJson = (path: string): unknown => JSON.parse(readFileSync(path, 'utf8'));
  const list = readJson(join(dir, 'renditions.json'));
  if (!Array.isArray(list) || list.length === 0) {
    throw new Error(`${dir}renditions.json: expected a non-empty array (run npm run fixtures)`);
  }
  const renditions = list.map((entry: Rendition): RenditionMedia => {
    const durations = readJson(join(dir, entry.name, 'durations.json'));
    if (!Array.isArray(durations) || !durations.every((d) => typeof d === 'number' && d > 0)) {
      throw new Error(`${entry.name}/durations.json: expected positive numbers`);
    }
    const files = durations.map((_, i) => join(dir, entry.name, `seg-${i}.ts`));
    const bytes = files.map((file) => readFileSync(file));
    return { ...entry, durations, files, bytes, reprDigests: bytes.map(reprDigestOf) };
  });
  const first = renditions[0]!;
  const segmentCount = first.durations.length;
  if (renditions.some((r) => r.durations.length !== segmentCount)) {
    throw new Error('renditions differ in segment count');
  }
  const total = first.durations.reduce((sum, d) => sum + d, 0);
  return { renditions, segmentCount, segmentSeconds: total / segmentCount };
}

/** The `Repr-Digest` field value (RFC 9530) of a whole file: `sha-256=:<base64>:`. */
export function reprDigestOf(bytes: Uint8Array): string {
  return `sha-256=:${createHash('sha256').update(bytes).digest('base64')}:`;
}
