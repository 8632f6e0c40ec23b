import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LonelySwarms, reconnectTorrentTrackers } from '../../sdk/swarm/tracker-reconnect.ts';

describe('LonelySwarms', () => {
  it('reconnects once a swarm has been alone firstMs, then after twice as long each time up to the maximum, and starts over once swarms have peers', () => {
    const lonely = new LonelySwarms(20, 70);
    assert.equal(lonely.nextCheckInMs(0), undefined, 'no swarm yet');
    lonely.alone('a', 0);
    assert.equal(lonely.nextCheckInMs(0), 20);
    assert.equal(lonely.reconnectDue(19), false);
    const delays: number[] = [];
    let now = 0;
    for (let i = 0; i < 4; i++) {
      const wait = lonely.nextCheckInMs(now)!;
      now += wait;
      assert.ok(lonely.reconnectDue(now));
      delays.push(wait);
    }
    assert.deepEqual(delays, [20, 40, 70, 70]);
    lonely.joined('a');
    assert.equal(lonely.nextCheckInMs(now), undefined);
    lonely.alone('a', now);
    assert.equal(lonely.nextCheckInMs(now), 20, 'back to the first delay');
  });

  it('counts from when the first of several swarms was left alone, and not again for one alone already', () => {
    const lonely = new LonelySwarms(20, 320);
    lonely.alone('a', 0);
    lonely.alone('b', 15);
    lonely.alone('a', 10);
    assert.equal(lonely.nextCheckInMs(15), 5);
    lonely.joined('a');
    assert.equal(lonely.nextCheckInMs(15), 20, "b's own 20 s");
  });

  it("finds the reconnect due when checked at the time it named, whatever the clock's fractions", () => {
    // performance.now() readings: a sum of two of them rounds, and a check that found the
    // reconnect not due yet would ask for another in 0 ms, forever at the same instant.
    let seed = 1;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    for (let i = 0; i < 10_000; i++) {
      const lonely = new LonelySwarms(20_000, 320_000);
      let now = random() * 100_000;
      lonely.alone('a', now);
      now += random() * 19_000;
      for (let reconnects = 0; reconnects < 3; ) {
        const wait = lonely.nextCheckInMs(now)!;
        now += wait;
        assert.ok(lonely.reconnectDue(now), `not due at ${now} after waiting ${wait} ms`);
        reconnects++;
      }
    }
    const lonely = new LonelySwarms(20_000, 320_000);
    lonely.alone('a', 28852.386966291786);
    assert.equal(lonely.reconnectDue(48852.386966291786), true, 'the case that looped in the simulator');
  });
});

describe('reconnectTorrentTrackers', () => {
  it('does nothing for trackers trystero has no socket to', () => {
    assert.doesNotThrow(() => reconnectTorrentTrackers(['ws://127.0.0.1:9']));
  });
});
