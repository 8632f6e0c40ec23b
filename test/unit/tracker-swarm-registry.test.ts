import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SwarmRegistry } from '../../tracker/swarm-registry.ts';
import { seededRandom as seeded } from '../support/seeded-random.ts';

/** Sockets are opaque to the registry: plain labelled objects stand in for them. */
interface FakeSocket {
  name: string;
}
const socket = (name: string): FakeSocket => ({ name });

function ids(peers: { peerId: string }[]): string[] {
  return peers.map((p) => p.peerId).sort();
}

describe('SwarmRegistry', () => {
  it('registers peers per swarm and counts them', () => {
    const registry = new SwarmRegistry<FakeSocket>();
    const a = socket('a');
    const b = socket('b');
    registry.join('X', 'A', a, { now: 0 });
    registry.join('X', 'B', b, { now: 0, left: 0 });
    registry.join('Y', 'A', a, { now: 0 });
    assert.equal(registry.swarmCount, 2);
    assert.equal(registry.peerCount, 3);
    assert.deepEqual([...registry.infoHashes()].sort(), ['X', 'Y']);
    assert.deepEqual(registry.counts('X'), { complete: 1, incomplete: 1, downloaded: 0 });
    assert.deepEqual(registry.counts('Y'), { complete: 0, incomplete: 1, downloaded: 0 });
    assert.deepEqual(registry.counts('Z'), { complete: 0, incomplete: 0, downloaded: 0 });
    assert.equal(registry.getPeer('X', 'B')?.socket, b);
  });

  it('refreshes a peer that announces again instead of adding it twice', () => {
    const registry = new SwarmRegistry<FakeSocket>();
    const a = socket('a');
    registry.join('X', 'A', a, { now: 0, left: 10 });
    registry.join('X', 'A', a, { now: 5, left: 0 });
    registry.join('X', 'A', a, { now: 6 });
    assert.equal(registry.peerCount, 1);
    assert.equal(registry.getPeer('X', 'A')?.lastSeen, 6);
    assert.deepEqual(registry.counts('X'), { complete: 1, incomplete: 0, downloaded: 0 });
    registry.join('X', 'A', a, { now: 7, left: 3 });
    assert.deepEqual(registry.counts('X'), { complete: 0, incomplete: 1, downloaded: 0 });
  });

  it('counts a completed event as complete and downloaded, once', () => {
    const registry = new SwarmRegistry<FakeSocket>();
    const a = socket('a');
    registry.join('X', 'A', a, { now: 0, left: 10 });
    registry.join('X', 'A', a, { now: 1, completed: true });
    registry.join('X', 'A', a, { now: 2, completed: true });
    assert.deepEqual(registry.counts('X'), { complete: 1, incomplete: 0, downloaded: 1 });
  });

  it('lets a peer leave only from its own socket, and forgets empty swarms', () => {
    const registry = new SwarmRegistry<FakeSocket>();
    const a = socket('a');
    registry.join('X', 'A', a, { now: 0, left: 0 });
    assert.equal(registry.leave('X', 'A', socket('intruder')), false);
    assert.equal(registry.leave('X', 'A', a), true);
    assert.equal(registry.leave('X', 'A', a), false);
    assert.equal(registry.swarmCount, 0);
    assert.equal(registry.peerCount, 0);
    assert.deepEqual(registry.counts('X'), { complete: 0, incomplete: 0, downloaded: 0 });
  });

  it('drops a socket from every swarm it joined, and only that socket', () => {
    const registry = new SwarmRegistry<FakeSocket>();
    const a = socket('a');
    const b = socket('b');
    registry.join('X', 'A', a, { now: 0 });
    registry.join('Y', 'A2', a, { now: 0 });
    registry.join('X', 'B', b, { now: 0 });
    assert.equal(registry.dropSocket(a), 2);
    assert.equal(registry.dropSocket(a), 0);
    assert.equal(registry.getPeer('X', 'A'), undefined);
    assert.equal(registry.getPeer('Y', 'A2'), undefined);
    assert.equal(registry.getPeer('X', 'B')?.socket, b);
    assert.equal(registry.swarmCount, 1);
    assert.equal(registry.peerCount, 1);
  });

  it('hands a peer_id announced from a new socket over to that socket', () => {
    const registry = new SwarmRegistry<FakeSocket>();
    const before = socket('before reconnect');
    const after = socket('after reconnect');
    registry.join('X', 'A', before, { now: 0 });
    registry.join('X', 'A', after, { now: 1 });
    assert.equal(registry.peerCount, 1);
    assert.equal(registry.dropSocket(before), 0, 'the old socket no longer owns the peer');
    assert.equal(registry.getPeer('X', 'A')?.socket, after);
  });

  it('keeps one peer_id per socket and swarm', () => {
    const registry = new SwarmRegistry<FakeSocket>();
    const a = socket('a');
    registry.join('X', 'A', a, { now: 0 });
    registry.join('X', 'A-renamed', a, { now: 1 });
    assert.equal(registry.peerCount, 1);
    assert.equal(registry.getPeer('X', 'A'), undefined);
    assert.equal(registry.getPeer('X', 'A-renamed')?.socket, a);
  });

  it('expires peers that have not announced since a given time', () => {
    const registry = new SwarmRegistry<FakeSocket>();
    const a = socket('a');
    const b = socket('b');
    registry.join('X', 'A', a, { now: 100 });
    registry.join('X', 'B', b, { now: 50, left: 0 });
    registry.join('Y', 'B', b, { now: 10 });
    assert.equal(registry.expire(60).length, 2);
    assert.deepEqual([...registry.infoHashes()], ['X']);
    assert.deepEqual(registry.counts('X'), { complete: 0, incomplete: 1, downloaded: 0 });
    assert.equal(registry.dropSocket(b), 0, 'expired memberships are no longer indexed');
  });

  describe('pickPeers', () => {
    const swarmOf = (n: number): SwarmRegistry<FakeSocket> => {
      const registry = new SwarmRegistry<FakeSocket>();
      for (let i = 0; i < n; i++) registry.join('X', `P${i}`, socket(`s${i}`), { now: 0 });
      return registry;
    };

    it('never picks the asking peer, and returns everyone else when asked for more', () => {
      const registry = swarmOf(5);
      for (let seed = 1; seed <= 50; seed++) {
        assert.deepEqual(ids(registry.pickPeers('X', 'P2', 10, seeded(seed))), ['P0', 'P1', 'P3', 'P4']);
      }
    });

    it('picks the requested number of distinct peers, excluding the asker', () => {
      const registry = swarmOf(20);
      for (let seed = 1; seed <= 200; seed++) {
        const picked = ids(registry.pickPeers('X', 'P7', 5, seeded(seed)));
        assert.equal(picked.length, 5);
        assert.equal(new Set(picked).size, 5);
        assert.ok(!picked.includes('P7'));
      }
    });

    it('spreads picks over the whole swarm', () => {
      const registry = swarmOf(10);
      const random = seeded(42);
      const hits = new Map<string, number>();
      for (let round = 0; round < 3000; round++) {
        for (const id of ids(registry.pickPeers('X', 'P0', 3, random))) hits.set(id, (hits.get(id) ?? 0) + 1);
      }
      assert.equal(hits.has('P0'), false);
      assert.equal(hits.size, 9);
      // 3000 rounds x 3 picks over 9 peers: 1000 each on average.
      for (const [id, count] of hits) assert.ok(count > 850 && count < 1150, `${id} picked ${count} times`);
    });

    it('works for an asker outside the swarm, an unknown swarm and a zero count', () => {
      const registry = swarmOf(3);
      assert.deepEqual(ids(registry.pickPeers('X', 'stranger', 5)), ['P0', 'P1', 'P2']);
      assert.deepEqual(registry.pickPeers('nope', 'P0', 5), []);
      assert.deepEqual(registry.pickPeers('X', 'P0', 0), []);
      assert.deepEqual(swarmOf(1).pickPeers('X', 'P0', 5), []);
    });

    it('stays correct after peers leave from the middle of the swarm', () => {
      const registry = swarmOf(6);
      registry.dropSocket(registry.getPeer('X', 'P1')!.socket);
      registry.leave('X', 'P4', registry.getPeer('X', 'P4')!.socket);
      for (let seed = 1; seed <= 50; seed++) {
        assert.deepEqual(ids(registry.pickPeers('X', 'P5', 10, seeded(seed))), ['P0', 'P2', 'P3']);
        assert.equal(registry.pickPeers('X', 'P5', 2, seeded(seed)).length, 2);
      }
    });
  });
});
