import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_CHUNK_BYTES, MAX_IDS_PER_MESSAGE, parseChunkMeta, parseControlMessage } from '../../sdk/swarm/wire.ts';

describe('wire protocol', () => {
  it('accepts each well-formed control message', () => {
    for (const message of [
      { t: 'have', ids: ['a', 'b'], reset: true },
      { t: 'lost', ids: ['a'] },
      { t: 'req', rid: 1, id: 'a' },
      { t: 'cancel', rid: 1 },
      { t: 'absent', rid: 0 },
      { t: 'absent', rid: 3, push: true },
      { t: 'offer', id: 'a', seq: 4, rid: 2 },
      { t: 'decline', rid: 2 },
      { t: 'flowing', id: 'a', seq: 4 },
    ]) {
      assert.deepEqual(parseControlMessage(message), { ok: true, value: message });
    }
  });

  it('rejects malformed control messages with a reason', () => {
    for (const bad of [
      null,
      'have',
      [1],
      { t: 'nope' },
      { t: 'have', ids: 'a', reset: true },
      { t: 'have', ids: ['a'] },
      { t: 'have', ids: [''], reset: false },
      { t: 'have', ids: Array(MAX_IDS_PER_MESSAGE + 1).fill('x'), reset: false },
      { t: 'lost', ids: [7] },
      { t: 'req', rid: -1, id: 'a' },
      { t: 'req', rid: 1.5, id: 'a' },
      { t: 'req', rid: 1, id: 'x'.repeat(5000) },
      { t: 'cancel' },
      { t: 'offer', id: 'a', seq: 4 },
      { t: 'decline', rid: 'x' },
      { t: 'flowing', id: 'a' },
      { t: 'absent', rid: 1, push: 'yes' },
    ]) {
      const parsed = parseControlMessage(bad);
      assert.equal(parsed.ok, false, JSON.stringify(bad)?.slice(0, 80));
    }
  });

  it('bounds chunks by their declared total and the chunk size', () => {
    assert.equal(parseChunkMeta({ rid: 1, offset: 0, total: 100 }, 100).ok, true);
    assert.deepEqual(parseChunkMeta({ rid: 1, offset: 0, total: 100, push: true }, 100), { ok: true, value: { rid: 1, offset: 0, total: 100, push: true } });
    assert.equal(parseChunkMeta({ rid: 1, offset: 0, total: 100, push: 1 }, 100).ok, false);
    assert.equal(parseChunkMeta({ rid: 1, offset: 50, total: 100 }, 60).ok, false);
    assert.equal(parseChunkMeta({ rid: 1, offset: 0, total: 10 * MAX_CHUNK_BYTES }, MAX_CHUNK_BYTES + 1).ok, false);
    assert.equal(parseChunkMeta({ rid: 1, offset: 0, total: 10 * MAX_CHUNK_BYTES }, MAX_CHUNK_BYTES).ok, true, 'chunks of earlier versions, 16 KiB, are accepted');
    assert.equal(parseChunkMeta({ rid: 1, offset: 0, total: 0 }, 0).ok, false);
    assert.equal(parseChunkMeta(undefined, 10).ok, false);
    assert.equal(parseChunkMeta({ rid: '1', offset: 0, total: 10 }, 10).ok, false);
  });
});
