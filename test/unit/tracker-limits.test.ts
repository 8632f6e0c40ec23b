import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTrackerToken, startTracker } from '../../tracker/server.ts';
import { originAllowed, tokenProblem } from '../../tracker/access.ts';
import { TokenBucket } from '../../tracker/rate-limit.ts';
import { id, offersOf, setup, TestPeer, until } from '../support/tracker-peer.ts';

const SECRET = 'a secret of at least 16 characters';

describe('tracker limits', () => {
  it('relays at most maxOffersPerAnnounce offers of one announce', async (t) => {
    const { connect } = await setup(t, { maxOffersPerAnnounce: 2 });
    const hash = id('swarm');
    const others = [await connect(), await connect(), await connect()];
    for (const [i, peer] of others.entries()) await peer.announce({ info_hash: hash, peer_id: id(`P${i}`) });
    const a = await connect();
    await a.announce({ info_hash: hash, peer_id: id('A'), numwant: 3, offers: offersOf('o1', 'o2', 'o3') });
    await Promise.all(others.map((p) => p.sync()));
    assert.equal(others.flatMap((p) => p.offers()).length, 2);
  });

  it('answers messages beyond the rate with a failure reason, and closes a client that keeps flooding', async (t) => {
    const { tracker, connect } = await setup(t, { maxAnnouncesPerSec: 5 });
    const peer = await connect();
    // The burst is twice the rate: 10 go through, the 11th is refused.
    for (let i = 0; i < 10; i++) peer.send({ action: 'scrape', info_hash: id(`s${i}`) });
    const failure = await peer.expectFailure({ action: 'scrape' });
    assert.match(String(failure['failure reason']), /rate limit exceeded: at most 5 messages per second/);
    for (let i = 0; i < 20; i++) peer.send({ action: 'scrape' });
    const closed = await peer.closed;
    assert.equal(closed.code, 1008);
    assert.ok(tracker.stats().rejectedByReason['rate-limited'] >= 2);
    const other = await connect();
    assert.ok((await other.announce({ info_hash: id('X'), peer_id: id('B') })).interval, 'others are still served');
  });

  it('refuses to join more than maxSwarmsPerConnection swarms, and lets the connection re-announce in its swarms', async (t) => {
    const { connect } = await setup(t, { maxSwarmsPerConnection: 2 });
    const peer = await connect();
    await peer.announce({ info_hash: id('S1'), peer_id: id('A') });
    await peer.announce({ info_hash: id('S2'), peer_id: id('A') });
    const failure = await peer.expectFailure({ action: 'announce', info_hash: id('S3'), peer_id: id('A') });
    assert.match(String(failure['failure reason']), /too many swarms on this connection: the limit is 2/);
    assert.equal(failure.info_hash, id('S3'));
    await peer.announce({ info_hash: id('S1'), peer_id: id('A') });
    await peer.announce({ info_hash: id('S1'), peer_id: id('A'), event: 'stopped' });
    await peer.announce({ info_hash: id('S3'), peer_id: id('A') });
  });

  it('refuses new peers beyond maxPeers in the whole tracker', async (t) => {
    const { tracker, connect } = await setup(t, { maxPeers: 2 });
    const [a, b, c] = [await connect(), await connect(), await connect()];
    await a.announce({ info_hash: id('S1'), peer_id: id('A') });
    await b.announce({ info_hash: id('S2'), peer_id: id('B') });
    const failure = await c.expectFailure({ action: 'announce', info_hash: id('S1'), peer_id: id('C') });
    assert.match(String(failure['failure reason']), /tracker full/);
    await a.announce({ info_hash: id('S1'), peer_id: id('A') });
    assert.equal(tracker.stats().peers, 2);
    await a.close();
    await c.announce({ info_hash: id('S1'), peer_id: id('C') });
  });

  it('refuses connections beyond maxConnections with a failure reason and code 1013', async (t) => {
    const { connect } = await setup(t, { maxConnections: 1 });
    await connect();
    const second = await connect();
    const reply = await second.next((m) => typeof m['failure reason'] === 'string', 'failure reason');
    assert.match(String(reply['failure reason']), /tracker full/);
    assert.equal((await second.closed).code, 1013);
  });

  it('closes a connection that stays in no swarm for idleTimeoutSec, and keeps one in a swarm', async (t) => {
    const { tracker, connect } = await setup(t, { idleTimeoutSec: 0.2 });
    const idle = await connect();
    const member = await connect();
    await member.announce({ info_hash: id('S'), peer_id: id('M') });
    assert.equal((await idle.closed).code, 1000);
    await member.sync();
    assert.equal(tracker.stats().connections, 1);
  });

  it('closes a connection idle again after leaving its last swarm', async (t) => {
    const { connect } = await setup(t, { idleTimeoutSec: 0.2 });
    const peer = await connect();
    await peer.announce({ info_hash: id('S'), peer_id: id('M') });
    await peer.announce({ info_hash: id('S'), peer_id: id('M'), event: 'stopped' });
    assert.equal((await peer.closed).code, 1000);
  });

  it('drops a peer that stops announcing after peerTimeoutSec, freeing its connection slots', async (t) => {
    const { tracker, connect } = await setup(t, { peerTimeoutSec: 0.3, maxPeersPerClient: 1 });
    const [a, b] = [await connect(), await connect()];
    await b.announce({ info_hash: id('S'), peer_id: id('B') });
    await a.announce({ info_hash: id('S'), peer_id: id('A'), offers: offersOf('o1') });
    await b.next((m) => 'offer' in m, 'offer');
    // B's only slot is reserved by A's offer until both time out of S.
    await until(() => tracker.stats().peers === 0, 'both peers expired');
    await b.announce({ info_hash: id('S'), peer_id: id('B') });
    const c = await connect();
    await c.announce({ info_hash: id('S'), peer_id: id('C'), offers: offersOf('o2') });
    assert.equal((await b.next((m) => 'offer' in m, 'offer after expiry')).offer_id, 'o2');
  });

  it('never relays an answer that would take a client past its cap', async (t) => {
    const { tracker, connect } = await setup(t, { maxPeersPerClient: 1 });
    const [a, b, c] = [await connect(), await connect(), await connect()];
    await a.announce({ info_hash: id('S'), peer_id: id('A') });
    await b.announce({ info_hash: id('S'), peer_id: id('B'), offers: offersOf('ob') });
    await a.next((m) => 'offer' in m, 'offer');
    a.send({ action: 'announce',  info_hash: id('S'), peer_id: id('A'), answer: { type: 'answer', sdp: 's' }, offer_id: 'ob', to_peer_id: id('B') });
    await b.next((m) => 'answer' in m, 'answer');
    // C answers A without any offer from A: A is at its cap of 1.
    await c.announce({ info_hash: id('S'), peer_id: id('C') });
    const failure = await c.expectFailure({
      action: 'announce',
      info_hash: id('S'),
      peer_id: id('C'),
      answer: { type: 'answer', sdp: 's' },
      offer_id: 'forged',
      to_peer_id: id('A'),
    });
    assert.match(String(failure['failure reason']), /no room/);
    await a.sync();
    assert.equal(a.received.filter((m) => 'answer' in m).length, 0);
    assert.equal(tracker.stats().rejectedByReason['peer-at-cap'], 1);
  });
});

