/** A span of media time, in seconds. */
export interface TimeSpan {
  start: number;
  end: number;
}

/** The part of an `Hls` instance this needs. */
export interface BufferedPlayer {
  media: HTMLMediaElement | null;
  on(event: any, listener: (...args: any[]) => void): void;
}

/**
 * How far a playhead at `currentTime` can play on what is buffered, once the announced flushes
 * are done. A range that starts just past the playhead counts (a seek lands slightly before the
 * first buffered frame).
 */
export function bufferAheadSec(buffered: readonly TimeSpan[], currentTime: number, pendingFlushes: readonly TimeSpan[]): number {
  const range = buffered.find((r) => r.start <= currentTime + 0.2 && r.end > currentTime);
  if (!range) return 0;
  let end = range.end;
  for (const flush of pendingFlushes) {
    if (flush.end <= currentTime || flush.start >= end) continue;
    end = Math.max(currentTime, flush.start);
  }
  return end - currentTime;
}

function spansOf(ranges: TimeRanges): TimeSpan[] {
  return Array.from({ length: ranges.length }, (_, i) => ({ start: ranges.start(i), end: ranges.end(i) }));
}

/** Longest a flush counts as pending without hls.js reporting it done. */
export const FLUSH_PENDING_MAX_MS = 2000;

/**
 * The player's buffer ahead of the playhead, as the scheduler must see it. hls.js announces a
 * flush (a level switch drops what it buffered past the next fragment) and requests the new
 * level's fragments before the media element's `buffered` shrinks: measured from `buffered`
 * alone, a request made in that moment would see tens of seconds to spare that are about to
 * vanish, and wait for peers while the playhead runs dry.
 */
export class PlayerBuffer {
  readonly #player: BufferedPlayer;
  readonly #now: () => number;
  #pendingFlushes: Array<TimeSpan & { since: number }> = [];

  constructor(player: BufferedPlayer, now: () => number = () => performance.now()) {
    this.#player = player;
    this.#now = now;
    player.on('hlsBufferFlushing', (_event: unknown, data: { startOffset: number; endOffset: number }) => {
      this.#pendingFlushes.push({ start: data.startOffset, end: data.endOffset, since: now() });
    });
    // hls.js reports a flush done once per source buffer, in the order it was asked for; the
    // first report is enough, since the media element's buffered ranges are those all source
    // buffers hold. (Matching by range would not do: a removal stops at a frame boundary, and
    // the new level's fragments soon fill the range again.)
    player.on('hlsBufferFlushed', () => this.#pendingFlushes.shift());
  }

  /** Seconds buffered ahead of the playhead; 0 without media. */
  aheadSec(): number {
    const media = this.#player.media;
    if (!media) return 0;
    const now = this.#now();
    this.#pendingFlushes = this.#pendingFlushes.filter((flush) => now - flush.since < FLUSH_PENDING_MAX_MS);
    return bufferAheadSec(spansOf(media.buffered), media.currentTime, this.#pendingFlushes);
  }
}
