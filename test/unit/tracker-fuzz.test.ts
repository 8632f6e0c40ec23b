/**
 * Hostile traffic against a real `shoal-tracker` process: malformed JSON, wrong types,
 * oversized and deeply nested messages, binary frames, random bytes and floods, from many
 * connections at once. The process must stay up, stay within bounded memory, and keep
 * serving a well-behaved pair of peers throughout.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { seededRandom } from '../support/seeded-random.ts';
import { listening, runCli } from '../support/tracker-cli-process.ts';
import { id, offersOf, TestPeer } from '../support/tracker-peer.ts';

const MAX_MESSAGE_BYTES = 65_536;

/** One hostile message: text or bytes, from a generator seeded for reproducible failures. */
function hostileMessages(random: () => number): Array<string | Buffer> {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
  const junk = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
  const values = [null, true, 0, -1, 1e308, 'x', '', [], {}, [1, [2]], { a: { b: {} } }, 'é'.repeat(20), '\u0000'.repeat(20)];
  const fields = ['action', 'info_hash', 'peer_id', 'numwant', 'offers', 'answer', 'offer_id', 'to_peer_id', 'event', 'left', '__proto__', 'constructor'];
  const messages: Array<string | Buffer> = [
    '',
    'null',
    '[]',
    '"announce"',
    '{',
    '{"action":"announce"',
    '{"action":"announce","info_hash":"' + 'x'.repeat(20) + '","peer_id":"' + 'y'.repeat(20) + '","offers":' + '['.repeat(5000) + ']'.repeat(5000) + '}',
    '['.repeat(30_000) + ']'.repeat(30_000),
    '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000),
    JSON.stringify({ action: 'announce', info_hash: id('fuzz'), peer_id: id('f'), offers: Array.from({ length: 1000 }, (_, i) => ({ offer_id: `o${i}`, offer: { type: 'offer', sdp: 's' } })) }),
    JSON.stringify({ action: 'announce', info_hash: id('fuzz'), peer_id: id('f'), numwant: 1e9, offers: offersOf('a') }),
    JSON.stringify({ action: 'announce', info_hash: id('fuzz'), peer_id: id('f'), answer: { type: 'answer', sdp: 's' }, offer_id: 'x', to_peer_id: id('nobody') }),
    JSON.stringify({ action: 'scrape', info_hash: Array.from({ length: 3000 }, (_, i) => id(`h${i}`)) }),
    JSON.stringify({ action: 'announce', info_hash: id('fuzz'), peer_id: id('f'), __proto__: { polluted: true } }),
    '{"__proto__":{"polluted":true},"action":"announce","info_hash":"' + 'p'.repeat(20) + '","peer_id":"' + 'q'.repeat(20) + '"}',
    'x'.repeat(MAX_MESSAGE_BYTES + 1),
    junk(MAX_MESSAGE_BYTES * 2),
  ];
  for (let i = 0; i < 300; i++) {
    const message: Record<string, unknown> = { action: pick(['announce', 'scrape', 'unknown', 42, null]) };
    for (let f = Math.floor(random() * 6); f > 0; f--) message[pick(fields)] = pick(values);
    if (random() < 0.5) message.info_hash = id(`h${i % 7}`);
    if (random() < 0.5) message.peer_id = id(`p${i % 13}`);
    messages.push(random() < 0.1 ? junk(1 + Math.floor(random() * 512)) : JSON.stringify(message));
  }
  return messages;
}

describe('tracker under hostile input', () => {
  it('stays up, bounded, and keeps serving well-behaved peers', { timeout: 120_000 }, async (t) => {
    const cli = runCli(t, ['--port', '0', '--host', '127.0.0.1', '--log-level', 'silent', '--max-announces-per-sec', '50']);
    const { wsUrl, healthUrl } = await listening(cli);
    const statsUrl = healthUrl.replace(/health$/, 'stats');

    const [a, b] = [await TestPeer.connect(wsUrl), await TestPeer.connect(wsUrl)];
    t.after(() => Promise.all([a.close(), b.close()]));
    let round = 0;
    /** The pair that behaves: in a new swarm each round, an offer and its answer go through. */
    const wellBehavedPairStillServed = async () => {
      round++;
      const swarm = id(`good${round}`);
      await a.announce({ info_hash: swarm, peer_id: id('A') });
      await b.announce({ info_hash: swarm, peer_id: id('B'), offers: offersOf(`o${round}`) });
      await a.next((m) => m.offer_id === `o${round}`, `offer o${round}`);
      a.send({ action: 'announce',  info_hash: swarm, peer_id: id('A'), answer: { type: 'answer', sdp: 's' }, offer_id: `o${round}`, to_peer_id: id('B') });
      await b.next((m) => m.offer_id === `o${round}` && 'answer' in m, `answer o${round}`);
    };
    await wellBehavedPairStillServed();

    const random = seededRandom(7);
    for (let wave = 0; wave < 4; wave++) {
      const attackers = await Promise.all(
        Array.from({ length: 25 }, async () => {
          const ws = new WebSocket(wsUrl);
          ws.on('error', () => {});
          await once(ws, 'open');
          return ws;
        }),
      );
      const closed = attackers.map((ws) => once(ws, 'close'));
      for (const ws of attackers) {
        for (const message of hostileMessages(random)) {
          if (ws.readyState === WebSocket.OPEN) ws.send(message);
        }
      }
      // Floods past the rate limit and frames past the size limit end in the tracker closing
      // these connections (1008, 1009); whoever is left is closed by us.
      for (const ws of attackers) ws.close();
      await Promise.all(closed);
      await wellBehavedPairStillServed();
    }

    assert.equal(cli.child.exitCode, null, 'the tracker process is still running');
    const health = await fetch(healthUrl);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const stats = (await (await fetch(statsUrl)).json()) as { rejected: number; rejectedByReason: Record<string, number>; peers: number; connections: number };
    assert.ok(stats.rejected > 1000, `rejections counted: ${stats.rejected}`);
    assert.ok((stats.rejectedByReason.malformed ?? 0) > 0 && (stats.rejectedByReason['rate-limited'] ?? 0) > 0, JSON.stringify(stats.rejectedByReason));
    assert.equal(stats.connections, 2, 'every attacker connection is gone');
    assert.ok(stats.peers <= 2 * 5 + 7 * 13, `peers stay bounded: ${stats.peers}`);
  });
});
