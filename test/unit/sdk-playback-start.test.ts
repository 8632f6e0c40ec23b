import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PlaybackStartGate } from '../../sdk/hls/playback-start.ts';

/** A media element as far as the gate sees one. */
class FakeMedia extends EventTarget {
  constructor(
    public paused: boolean,
    public readyState: number,
  ) {
    super();
  }
}

/** A gate whose `onOpen` calls are counted, and a promise of the first. */
function gate(maxWaitMs: number, signal = new AbortController().signal) {
  let opened = 0;
  let resolveOpened: () => void = () => {};
  const firstOpen = new Promise<void>((resolve) => (resolveOpened = resolve));
  const startGate = new PlaybackStartGate({
    maxWaitMs,
    signal,
    onOpen: () => {
      opened++;
      resolveOpened();
    },
  });
  return { startGate, firstOpen, opened: () => opened };
}

const HOUR_MS = 3_600_000;

describe('PlaybackStartGate', () => {
  it('is open without a media element, or with one that cannot report playing (the simulator)', () => {
    assert.equal(gate(HOUR_MS).startGate.isOpen(null), true);
    const { startGate, opened } = gate(HOUR_MS);
    assert.equal(startGate.isOpen({ paused: false, readyState: 0 }), true);
    assert.equal(startGate.isOpen(new FakeMedia(false, 0)), true, 'stays open');
    assert.equal(opened(), 0, 'nothing was held back');
  });

  it('holds work back while the media starts, and lets it run in a later task once it plays', async () => {
    const { startGate, firstOpen, opened } = gate(HOUR_MS);
    const media = new FakeMedia(false, 1);
    assert.equal(startGate.isOpen(media), false);
    assert.equal(startGate.isOpen(media), false, 'still shut on a second ask');
    media.readyState = 4;
    media.dispatchEvent(new Event('playing'));
    assert.equal(opened(), 0, 'not inside the playing event itself');
    assert.equal(startGate.isOpen(media), false, 'shut until the held-back work ran: a caller inside the event must not do it');
    await firstOpen;
    assert.equal(opened(), 1);
    assert.equal(startGate.isOpen(media), true);
    media.dispatchEvent(new Event('playing'));
    assert.equal(opened(), 1, 'opens once');
  });

  it('opens on a timeupdate while playing, for media that played before anyone asked', async () => {
    const { startGate, firstOpen, opened } = gate(HOUR_MS);
    const media = new FakeMedia(true, 4);
    assert.equal(startGate.isOpen(media), false);
    media.dispatchEvent(new Event('timeupdate'));
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(opened(), 0, 'a paused player seeking is not playing');
    media.paused = false;
    media.dispatchEvent(new Event('timeupdate'));
    await firstOpen;
    assert.equal(opened(), 1);
  });

  it('opens after maxWaitMs for a player that never plays (paused, autoplay blocked)', async () => {
    const { startGate, firstOpen, opened } = gate(20);
    const paused = new FakeMedia(true, 4);
    assert.equal(startGate.isOpen(paused), false, 'paused with data buffered is not playing');
    await firstOpen;
    assert.equal(opened(), 1);
    assert.equal(startGate.isOpen(paused), true);
  });

  it('runs nothing held back once its signal aborted', async () => {
    const lifetime = new AbortController();
    const { startGate, opened } = gate(HOUR_MS, lifetime.signal);
    const media = new FakeMedia(false, 1);
    assert.equal(startGate.isOpen(media), false);
    lifetime.abort();
    media.dispatchEvent(new Event('playing'));
    // A held-back call would have been queued by the dispatch, so it would run before this timer.
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(opened(), 0);
  });
});
