import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CHUNK_HEADER_BYTES, encodeChunk, MAX_CHUNK_BYTES, MAX_IDS_PER_MESSAGE, parseChunk, parseChunkMeta, parseControlMessage, parseDataMessage } from '../../sdk/swarm/wire.ts';

describe('wire protocol', () => {
  it('accepts each well-formed control message', () => {
    for (const message of [
      { t: 'have', ids: ['a', 'b'], reset: true },
      { t: 'have', ids: [], reset: true, binaryChunks: true },
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

  it('carries a chunk and its description in one message, and reads them back', () => {
    const bytes = new Uint8Array([1, 2, 3, 4, 5]);
    for (const meta of [{ rid: 7, offset: 95, total: 100, push: false }, { rid: 0xffff_ffff, offset: 0, total: 5, push: true }]) {
      const message = new Uint8Array(encodeChunk(meta, bytes));
      assert.equal(message.byteLength, CHUNK_HEADER_BYTES + bytes.byteLength);
      const parsed = parseChunk(message);
      assert.ok(parsed.ok, JSON.stringify(parsed));
      assert.deepEqual(parsed.value.meta, meta);
      assert.deepEqual([...parsed.value.bytes], [...bytes]);
    }
  });

  it('rejects a chunk whose header is short, of an unknown format, or out of bounds', () => {
    const good = new Uint8Array(encodeChunk({ rid: 1, offset: 0, total: 10, push: false }, new Uint8Array(10)));
    assert.equal(parseChunk(good.subarray(0, CHUNK_HEADER_BYTES - 1)).ok, false, 'short');
    const unknownFormat = good.slice();
    unknownFormat[0] = 0x20;
    assert.equal(parseChunk(unknownFormat).ok, false, 'unknown format');
    assert.equal(parseChunk(new Uint8Array(encodeChunk({ rid: 1, offset: 5, total: 10, push: false }, new Uint8Array(10)))).ok, false, 'past its total');
    assert.equal(parseChunk(new Uint8Array(encodeChunk({ rid: 1, offset: 0, total: 0, push: false }, new Uint8Array(0)))).ok, false, 'empty segment');
    assert.equal(parseChunk(new Uint8Array(encodeChunk({ rid: 1, offset: 0, total: 10 * MAX_CHUNK_BYTES, push: false }, new Uint8Array(MAX_CHUNK_BYTES + 1)))).ok, false, 'chunk too big');
  });

  it('reads a data message with its header inside, or with metadata from a peer of an earlier version', () => {
    const bytes = new Uint8Array([9, 8, 7]);
    const inside = parseDataMessage(new Uint8Array(encodeChunk({ rid: 3, offset: 0, total: 3, push: false }, bytes)), undefined);
    const withMetadata = parseDataMessage(bytes, { rid: 3, offset: 0, total: 3 });
    for (const parsed of [inside, withMetadata]) {
      assert.ok(parsed.ok);
      assert.deepEqual(parsed.value.meta, { rid: 3, offset: 0, total: 3, push: false });
      assert.deepEqual([...parsed.value.bytes], [9, 8, 7]);
    }
    assert.equal(parseDataMessage(bytes, { rid: 3, offset: 1, total: 3 }).ok, false);
  });
});
