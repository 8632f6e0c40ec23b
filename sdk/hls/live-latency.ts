import type { HlsConfig, Level } from 'hls.js';

/** hls.js options that place live playback; a page that set any of them chose its own latency. */
const LIVE_SYNC_OPTIONS = ['liveSyncDuration', 'liveSyncDurationCount', 'liveMaxLatencyDuration', 'liveMaxLatencyDurationCount'] as const;

/** The part of an `Hls` instance this needs. */
export interface LiveLatencyTarget {
  config: HlsConfig;
  /** The options the page passed to the `Hls` constructor. */
  userConfig?: Partial<HlsConfig>;
  levels: Level[];
}

/**
 * Makes hls.js play a live stream `extraSec` further behind the edge than it would: its
 * `liveSyncDuration` becomes `liveSyncDurationCount` target durations plus `extraSec`, computed
 * whenever hls.js reads it (the target duration is known only once a playlist loaded, and hls.js
 * picks its live start position in the same call that loads it). hls.js setting it (its public
 * `targetLatency` setter) still wins. Changes nothing when the page placed live playback itself
 * or `extraSec` is 0. Returns what undoes it.
 */
export function addLiveLatency(hls: LiveLatencyTarget, extraSec: number): () => void {
  const { config } = hls;
  const pageChose = LIVE_SYNC_OPTIONS.some((option) => hls.userConfig?.[option] !== undefined) || config.liveSyncDuration != null;
  if (extraSec <= 0 || pageChose) return () => {};
  let setByHls: number | undefined;
  Object.defineProperty(config, 'liveSyncDuration', {
    configurable: true,
    enumerable: true,
    get(): number | undefined {
      if (setByHls !== undefined) return setByHls;
      const targetDuration = hls.levels?.find((level) => level.details)?.details?.targetduration;
      return targetDuration ? config.liveSyncDurationCount * targetDuration + extraSec : undefined;
    },
    set(value: number | undefined) {
      setByHls = value;
    },
  });
  return () => {
    Object.defineProperty(config, 'liveSyncDuration', { configurable: true, enumerable: true, writable: true, value: setByHls });
  };
}
