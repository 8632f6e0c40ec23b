import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { PairingBook } from '../../tracker/pairing.ts';
import { id, offersOf, setup } from '../support/tracker-peer.ts';

describe('PairingBook', () => {
  const book = (cap = 3, headroom = 1) => {
    const changes: string[] = [];
    return { changes, book: new PairingBook<string>({ cap, headroom, reservationTtlMs: 100 }, (c, room) => changes.push(`${c}:${room}`)) };
  };

  it('reserves a slot on both sides per relayed offer and turns it into a partnership on answer', () => {
    const { book: b } = book();
    b.reserve('a', 'b', 's', 'o1', 0);
    assert.equal(b.slotsUsed('a'), 1);
    assert.equal(b.slotsUsed('b'), 1);
    assert.deepEqual(b.partners('a'), []);
    assert.ok(b.answer('b', 'a', 's', 'o1', 0));
    assert.deepEqual([b.partners('a'), b.partners('b')], [['b'], ['a']]);
    assert.equal(b.slotsUsed('a'), 1, 'the reservation became the partnership, not one more slot');
  });

  it('stops offering to a full client and stops relaying offers of a client within the headroom', () => {
    const { book: b, changes } = book(3, 1);
    b.reserve('a', 'x', 's', 'o1', 0);
    assert.equal(b.offersAllowed('a'), 1);
    b.reserve('a', 'y', 's', 'o2', 0);
    assert.equal(b.offersAllowed('a'), 0, 'cap 3 - headroom 1 - 2 used');
    assert.ok(b.hasRoom('a'), 'still takes an offer from someone else');
    b.reserve('z', 'a', 's', 'o3', 0);
    assert.equal(b.hasRoom('a'), false);
    assert.deepEqual(changes, ['a:false']);
  });

  it('frees the slots of offers never answered once their reservation expires', () => {
    const { book: b, changes } = book(1, 0);
    b.reserve('a', 'b', 's', 'o1', 0);
    b.expire(99);
    assert.equal(b.slotsUsed('a'), 1);
    b.expire(100);
    assert.deepEqual([b.slotsUsed('a'), b.slotsUsed('b')], [0, 0]);
    assert.deepEqual(changes, ['a:false', 'b:false', 'a:true', 'b:true']);
  });

  it('relays an answer without a reservation only while both have room', () => {
    const { book: b } = book(1, 0);
    assert.ok(b.answer('b', 'a', 's', 'late', 0));
    assert.equal(b.answer('c', 'a', 's', 'late2', 0), false, 'a is full');
    assert.deepEqual(b.partners('c'), []);
  });

  it('ends the pairs of a swarm a client leaves, and all of them when it disconnects', () => {
    const { book: b } = book(4, 0);
    b.answer('a', 'b', 's1', 'o', 0);
    b.answer('a', 'c', 's2', 'o', 0);
    b.leave('a', 's1');
    assert.deepEqual([b.partners('a'), b.partners('b')], [['c'], []]);
    b.leave('c');
    assert.deepEqual([b.slotsUsed('a'), b.slotsUsed('c')], [0, 0]);
  });

  it('rejects a cap below 1 and a headroom that leaves no room to initiate', () => {
    assert.throws(() => new PairingBook({ cap: 0, headroom: 0, reservationTtlMs: 1 }), /cap/);
    assert.throws(() => new PairingBook({ cap: 2, headroom: 2, reservationTtlMs: 1 }), /headroom/);
  });
});

/**
 * A trystero-like client: announces three fresh offers a round, answers every offer it gets
 * while under its own cap (as Shoal's SDK refuses handshakes beyond `maxPeers`), and records
 * the answers it receives, which are the connections actually made.
 */
class SwarmClient {
  readonly ws: WebSocket;
  readonly peerId: string;
  /** Peers whose answer to our offer reached us: a WebRTC connection would be up. */
  readonly connectedTo = new Set<string>();
  #answersSent = 0;
  #offerSeq = 0;

