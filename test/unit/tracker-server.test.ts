import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { REJECTION_REASONS } from '../../tracker/metrics.ts';
import { id, offersOf, randomId, setup, until, TestPeer, type Message } from '../support/tracker-peer.ts';

const noRejections = Object.fromEntries(REJECTION_REASONS.map((r) => [r, 0]));

describe('tracker server: signaling', () => {
  it('relays an offer to the other peer with the sender peer_id and offer_id, never to the sender', async (t) => {
    const { connect } = await setup(t);
    const hash = id('swarm');
    const [a, b] = [await connect(), await connect()];
    await b.announce({ info_hash: hash, peer_id: id('B'), numwant: 5, offers: [] });

    // Two offers, one other peer: B gets one, and the spare one must not go back to A.
    const reply = await a.announce({ info_hash: hash, peer_id: id('A'), numwant: 5, offers: offersOf('o1', 'o2') });
    // A has no partner yet while B is there: it is asked to announce again soon.
    assert.deepEqual(reply, { action: 'announce', info_hash: hash, interval: 15, complete: 0, incomplete: 2 });

    const relayed = await b.next((m) => 'offer' in m, 'relayed offer');
    const offerId = relayed.offer_id as string;
    assert.deepEqual(relayed, {
      action: 'announce',
      info_hash: hash,
      peer_id: id('A'),
      offer_id: offerId,
      offer: { type: 'offer', sdp: `sdp of ${offerId}` },
    });
    await Promise.all([a.sync(), b.sync()]);
    assert.equal(b.offers().length, 1);
    assert.deepEqual(a.offers(), [], 'the sender never gets its own offer');
  });

  it('gives each offer to a different peer not yet paired with the sender, at most min(numwant, offers) of them', async (t) => {
    const { connect } = await setup(t);
    const hash = id('swarm');
    const others = [await connect(), await connect(), await connect()];
    for (const [i, peer] of others.entries()) await peer.announce({ info_hash: hash, peer_id: id(`P${i}`) });
    const a = await connect();

    await a.announce({ info_hash: hash, peer_id: id('A'), numwant: 2, offers: offersOf('o1', 'o2', 'o3') });
    await Promise.all(others.map((p) => p.sync()));
    const got = others.map((p) => p.offers().map((m) => m.offer_id));
    assert.equal(got.flat().length, 2, `offers received: ${JSON.stringify(got)}`);
    assert.ok(got.every((ids) => ids.length <= 1), 'no peer gets two offers of one announce');
    assert.equal(new Set(got.flat()).size, 2);

    await a.announce({ info_hash: hash, peer_id: id('A'), numwant: 10, offers: offersOf('o4', 'o5', 'o6', 'o7') });
    await Promise.all([...others, a].map((p) => p.sync()));
    assert.deepEqual(
      others.map((p) => p.offers().length),
      [1, 1, 1],
      'with 4 offers, only the peer not offered yet gets one: the others have an offer from A pending',
    );
    assert.deepEqual(a.offers(), []);
  });

  it('relays an answer to the peer named by to_peer_id, and only to it', async (t) => {
    const { connect } = await setup(t);
    const hash = id('swarm');
    const [a, b, c] = [await connect(), await connect(), await connect()];
    await a.announce({ info_hash: hash, peer_id: id('A') });
    await c.announce({ info_hash: hash, peer_id: id('C') });

    const answer = { type: 'answer', sdp: 'the answer' };
    b.send({ action: 'announce',  info_hash: hash, peer_id: id('B'), answer, offer_id: 'offer-1', to_peer_id: id('A') });
    const relayed = await a.next((m) => 'answer' in m, 'relayed answer');
    assert.deepEqual(relayed, { action: 'announce', info_hash: hash, peer_id: id('B'), offer_id: 'offer-1', answer });
    await Promise.all([b.sync(), c.sync()]);
    assert.ok(![...b.received, ...c.received].some((m) => 'answer' in m));
  });

  it('refuses an answer to a peer that is not in the swarm', async (t) => {
    const { connect } = await setup(t);
    const hash = id('swarm');
    const b = await connect();
    const answer = { type: 'answer', sdp: 'the answer' };
    const failure = await b.expectFailure({
      action: 'announce',
      info_hash: hash,
      peer_id: id('B'),
      answer,
      offer_id: 'x',
      to_peer_id: id('nobody'),
    });
    assert.deepEqual(failure, {
      'failure reason': 'unknown to_peer_id: no such peer in this swarm',
      action: 'announce',
      info_hash: hash,
    });
  });

  it('keeps swarms apart: offers never cross info_hashes', async (t) => {
    const { connect } = await setup(t);
    const [x, y] = [id('swarm X'), id('swarm Y')];
    const [a, b, c] = [await connect(), await connect(), await connect()];
    await b.announce({ info_hash: x, peer_id: id('B') });
    const cReply = await c.announce({ info_hash: y, peer_id: id('C') });
    assert.equal(cReply.incomplete, 1);

    await a.announce({ info_hash: x, peer_id: id('A'), numwant: 10, offers: offersOf('1', '2', '3') });
    assert.equal((await b.next((m) => 'offer' in m, 'offer in X')).info_hash, x);
    await c.sync();
    assert.deepEqual(c.offers(), []);
  });

  it('lets one socket join several swarms', async (t) => {
    const { connect } = await setup(t);
    const [x, y] = [id('swarm X'), id('swarm Y')];
    const [a, b, c] = [await connect(), await connect(), await connect()];
    await a.announce({ info_hash: x, peer_id: id('A') });
    await a.announce({ info_hash: y, peer_id: id('A') });
    await b.announce({ info_hash: x, peer_id: id('B'), offers: offersOf('from B') });
    await c.announce({ info_hash: y, peer_id: id('C'), offers: offersOf('from C') });
    const fromB = await a.next((m) => m.offer_id === 'from B', 'offer from B');
    const fromC = await a.next((m) => m.offer_id === 'from C', 'offer from C');
    assert.deepEqual([fromB.info_hash, fromB.peer_id], [x, id('B')]);
    assert.deepEqual([fromC.info_hash, fromC.peer_id], [y, id('C')]);
  });

  it('no longer offers a peer whose socket closed', async (t) => {
    const { tracker, connect } = await setup(t);
    const hash = id('swarm');
    const [a, b, c] = [await connect(), await connect(), await connect()];
    await b.announce({ info_hash: hash, peer_id: id('B') });
    await c.announce({ info_hash: hash, peer_id: id('C') });
    await b.close();

    await a.announce({ info_hash: hash, peer_id: id('A'), numwant: 2, offers: offersOf('1', '2') });
    await c.next((m) => 'offer' in m, 'offer at C');
    await c.sync();
    assert.equal(c.offers().length, 1);
    assert.deepEqual(b.offers(), []);
    assert.equal(tracker.stats().peers, 2);
    assert.equal(tracker.stats().offersRelayed, 1);
  });

  it("drops a closed socket's peers from every swarm", async (t) => {
    const { tracker, connect } = await setup(t);
    const [a, b] = [await connect(), await connect()];
    await a.announce({ info_hash: id('X'), peer_id: id('A') });
    await a.announce({ info_hash: id('Y'), peer_id: id('A') });
    await b.announce({ info_hash: id('X'), peer_id: id('B') });
    assert.deepEqual([tracker.stats().swarms, tracker.stats().peers], [2, 3]);
    await a.close();
    await until(() => tracker.stats().connections === 1, 'the tracker saw the close');
    assert.deepEqual([tracker.stats().swarms, tracker.stats().peers], [1, 1]);
    assert.deepEqual((await b.scrape()).files, { [id('X')]: { complete: 0, incomplete: 1, downloaded: 0 } });
  });

  it("removes a peer on event 'stopped'", async (t) => {
    const { connect } = await setup(t);
    const hash = id('swarm');
    const [a, b] = [await connect(), await connect()];
    await a.announce({ info_hash: hash, peer_id: id('A') });
    await b.announce({ info_hash: hash, peer_id: id('B') });
    const stopped = await b.announce({ info_hash: hash, peer_id: id('B'), event: 'stopped' });
    assert.equal(stopped.incomplete, 1);

    const reply = await a.announce({ info_hash: hash, peer_id: id('A'), offers: offersOf('1') });
    assert.equal(reply.incomplete, 1);
    await b.sync();
    assert.deepEqual(b.offers(), []);
  });

  it('counts complete and incomplete peers and answers scrapes', async (t) => {
    const { connect } = await setup(t);
    const [x, y, unknown] = [id('swarm X'), id('swarm Y'), id('nobody here')];
    const [a, b, c] = [await connect(), await connect(), await connect()];
    await a.announce({ info_hash: x, peer_id: id('A'), left: 0 });
    const reply = await b.announce({ info_hash: x, peer_id: id('B'), left: 100 });
    assert.deepEqual([reply.complete, reply.incomplete], [1, 1]);
    await c.announce({ info_hash: y, peer_id: id('C') });

    assert.deepEqual((await c.scrape(x)).files, { [x]: { complete: 1, incomplete: 1, downloaded: 0 } });
    await b.announce({ info_hash: x, peer_id: id('B'), event: 'completed' });
    assert.deepEqual((await c.scrape([x, y, unknown])).files, {
      [x]: { complete: 2, incomplete: 0, downloaded: 1 },
      [y]: { complete: 0, incomplete: 1, downloaded: 0 },
      [unknown]: { complete: 0, incomplete: 0, downloaded: 0 },
    });
    assert.deepEqual(Object.keys((await c.scrape()).files as object).sort(), [x, y].sort());
  });
});

