import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HlsConfig, Level } from 'hls.js';
import { addLiveLatency, type LiveLatencyTarget } from '../../sdk/hls/live-latency.ts';

function hlsWith(userConfig: Partial<HlsConfig> = {}, targetduration?: number): LiveLatencyTarget {
  const config = { liveSyncDurationCount: 3, liveSyncDuration: undefined, ...userConfig } as unknown as HlsConfig;
  const levels = [{ details: undefined }, { details: targetduration === undefined ? undefined : { targetduration } }] as unknown as Level[];
  return { config, userConfig, levels };
}

describe('live latency added to hls.js', () => {
  it('makes liveSyncDuration the count of target durations plus the extra, once a playlist is known', () => {
    const hls = hlsWith();
    addLiveLatency(hls, 1);
    assert.equal(hls.config.liveSyncDuration, undefined, 'no playlist yet: hls.js falls back to its count');
    (hls.levels[1] as { details: unknown }).details = { targetduration: 2 };
    assert.equal(hls.config.liveSyncDuration, 7);
  });

  it('leaves alone a page that placed live playback itself, and an extra of 0', () => {
    for (const userConfig of [{ liveSyncDurationCount: 5 }, { liveSyncDuration: 9 }, { liveMaxLatencyDurationCount: 10 }, { liveMaxLatencyDuration: 20 }]) {
      const hls = hlsWith(userConfig, 2);
      addLiveLatency(hls, 1);
      assert.equal(hls.config.liveSyncDuration, userConfig.liveSyncDuration, JSON.stringify(userConfig));
    }
    const hls = hlsWith({}, 2);
    addLiveLatency(hls, 0);
    assert.equal(hls.config.liveSyncDuration, undefined);
  });

  it('lets hls.js set a target latency of its own (its targetLatency setter), and undoes itself', () => {
    const hls = hlsWith({}, 4);
    const remove = addLiveLatency(hls, 1.5);
    assert.equal(hls.config.liveSyncDuration, 13.5);
    hls.config.liveSyncDuration = 20;
    assert.equal(hls.config.liveSyncDuration, 20);
    remove();
    assert.equal(hls.config.liveSyncDuration, 20);
    hls.config.liveSyncDuration = undefined;
    assert.equal(hls.config.liveSyncDuration, undefined, 'a plain property again');
  });
});