describe('tracker access control', () => {
  it('matches origins exactly or by subdomain wildcard, and allows all with an empty list', () => {
    const list = ['https://example.com', 'https://*.video.example'];
    assert.ok(originAllowed('https://example.com', list));
    assert.ok(originAllowed('https://live.video.example', list));
    assert.ok(originAllowed('https://a.b.video.example', list));
    assert.equal(originAllowed('https://video.example', list), false);
    assert.equal(originAllowed('http://example.com', list), false);
    assert.equal(originAllowed('https://evil.com/https://x.video.example', list), false);
    assert.equal(originAllowed('https://example.com.evil.com', list), false);
    assert.equal(originAllowed(undefined, list), false);
    assert.ok(originAllowed(undefined, []));
    assert.ok(originAllowed('https://anything', []));
  });

  it('accepts allowlisted origins and refuses others with a failure reason and code 1008', async (t) => {
    const { tracker, connect } = await setup(t, { allowedOrigins: ['https://site.example'] });
    const allowed = await connect({ origin: 'https://site.example' });
    assert.ok((await allowed.announce({ info_hash: id('S'), peer_id: id('A') })).interval);
    const refused = await connect({ origin: 'https://other.example' });
    const reply = await refused.next((m) => typeof m['failure reason'] === 'string', 'failure reason');
    assert.match(String(reply['failure reason']), /origin not allowed: "https:\/\/other.example"/);
    assert.equal((await refused.closed).code, 1008);
    assert.equal(tracker.stats().rejectedByReason.origin, 1);
  });

  it('verifies tokens: signature, expiry and format', () => {
    const now = Date.UTC(2026, 0, 1);
    const valid = createTrackerToken(SECRET, new Date(now + 60_000));
    assert.equal(tokenProblem(valid, SECRET, now), undefined);
    assert.equal(tokenProblem(valid, SECRET, now + 60_000), 'expired token');
    assert.equal(tokenProblem(valid, 'another secret, 16+ chars', now), 'invalid token signature');
    const [expiry, signature] = valid.split('.');
    assert.equal(tokenProblem(`${Number(expiry) + 3600}.${signature}`, SECRET, now), 'invalid token signature', 'a longer expiry is not forgeable');
    assert.equal(tokenProblem('garbage', SECRET, now), 'malformed token');
    assert.equal(tokenProblem(null, SECRET, now), 'missing token');
  });

  it('requires a valid token in the URL when tokenSecret is set', async (t) => {
    const { tracker } = await setup(t, { tokenSecret: SECRET });
    const token = createTrackerToken(SECRET, new Date(Date.now() + 60_000));
    const good = await TestPeer.connect(`${tracker.url}/?token=${token}`);
    t.after(() => good.close());
    assert.ok((await good.announce({ info_hash: id('S'), peer_id: id('A') })).interval);
    for (const [url, reason] of [
      [tracker.url, /missing token/],
      [`${tracker.url}/?token=${createTrackerToken(SECRET, new Date(Date.now() - 1000))}`, /expired token/],
      [`${tracker.url}/?token=${createTrackerToken('not the tracker secret!', new Date(Date.now() + 60_000))}`, /invalid token signature/],
    ] as const) {
      const peer = await TestPeer.connect(url);
      const reply = await peer.next((m) => typeof m['failure reason'] === 'string', 'failure reason');
      assert.match(String(reply['failure reason']), reason);
      assert.equal((await peer.closed).code, 1008);
    }
  });

  it('throws on invalid options, naming the option', async () => {
    await assert.rejects(startTracker({ port: 0, maxPeersPerClient: 0 }), /maxPeersPerClient/);
    await assert.rejects(startTracker({ port: 0, maxAnnouncesPerSec: Number.NaN }), /maxAnnouncesPerSec/);
    await assert.rejects(startTracker({ port: 0, tokenSecret: 'short' }), /tokenSecret/);
  });
});

describe('TokenBucket', () => {
  it('allows a burst, refills at the rate, and calls a client that keeps sending abusive', () => {
    const bucket = new TokenBucket(2, 4, 0);
    assert.deepEqual([1, 2, 3, 4].map(() => bucket.take(0)), ['ok', 'ok', 'ok', 'ok']);
    assert.equal(bucket.take(0), 'limited');
    assert.equal(bucket.take(1000), 'ok', 'two tokens back after a second, one owed');
    const flood = Array.from({ length: 5 }, () => bucket.take(1000));
    assert.deepEqual(flood, ['limited', 'limited', 'limited', 'limited', 'abusive']);
  });
});