describe('tracker server: pairing peers whose offers are answered by higher ids only (trystero)', () => {
  it('hands a later peer with a higher id an offer that a lower-id peer announced before it came, once', async (t) => {
    const { connect } = await setup(t);
    const hash = id('swarm');
    const [b, c, d, a] = [await connect(), await connect(), await connect(), await connect()];
    await b.announce({ info_hash: hash, peer_id: id('B'), numwant: 3, offers: offersOf('b1') });

    await c.announce({ info_hash: hash, peer_id: id('C'), numwant: 3, offers: [] });
    const shelved = await c.next((m) => 'offer' in m, "B's offer at C");
    assert.deepEqual(shelved, { action: 'announce', info_hash: hash, peer_id: id('B'), offer_id: 'b1', offer: { type: 'offer', sdp: 'sdp of b1' } });

    await d.announce({ info_hash: hash, peer_id: id('D'), numwant: 3, offers: [] });
    await a.announce({ info_hash: hash, peer_id: id('A'), numwant: 3, offers: [] });
    await Promise.all([a.sync(), d.sync()]);
    assert.deepEqual(d.offers(), [], 'b1 went to C already');
    assert.deepEqual(a.offers(), [], 'A sorts below B: it would ignore B\'s offer');
  });

  it("lets the handed-out offer be answered like a relayed one; then no offer goes between the partners", async (t) => {
    const { tracker, connect } = await setup(t);
    const hash = id('swarm');
    const [b, c] = [await connect(), await connect()];
    await b.announce({ info_hash: hash, peer_id: id('B'), numwant: 3, offers: offersOf('b1') });
    await c.announce({ info_hash: hash, peer_id: id('C'), numwant: 3, offers: [] });
    await c.next((m) => 'offer' in m, "B's offer at C");
    c.send({ action: 'announce', info_hash: hash, peer_id: id('C'), to_peer_id: id('B'), offer_id: 'b1', answer: { type: 'answer', sdp: 'answer' } });
    await b.next((m) => 'answer' in m, "C's answer at B");
    assert.equal(tracker.stats().answersRelayed, 1);

    const again = await b.announce({ info_hash: hash, peer_id: id('B'), numwant: 3, offers: offersOf('b1', 'b2') });
    assert.equal(again.interval, 120, 'B has its one possible partner: the usual interval');
    await c.sync();
    assert.deepEqual(c.offers().map((m) => m.offer_id), ['b1'], 'neither b1 a second time nor b2 to the fresh partner');

    const d = await connect();
    await d.announce({ info_hash: hash, peer_id: id('D'), numwant: 3, offers: [] });
    assert.equal((await d.next((m) => 'offer' in m, "B's spare offer at D")).offer_id, 'b2', 'b2 kept for a later peer');
  });

  it('relays an announce\'s offers to peers with higher ids first', async (t) => {
    const { connect } = await setup(t);
    const hash = id('swarm');
    const lower = [await connect(), await connect(), await connect(), await connect()];
    const higher = [await connect(), await connect()];
    for (const [i, peer] of lower.entries()) await peer.announce({ info_hash: hash, peer_id: id(`A${i}`) });
    for (const [i, peer] of higher.entries()) await peer.announce({ info_hash: hash, peer_id: id(`Y${i}`) });
    const m = await connect();

    await m.announce({ info_hash: hash, peer_id: id('M'), numwant: 2, offers: offersOf('m1', 'm2') });
    await Promise.all([...lower, ...higher].map((p) => p.sync()));
    assert.deepEqual(higher.map((p) => p.offers().length), [1, 1]);
    assert.deepEqual(lower.map((p) => p.offers().length), [0, 0, 0, 0]);
  });

  it('relays each offer once, even when the client announces it again', async (t) => {
    const { connect } = await setup(t);
    const hash = id('swarm');
    const others = [await connect(), await connect()];
    for (const [i, peer] of others.entries()) await peer.announce({ info_hash: hash, peer_id: id(`P${i}`) });
    const a = await connect();
    await a.announce({ info_hash: hash, peer_id: id('A'), numwant: 3, offers: offersOf('o1') });
    await a.announce({ info_hash: hash, peer_id: id('A'), numwant: 3, offers: offersOf('o1', 'o2') });
    await Promise.all(others.map((p) => p.sync()));
    assert.deepEqual(others.flatMap((p) => p.offers().map((m) => m.offer_id)).sort(), ['o1', 'o2']);
  });
});