  constructor(url: string, index: number, readonly infoHash: string, readonly cap: number) {
    this.peerId = id(`p${index}-`);
    this.ws = new WebSocket(url);
    this.ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as Record<string, unknown>;
      if (message.offer && this.connectedTo.size + this.#answersSent < this.cap) {
        this.#answersSent++;
        this.#send({ peer_id: this.peerId, to_peer_id: message.peer_id, offer_id: message.offer_id, answer: { type: 'answer', sdp: 'a' } });
      } else if (message.answer) {
        this.connectedTo.add(String(message.peer_id));
      }
    });
  }

  announce(): void {
    const ids = [1, 2, 3].map(() => `${this.peerId}-${this.#offerSeq++}`);
    this.#send({ peer_id: this.peerId, numwant: 3, offers: offersOf(...ids) });
  }

  /** Resolves once every message the tracker sent before this round trip has arrived. */
  async sync(): Promise<void> {
    const marker = `sync${this.#offerSeq++}`.padEnd(20, '.');
    const reply = new Promise<void>((resolve) => {
      const onMessage = (data: unknown) => {
        const message = JSON.parse(String(data)) as { files?: object };
        if (message.files && marker in message.files) {
          this.ws.off('message', onMessage);
          resolve();
        }
      };
      this.ws.on('message', onMessage);
    });
    this.ws.send(JSON.stringify({ action: 'scrape', info_hash: marker }));
    await reply;
  }

  #send(fields: Record<string, unknown>): void {
    this.ws.send(JSON.stringify({ action: 'announce', info_hash: this.infoHash, ...fields }));
  }
}

describe('tracker pairing with a connection cap', () => {
  it('connects a swarm of 200 viewers with a cap of 8 into one component, nobody above the cap', async (t) => {
    const cap = 8;
    const { tracker } = await setup(t, { maxPeersPerClient: cap, maxAnnouncesPerSec: 100 });
    const swarm = id('big-swarm');
    const clients = Array.from({ length: 200 }, (_, i) => new SwarmClient(tracker.url, i, swarm, cap));
    t.after(() => clients.forEach((c) => c.ws.terminate()));
    await Promise.all(clients.map((c) => once(c.ws, 'open')));

    // Viewers arrive one after another and announce a few rounds, as trystero does at start.
    for (const client of clients) client.announce();
    for (let round = 0; round < 4; round++) {
      await Promise.all(clients.map((c) => c.sync()));
      for (const client of clients) client.announce();
    }
    await Promise.all(clients.map((c) => c.sync()));
    // Answers sent in the last round reach their offerers one round trip later.
    await Promise.all(clients.map((c) => c.sync()));

    const neighbours = new Map(clients.map((c) => [c.peerId, new Set<string>()]));
    for (const client of clients) {
      for (const other of client.connectedTo) {
        neighbours.get(client.peerId)?.add(other);
        neighbours.get(other)?.add(client.peerId);
      }
    }
    const degrees = [...neighbours.values()].map((n) => n.size);
    assert.ok(Math.max(...degrees) <= cap, `most connections of one viewer: ${Math.max(...degrees)}`);
    assert.ok(Math.min(...degrees) >= 1, 'every viewer got a connection');

    const reached = new Set([clients[0]!.peerId]);
    const queue = [clients[0]!.peerId];
    while (queue.length > 0) {
      for (const next of neighbours.get(queue.pop()!) ?? []) {
        if (!reached.has(next)) {
          reached.add(next);
          queue.push(next);
        }
      }
    }
    const mean = degrees.reduce((a, b) => a + b, 0) / degrees.length;
    assert.equal(reached.size, clients.length, `one component; mean connections ${mean.toFixed(1)}`);
    assert.ok(mean >= 4, `viewers are well connected: mean ${mean.toFixed(1)}`);
  });
});

describe('tracker pairing when both peers offer at once', () => {
  it('relays an offer back to a peer whose own offer is still unanswered, and ends both reservations on the answer', () => {
    const book = new PairingBook<string>({ cap: 2, headroom: 0, reservationTtlMs: 100 });
    book.reserve('b', 'a', 's', 'ob', 0);
    assert.equal(book.offerRedundant('b', 'a', 's'), true, 'b already offered to a');
    assert.equal(book.offerRedundant('a', 'b', 's'), false, "a's offer must reach b: trystero's lower id ignores b's");
    book.reserve('a', 'b', 's', 'oa', 0);
    assert.ok(book.answer('b', 'a', 's', 'oa', 0));
    assert.deepEqual([book.slotsUsed('a'), book.slotsUsed('b')], [1, 1], 'one connection, one slot each');
    assert.equal(book.offerRedundant('a', 'b', 's'), false, 'partners may offer again: one may have left the room and come back');
    book.expire(1000);
    assert.deepEqual(book.partners('a'), ['b'], 'expiry never ends a partnership');
  });
});
