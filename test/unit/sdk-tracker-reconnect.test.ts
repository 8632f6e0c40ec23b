import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LonelySwarmBackoff, reconnectTorrentTrackers } from '../../sdk/swarm/tracker-reconnect.ts';

describe('LonelySwarmBackoff', () => {
  it('doubles the delay after each reconnect up to the maximum, and starts over once swarms have peers', () => {
    const backoff = new LonelySwarmBackoff(20, 70);
    const delays = [backoff.delayMs];
    for (let i = 0; i < 3; i++) {
      backoff.backOff();
      delays.push(backoff.delayMs);
    }
    assert.deepEqual(delays, [20, 40, 70, 70]);
    backoff.reset();
    assert.equal(backoff.delayMs, 20);
  });
});

describe('reconnectTorrentTrackers', () => {
  it('does nothing for trackers trystero has no socket to', () => {
    assert.doesNotThrow(() => reconnectTorrentTrackers(['ws://127.0.0.1:9']));
  });
});