describe('tracker server: malformed input', () => {
  const hash = id('swarm');
  const cases: [string, string, RegExp, Message?][] = [
    ['invalid JSON', '{"action": "announce",', /not valid JSON/],
    ['a missing info_hash', JSON.stringify({ action: 'announce', peer_id: id('A') }), /info_hash/, { action: 'announce' }],
    [
      'a numeric numwant given as a string',
      JSON.stringify({ action: 'announce', info_hash: hash, peer_id: id('A'), numwant: 'many' }),
      /numwant/,
      { action: 'announce', info_hash: hash },
    ],
    [
      'offers that are not an array',
      JSON.stringify({ action: 'announce', info_hash: hash, peer_id: id('A'), offers: 'nope' }),
      /offers/,
      { action: 'announce', info_hash: hash },
    ],
    [
      'a 19-character peer_id',
      JSON.stringify({ action: 'announce', info_hash: hash, peer_id: 'p'.repeat(19) }),
      /peer_id/,
      { action: 'announce', info_hash: hash },
    ],
    ['an unknown action', JSON.stringify({ action: 'connect', info_hash: hash }), /unknown action/, { info_hash: hash }],
    ['a JSON string', '"announce"', /JSON object/],
  ];

  for (const [name, raw, reason, extra] of cases) {
    it(`answers ${name} with a failure reason and keeps serving`, async (t) => {
      const { tracker, connect } = await setup(t);
      const [bad, good] = [await connect(), await connect()];
      const failure = await bad.expectFailure(raw);
      assert.match(String(failure['failure reason']), reason);
      for (const [key, value] of Object.entries(extra ?? {})) assert.equal(failure[key], value, key);
      assert.equal(tracker.stats().rejected, 1);

      const reply = await good.announce({ info_hash: hash, peer_id: id('good') });
      assert.equal(reply.incomplete, 1);
      await bad.announce({ info_hash: hash, peer_id: id('bad, now fine') });
    });
  }

  it('answers an oversized message with a failure reason, and closes on a huge one', async (t) => {
    const { connect } = await setup(t, { maxMessageBytes: 1024 });
    const [bad, good] = [await connect(), await connect()];
    const big = JSON.stringify({ action: 'scrape', padding: 'x'.repeat(2000) });
    const failure = await bad.expectFailure(big);
    assert.match(String(failure['failure reason']), /message too large: \d+ bytes, the limit is 1024/);
    await bad.announce({ info_hash: hash, peer_id: id('bad') });

    bad.send('x'.repeat(5000));
    const { code } = await bad.closed;
    assert.equal(code, 1009);
    assert.equal((await good.announce({ info_hash: hash, peer_id: id('good') })).action, 'announce');
  });

  it('accepts a message of exactly maxMessageBytes', async (t) => {
    const { connect } = await setup(t, { maxMessageBytes: 1024 });
    const peer = await connect();
    const base = JSON.stringify({ action: 'scrape', info_hash: hash, padding: '' });
    const exact = JSON.stringify({ action: 'scrape', info_hash: hash, padding: 'x'.repeat(1024 - base.length) });
    assert.equal(Buffer.byteLength(exact), 1024);
    peer.send(exact);
    const reply = await peer.next((m) => m.action === 'scrape', 'scrape reply');
    assert.deepEqual(Object.keys(reply.files as object), [hash]);
  });
});

