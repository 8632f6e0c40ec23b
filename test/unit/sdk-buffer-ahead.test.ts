import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bufferAheadSec, FLUSH_PENDING_MAX_MS, PlayerBuffer, type TimeSpan } from '../../sdk/hls/buffer-ahead.ts';

/** A media element and hls.js event bus, reduced to what PlayerBuffer reads. */
function fakePlayer(buffered: TimeSpan[], currentTime: number) {
  const listeners = new Map<string, (event: string, data: unknown) => void>();
  const media = {
    currentTime,
    buffered: {
      get length() {
        return buffered.length;
      },
      start: (i: number) => buffered[i]!.start,
      end: (i: number) => buffered[i]!.end,
    },
  };
  return {
    buffered,
    player: { media: media as unknown as HTMLMediaElement, on: (event: string, listener: (event: string, data: unknown) => void) => listeners.set(event, listener) },
    emit: (event: string, data: unknown = {}) => listeners.get(event)!(event, data),
  };
}

describe('the buffer ahead of the playhead', () => {
  it('is the buffered range holding the playhead, from the playhead on', () => {
    assert.equal(bufferAheadSec([{ start: 0, end: 10 }, { start: 20, end: 30 }], 4, []), 6);
    assert.equal(bufferAheadSec([{ start: 0, end: 10 }, { start: 20, end: 30 }], 15, []), 0, 'in a gap');
    assert.equal(bufferAheadSec([{ start: 60.1, end: 64 }], 60, []), 4, 'a seek lands just before the first buffered frame');
    assert.equal(bufferAheadSec([], 0, []), 0);
  });

  it('ends where an announced flush will cut it, and ignores flushes behind the playhead', () => {
    const buffered = [{ start: 60, end: 96 }];
    assert.equal(bufferAheadSec(buffered, 63, [{ start: 66.5, end: Infinity }]), 3.5);
    assert.equal(bufferAheadSec(buffered, 63, [{ start: 0, end: 61 }]), 33);
    assert.equal(bufferAheadSec(buffered, 63, [{ start: 50, end: Infinity }]), 0, 'the playhead itself flushed');
    assert.equal(bufferAheadSec(buffered, 63, [{ start: 100, end: Infinity }]), 33, 'past the buffered end');
  });

  it("follows hls.js's flush events: measured short from the announcement until hls.js reports the flush done", () => {
    const { buffered, player, emit } = fakePlayer([{ start: 60, end: 96 }], 63);
    const buffer = new PlayerBuffer(player, () => 0);
    assert.equal(buffer.aheadSec(), 33);
    // What hls.js 1.x emits on a level switch: the forward flush, then the back buffer's.
    emit('hlsBufferFlushing', { startOffset: 66.548, endOffset: Infinity });
    emit('hlsBufferFlushing', { startOffset: 0, endOffset: 61 });
    assert.equal(buffer.aheadSec().toFixed(3), '3.548', 'the 33 s are going away');
    // The removal stops at a frame boundary, a little past where the flush began.
    buffered[0] = { start: 60, end: 66.56 };
    emit('hlsBufferFlushed', { type: 'video' });
    for (const type of ['audio', 'video', 'audio']) emit('hlsBufferFlushed', { type });
    buffered[0] = { start: 61, end: 80 };
    assert.equal(buffer.aheadSec(), 17, "the new level's fragments count as they arrive");
  });

  it('forgets a flush hls.js never reports done, after a while', () => {
    let now = 0;
    const { player, emit } = fakePlayer([{ start: 0, end: 40 }], 10);
    const buffer = new PlayerBuffer(player, () => now);
    emit('hlsBufferFlushing', { startOffset: 20, endOffset: Infinity });
    assert.equal(buffer.aheadSec(), 10);
    now = FLUSH_PENDING_MAX_MS;
    assert.equal(buffer.aheadSec(), 30);
  });
});
