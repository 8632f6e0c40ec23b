import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bufferAheadSec, PlayerBuffer, type TimeSpan } from '../../sdk/hls/buffer-ahead.ts';

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

  it("follows hls.js's flush events: measured short from the announcement until the media element caught up", () => {
    const { buffered, player, emit } = fakePlayer([{ start: 60, end: 96 }], 63);
    const buffer = new PlayerBuffer(player);
    assert.equal(buffer.aheadSec(), 33);
    emit('hlsBufferFlushing', { startOffset: 0, endOffset: 61 });
    emit('hlsBufferFlushing', { startOffset: 66.5, endOffset: Infinity });
    assert.equal(buffer.aheadSec(), 3.5, 'a level switch flushes forward: the 33 s are going away');
    buffered[0] = { start: 61, end: 66.5 };
    emit('hlsBufferFlushed');
    buffered[0] = { start: 61, end: 80 };
    assert.equal(buffer.aheadSec(), 17, 'the new level appended after the flush counts');
  });

  it('keeps a flush pending while the media element still holds what it removes', () => {
    const { buffered, player, emit } = fakePlayer([{ start: 0, end: 40 }], 10);
    const buffer = new PlayerBuffer(player);
    emit('hlsBufferFlushing', { startOffset: 20, endOffset: Infinity });
    emit('hlsBufferFlushed', { type: 'audio' });
    assert.equal(buffer.aheadSec(), 10, 'the video buffer was not flushed yet');
    buffered[0] = { start: 0, end: 20 };
    emit('hlsBufferFlushed', { type: 'video' });
    buffered[0] = { start: 0, end: 30 };
    assert.equal(buffer.aheadSec(), 20);
  });
});
