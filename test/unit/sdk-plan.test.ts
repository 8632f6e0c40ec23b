import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { choosePeer, peerTimeoutMs, planSegmentLoad, type PlanInput } from '../../sdk/scheduler/plan.ts';

const base: PlanInput = {
  cached: false,
  holders: [],
  bufferAheadSec: 10,
  bufferSafetyMarginSec: 4,
  minPeerTimeoutMs: 1500,
  maxPeerTimeoutMs: 8000,
  maxRequestsPerPeer: 2,
  random: 0,
};

describe('plan', () => {
  it('gives a peer what the buffer can spare beyond the margin, within bounds', () => {
    assert.equal(peerTimeoutMs({ ...base, bufferAheadSec: 10 }), 6000);
    assert.equal(peerTimeoutMs({ ...base, bufferAheadSec: 0 }), 1500);
    assert.equal(peerTimeoutMs({ ...base, bufferAheadSec: 60 }), 8000);
  });

  it('prefers the cache, then a holder, else HTTP', () => {
    assert.deepEqual(planSegmentLoad({ ...base, cached: true }), { source: 'cache' });
    assert.deepEqual(planSegmentLoad(base), { source: 'http', reason: 'no-holder' });
    const busy = [{ id: 'a', throughputBytesPerSec: 1e6, activeRequests: 2 }];
    assert.deepEqual(planSegmentLoad({ ...base, holders: busy }), { source: 'http', reason: 'holders-busy' });
    const plan = planSegmentLoad({ ...base, holders: [{ id: 'a', throughputBytesPerSec: undefined, activeRequests: 0 }] });
    assert.deepEqual(plan, { source: 'peer', peerId: 'a', timeoutMs: 6000 });
  });

  it('picks the fastest peer, discounting its load, and spreads ties', () => {
    const fast = { id: 'fast', throughputBytesPerSec: 4e6, activeRequests: 0 };
    const slow = { id: 'slow', throughputBytesPerSec: 1e6, activeRequests: 0 };
    assert.equal(choosePeer([slow, fast], 2, 0)?.id, 'fast');
    assert.equal(choosePeer([slow, { ...fast, activeRequests: 1 }, { ...slow, id: 'slow2', throughputBytesPerSec: 3e6 }], 2, 0)?.id, 'slow2');
    const twins = [{ ...fast, id: 'x' }, { ...fast, id: 'y' }];
    assert.deepEqual([choosePeer(twins, 2, 0)?.id, choosePeer(twins, 2, 0.99)?.id], ['x', 'y']);
  });

  it('scores an unmeasured peer as the median of the measured ones', () => {
    const peers = [
      { id: 'a', throughputBytesPerSec: 1e6, activeRequests: 0 },
      { id: 'b', throughputBytesPerSec: 3e6, activeRequests: 0 },
      { id: 'new', throughputBytesPerSec: undefined, activeRequests: 0 },
    ];
    assert.equal(choosePeer(peers, 2, 0)?.id, 'b');
    assert.equal(choosePeer(peers.filter((p) => p.id !== 'b'), 2, 0.99)?.id, 'new');
  });
});
