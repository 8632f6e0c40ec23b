import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { choosePeer, finishingGraceMs, liveWaitMs, peerTimeoutMs, planSegmentLoad, shouldPrefetch, swarmWarmupWaitMs, uploadSlotsFor, type PeerCandidate, type PlanInput } from '../../sdk/scheduler/plan.ts';

const base: PlanInput = {
  cached: false,
  holders: [],
  live: false,
  flowing: false,
  retrying: false,
  elapsedMs: 0,
  liveWaitMaxMs: 2000,
  bufferAheadSec: 10,
  bufferSafetyMarginSec: 4,
  minPeerTimeoutMs: 1500,
  maxPeerTimeoutMs: 8000,
  maxRequestsPerPeer: 2,
  random: 0,
};

function peer(id: string, throughput: number | undefined, activeRequests = 0, whole = true): PeerCandidate {
  return { id, whole, throughputBytesPerSec: throughput, activeRequests };
}

describe('plan', () => {
  it('gives a peer what the buffer can spare beyond the margin, within bounds', () => {
    assert.equal(peerTimeoutMs({ ...base, bufferAheadSec: 10 }), 6000);
    assert.equal(peerTimeoutMs({ ...base, bufferAheadSec: 0 }), 1500);
    assert.equal(peerTimeoutMs({ ...base, bufferAheadSec: 60 }), 8000);
  });

  it('prefers the cache, then a holder, else HTTP', () => {
    assert.deepEqual(planSegmentLoad({ ...base, cached: true }), { source: 'cache' });
    assert.deepEqual(planSegmentLoad(base), { source: 'http', reason: 'no-holder' });
    const busy = [peer('a', 1e6, 2)];
    assert.deepEqual(planSegmentLoad({ ...base, holders: busy }), { source: 'http', reason: 'holders-busy' });
    const plan = planSegmentLoad({ ...base, holders: [peer('a', undefined)] });
    assert.deepEqual(plan, { source: 'peer', peerId: 'a', timeoutMs: 6000 });
    assert.deepEqual(planSegmentLoad({ ...base, holders: [peer('a', undefined)], elapsedMs: 2500 }), { source: 'peer', peerId: 'a', timeoutMs: 3500 }, 'time already spent counts');
    assert.deepEqual(planSegmentLoad({ ...base, holders: [peer('a', undefined)], elapsedMs: 6000 }), { source: 'http', reason: 'no-time' });
  });

  it('picks the fastest peer, discounting its load, and spreads ties', () => {
    const fast = peer('fast', 4e6);
    const slow = peer('slow', 1e6);
    assert.equal(choosePeer([slow, fast], 2, 0)?.id, 'fast');
    assert.equal(choosePeer([slow, { ...fast, activeRequests: 1 }, { ...slow, id: 'slow2', throughputBytesPerSec: 3e6 }], 2, 0)?.id, 'slow2');
    const twins = [{ ...fast, id: 'x' }, { ...fast, id: 'y' }];
    assert.deepEqual([choosePeer(twins, 2, 0)?.id, choosePeer(twins, 2, 0.99)?.id], ['x', 'y']);
  });

  it('scores an unmeasured peer as the median of the measured ones', () => {
    const peers = [peer('a', 1e6), peer('b', 3e6), peer('new', undefined)];
    assert.equal(choosePeer(peers, 2, 0)?.id, 'b');
    assert.equal(choosePeer(peers.filter((p) => p.id !== 'b'), 2, 0.99)?.id, 'new');
  });

  it('asks a peer still receiving the segment like one holding it whole: it relays as bytes arrive', () => {
    assert.equal(choosePeer([peer('arriving', 9e6, 0, false), peer('whole', 1e6)], 2, 0)?.id, 'arriving');
    assert.equal(choosePeer([peer('arriving', 1e6, 0, false), peer('whole', 9e6)], 2, 0)?.id, 'whole');
  });

  it('after its short live wait, waits on for a peer while the transfer fits if the segment is known to be arriving in the swarm, else fetches it', () => {
    const live = { ...base, live: true, bufferAheadSec: 8, random: 0.999 };
    assert.equal(planSegmentLoad({ ...live, flowing: true }).source, 'wait', 'the first plan is the short live wait, news or not');
    assert.equal((planSegmentLoad({ ...live, flowing: true }) as { reason: string }).reason, 'live-edge');
    const after = { ...live, live: false, elapsedMs: 1000 };
    assert.deepEqual(planSegmentLoad({ ...after, flowing: true }), { source: 'wait', reason: 'flowing', timeoutMs: 2000 });
    assert.deepEqual(planSegmentLoad({ ...after, flowing: false }), { source: 'http', reason: 'no-holder' });
    assert.deepEqual(planSegmentLoad({ ...after, flowing: true, elapsedMs: 3500 }), { source: 'http', reason: 'no-time' });
  });

  it('after failures, waits for another peer while the transfer would still fit the budget', () => {
    assert.deepEqual(planSegmentLoad({ ...base, retrying: true, elapsedMs: 1000 }), { source: 'wait', reason: 'retry', timeoutMs: 2000 });
    assert.deepEqual(planSegmentLoad({ ...base, retrying: true, elapsedMs: 5000 }), { source: 'http', reason: 'no-time' });
  });

  it('takes an offer of the live segment the player waits for or of one just ahead of it, unless held', () => {
    const input = { live: true, seq: 11, newestRequestedSeq: 10, held: false, lookaheadSegments: 2 };
    assert.equal(shouldPrefetch(input), true);
    assert.equal(shouldPrefetch({ ...input, seq: 13 }), false, 'too far ahead');
    assert.equal(shouldPrefetch({ ...input, seq: 10 }), true, 'the player asked for it and waits');
    assert.equal(shouldPrefetch({ ...input, seq: 9 }), false, 'the player is past it');
    assert.equal(shouldPrefetch({ ...input, held: true }), false);
    assert.equal(shouldPrefetch({ ...input, live: false }), false);
    assert.equal(shouldPrefetch({ ...input, seq: undefined }), false);
  });

  it('waits a random part of the spare buffer for a live segment nobody announced, never for VOD', () => {
    const live = { ...base, live: true, bufferAheadSec: 8 };
    assert.deepEqual(planSegmentLoad({ ...live, random: 0.5 }), { source: 'wait', reason: 'live-edge', timeoutMs: 1000 });
    assert.deepEqual(planSegmentLoad({ ...live, random: 0.999 }), { source: 'wait', reason: 'live-edge', timeoutMs: 1998 });
    assert.deepEqual(planSegmentLoad({ ...live, random: 0 }), { source: 'http', reason: 'no-holder' });
    assert.deepEqual(planSegmentLoad({ ...live, live: false, random: 0.5 }), { source: 'http', reason: 'no-holder' });
    assert.equal(liveWaitMs({ ...live, bufferAheadSec: 5, random: 0.999 }), 500, 'at most half of what the buffer spares');
    assert.equal(liveWaitMs({ ...live, bufferAheadSec: 2, random: 0.999 }), 0, 'no wait when the buffer is short');
    assert.deepEqual(planSegmentLoad({ ...live, elapsedMs: 500, random: 0.5 }), { source: 'http', reason: 'no-holder' }, 'a wait that found nobody ends in HTTP');
  });

  it('sizes live upload slots so each upload keeps the stream\'s pace', () => {
    const segment = { maxUploads: 4, segmentBytes: 250_000, segmentDurationSec: 2, live: true };
    assert.equal(uploadSlotsFor({ ...segment, uploadBytesPerSec: undefined }), 2, 'two until measured');
    assert.equal(uploadSlotsFor({ ...segment, uploadBytesPerSec: undefined, maxUploads: 1 }), 1, 'not more than maxUploads until measured');
    assert.equal(uploadSlotsFor({ ...segment, uploadBytesPerSec: 240_000 }), 2, 'an uplink near twice the bitrate: two at its pace');
    assert.equal(uploadSlotsFor({ ...segment, uploadBytesPerSec: 180_000 }), 1, 'one and a half times the bitrate: one');
    assert.equal(uploadSlotsFor({ ...segment, uploadBytesPerSec: 1_000_000 }), 4);
    assert.equal(uploadSlotsFor({ ...segment, uploadBytesPerSec: 50_000_000 }), 4, 'never more than maxUploads');
    assert.equal(uploadSlotsFor({ ...segment, uploadBytesPerSec: 100_000 }), 1, 'at least one');
  });

  it('sizes VOD upload slots so each upload fits in half a segment duration', () => {
    const segment = { maxUploads: 4, segmentBytes: 250_000, segmentDurationSec: 2, live: false };
    assert.equal(uploadSlotsFor({ ...segment, uploadBytesPerSec: undefined }), 1, 'one until measured');
    assert.equal(uploadSlotsFor({ ...segment, uploadBytesPerSec: 240_000 }), 1, 'twice the bitrate: one, at full speed');
    assert.equal(uploadSlotsFor({ ...segment, uploadBytesPerSec: 500_000 }), 2);
    assert.equal(uploadSlotsFor({ ...segment, uploadBytesPerSec: 50_000_000 }), 4, 'never more than maxUploads');
  });

  it('waits for a just-joined swarm to connect while the buffer spares it', () => {
    const young = { peerCount: 0, sinceJoinMs: 1000, bufferAheadSec: 10.5, bufferSafetyMarginSec: 1.5 };
    assert.equal(swarmWarmupWaitMs(young), 4000, 'up to the end of the warm-up');
    assert.equal(swarmWarmupWaitMs({ ...young, bufferAheadSec: 4.5 }), 1500, 'half of what the buffer spares');
    assert.equal(swarmWarmupWaitMs({ ...young, bufferAheadSec: 1 }), 0);
    assert.equal(swarmWarmupWaitMs({ ...young, peerCount: 1 }), 0);
    assert.equal(swarmWarmupWaitMs({ ...young, sinceJoinMs: 6000 }), 0);
  });

  it('lets a late transfer finish only if, at the rate it arrived so far (with 25 % headroom), its rest fits in the time left', () => {
    // 900 of 1000 bytes in 2 s: the last 100 take 222 ms at that rate, 278 ms with headroom.
    assert.equal(finishingGraceMs({ receivedBytes: 900, totalBytes: 1000, receivingForMs: 2000, spareMs: 500 }), 278);
    assert.equal(finishingGraceMs({ receivedBytes: 900, totalBytes: 1000, receivingForMs: 2000, spareMs: 250 }), 0, 'not enough time left');
    assert.equal(finishingGraceMs({ receivedBytes: 400, totalBytes: 1000, receivingForMs: 2000, spareMs: 3000 }), 0, '3.75 s needed');
    for (const stalled of [
      { receivedBytes: 0, totalBytes: 1000, receivingForMs: 2000, spareMs: 5000 },
      { receivedBytes: 1000, totalBytes: 1000, receivingForMs: 2000, spareMs: 5000 },
      { receivedBytes: 500, totalBytes: 0, receivingForMs: 2000, spareMs: 5000 },
      { receivedBytes: 500, totalBytes: 1000, receivingForMs: 0, spareMs: 5000 },
      { receivedBytes: 500, totalBytes: 1000, receivingForMs: 2000, spareMs: -1 },
    ]) assert.equal(finishingGraceMs(stalled), 0, JSON.stringify(stalled));
  });
});