describe('tracker server: connections', () => {
  it('closes connections that stop answering pings, and keeps the others', async (t) => {
    const { tracker, connect } = await setup(t, { heartbeatIntervalSec: 0.2 });
    const hash = id('swarm');
    const [silent, alive] = [await connect({ autoPong: false }), await connect()];
    await silent.announce({ info_hash: hash, peer_id: id('silent') });
    await alive.announce({ info_hash: hash, peer_id: id('alive') });
    await silent.closed;
    await alive.announce({ info_hash: hash, peer_id: id('alive'), offers: offersOf('1') });
    assert.equal(alive.ws.readyState, WebSocket.OPEN);
    assert.equal(tracker.stats().offersRelayed, 0);
  });

  it('closes its clients with code 1001 on close()', async (t) => {
    const { tracker, connect } = await setup(t);
    const peer = await connect();
    await tracker.close();
    assert.equal((await peer.closed).code, 1001);
    await tracker.close();
  });

  it('rejects WebSocket upgrades on other paths', async (t) => {
    const { tracker } = await setup(t);
    const ws = new WebSocket(`${tracker.url}/announce`);
    const [err] = (await once(ws, 'error')) as [Error];
    assert.match(err.message, /400/);
  });
});

describe('tracker server: HTTP endpoints', () => {
  it('GET /health says ok, with CORS', async (t) => {
    const { tracker } = await setup(t);
    const res = await fetch(`${tracker.httpUrl}/health`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.deepEqual(await res.json(), { status: 'ok' });
  });

  it('GET /stats reports swarms, peers, connections and counters, with CORS', async (t) => {
    const { tracker, connect } = await setup(t);
    const [a, b] = [await connect(), await connect()];
    await b.announce({ info_hash: id('X'), peer_id: id('B') });
    await a.announce({ info_hash: id('X'), peer_id: id('A'), offers: offersOf('1') });
    await a.announce({ info_hash: id('Y'), peer_id: id('A') });
    await b.next((m) => 'offer' in m, 'offer');
    b.send({ action: 'announce',  info_hash: id('X'), peer_id: id('B'), answer: { type: 'answer', sdp: 's' }, offer_id: '1', to_peer_id: id('A') });
    await a.next((m) => 'answer' in m, 'answer');
    await a.expectFailure('not json');

    const res = await fetch(`${tracker.httpUrl}/stats`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    const stats = (await res.json()) as Record<string, unknown>;
    assert.equal(typeof stats.uptimeSec, 'number');
    assert.equal(typeof stats.announcesPerSec, 'number');
    const timeless = (s: object) => ({ ...s, uptimeSec: 0, announcesPerSec: 0 });
    assert.deepEqual(timeless(stats), {
      swarms: 2,
      peers: 3,
      connections: 2,
      announces: 4,
      offersRelayed: 1,
      answersRelayed: 1,
      rejected: 1,
      rejectedByReason: { ...noRejections, malformed: 1 },
      uptimeSec: 0,
      announcesPerSec: 0,
    });
    assert.deepEqual(timeless(tracker.stats()), timeless(stats));
  });

  it('GET /metrics serves Prometheus text, per tracker instance', async (t) => {
    const { tracker, connect } = await setup(t);
    const { tracker: other } = await setup(t);
    const peer = await connect();
    await peer.announce({ info_hash: id('X'), peer_id: id('A') });
    await peer.expectFailure('{');

    const res = await fetch(`${tracker.httpUrl}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await res.text();
    for (const line of [
      'shoal_tracker_swarms 1',
      'shoal_tracker_peers 1',
      'shoal_tracker_connections 1',
      'shoal_tracker_announces_total 1',
      'shoal_tracker_offers_relayed_total 0',
      'shoal_tracker_answers_relayed_total 0',
      'shoal_tracker_rejected_total{reason="malformed"} 1',
      'shoal_tracker_rejected_total{reason="rate-limited"} 0',
    ]) {
      assert.ok(text.split('\n').includes(line), `missing "${line}" in:\n${text}`);
    }
    assert.match(text, /# TYPE shoal_tracker_announces_total counter/);
    assert.match(text, /# TYPE shoal_tracker_swarms gauge/);

    const otherText = await (await fetch(`${other.httpUrl}/metrics`)).text();
    assert.ok(otherText.split('\n').includes('shoal_tracker_announces_total 0'));
  });

  it('answers 404 on unknown paths', async (t) => {
    const { tracker } = await setup(t);
    const res = await fetch(`${tracker.httpUrl}/nope`);
    assert.equal(res.status, 404);
    await res.body?.cancel();
  });
});
