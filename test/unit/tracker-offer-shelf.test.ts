import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OfferShelf } from '../../tracker/offer-shelf.ts';

const offers = (...ids: string[]) => ids.map((offerId) => ({ offerId, offer: `sdp of ${offerId}` }));
const shelf = (limits = { maxOffersPerShelf: 3, maxBytes: 1000 }) =>
  new OfferShelf<string, string>({ pooledTtlMs: 100, freshTtlMs: 40, ...limits, sizeOf: (offer) => String(offer).length });

describe('OfferShelf', () => {
  it('hands out each offer once, in the order announced', () => {
    const s = shelf();
    s.shelve('a', 'swarm', 'A', offers('o1', 'o2'), 0);
    assert.deepEqual(s.take('a', 'swarm', 'A', 1), { offerId: 'o1', offer: 'sdp of o1' });
    assert.equal(s.take('a', 'swarm', 'A', 1)?.offerId, 'o2');
    assert.equal(s.take('a', 'swarm', 'A', 1), undefined);
    assert.equal(s.has('a', 'swarm', 'A', 1), false);
  });

  it('remembers a relayed offer announced again, and forgets offers missing from the latest announce', () => {
    const s = shelf();
    s.shelve('a', 'swarm', 'A', offers('o1', 'o2'), 0);
    s.take('a', 'swarm', 'A', 0);
    s.shelve('a', 'swarm', 'A', offers('o1', 'o3'), 5);
    assert.equal(s.take('a', 'swarm', 'A', 5)?.offerId, 'o3', 'o1 was relayed already; o2 is gone');
    assert.equal(s.take('a', 'swarm', 'A', 5), undefined);
  });

  it('keeps offers of a client that sends them again until pooledTtlMs after first seen', () => {
    const s = shelf();
    s.shelve('pooling', 'swarm', 'P', offers('o1', 'o2'), 0);
    s.shelve('pooling', 'swarm', 'P', offers('o1', 'o2'), 10);
    assert.ok(s.has('pooling', 'swarm', 'P', 100));
    assert.equal(s.has('pooling', 'swarm', 'P', 101), false);
  });

  it('keeps other offers until freshTtlMs after last announced', () => {
    const s = shelf();
    s.shelve('fresh', 'swarm', 'F', offers('o1'), 0);
    assert.ok(s.has('fresh', 'swarm', 'F', 40));
    assert.equal(s.has('fresh', 'swarm', 'F', 41), false);
    s.shelve('fresh', 'swarm', 'F', offers('o2'), 50);
    assert.equal(s.take('fresh', 'swarm', 'F', 90)?.offerId, 'o2');
  });

  it('takes a client for one that holds offers until it is seen announcing only new ones', () => {
    const s = shelf();
    assert.equal(s.mayHoldOffers('w', 'swarm', 0), false, 'announced no offers');
    s.shelve('w', 'swarm', 'W', offers('w1'), 0);
    assert.ok(s.mayHoldOffers('w', 'swarm', 0), 'unknown yet: maybe trystero');
    s.shelve('w', 'swarm', 'W', offers('w2'), 1);
    assert.equal(s.mayHoldOffers('w', 'swarm', 1), false, 'new offers each announce, as WebTorrent clients do');
    s.shelve('t', 'swarm', 'T', offers('t1'), 0);
    s.shelve('t', 'swarm', 'T', offers('t1', 't2'), 1);
    s.shelve('t', 'swarm', 'T', offers('t3'), 2);
    assert.ok(s.mayHoldOffers('t', 'swarm', 2), 'seen announcing an offer again: stays a holder');
  });

  it('returns the offers of an announce never relayed, and remembers those relayed when announced', () => {
    const s = shelf();
    assert.deepEqual(s.shelve('a', 'swarm', 'A', offers('o1', 'o2', 'o1'), 0).map((o) => o.offerId), ['o1', 'o2']);
    s.markRelayed('a', 'swarm', 'A', 'o1');
    assert.deepEqual(s.shelve('a', 'swarm', 'A', offers('o1', 'o2'), 1).map((o) => o.offerId), ['o2']);
    assert.equal(s.take('a', 'swarm', 'A', 1)?.offerId, 'o2');
  });

  it('keeps at most maxOffersPerShelf offers per client and swarm, and maxBytes in all; the rest are still returned for relaying', () => {
    const s = shelf({ maxOffersPerShelf: 2, maxBytes: 30 });
    assert.equal(s.shelve('a', 'swarm', 'A', offers('o1', 'o2', 'o3'), 0).length, 3);
    assert.equal(s.bytes, 2 * 'sdp of o1'.length);
    assert.equal(s.shelve('b', 'swarm', 'B', offers('b1', 'b2'), 0).length, 2);
    assert.equal(s.bytes, 3 * 'sdp of o1'.length, 'only one of B fits in 30 bytes');
    s.forget('a');
    assert.equal(s.bytes, 'sdp of o1'.length);
    s.sweep(41);
    assert.equal(s.bytes, 0);
  });

  it('keeps swarms and peer ids apart', () => {
    const s = shelf();
    s.shelve('a', 'x', 'A', offers('o1'), 0);
    assert.equal(s.has('a', 'y', 'A', 0), false);
    assert.equal(s.has('a', 'x', 'other id', 0), false, 'a socket that announced another id there');
    s.shelve('a', 'x', 'A2', offers('o1'), 1);
    assert.equal(s.take('a', 'x', 'A2', 1)?.offerId, 'o1', 'a new peer id starts afresh');
  });

  it('forgets a client per swarm or altogether, and sweeps expired offers', () => {
    const s = shelf();
    s.shelve('a', 'x', 'A', offers('o1'), 0);
    s.shelve('a', 'y', 'A', offers('o2'), 0);
    s.shelve('b', 'x', 'B', offers('o3'), 0);
    s.forget('a', 'x');
    assert.deepEqual([s.has('a', 'x', 'A', 0), s.has('a', 'y', 'A', 0)], [false, true]);
    s.forget('a');
    assert.equal(s.size, 1);
    s.sweep(41);
    assert.equal(s.size, 0);
  });
});
