import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveConfig } from '../../sdk/config.ts';
import { onMeteredConnection } from '../../sdk/swarm/metered.ts';
import { UploadRateLimiter } from '../../sdk/swarm/upload-rate.ts';
import { MemorySegmentCache } from '../../sdk/store/memory-cache.ts';
import { PartialSegment } from '../../sdk/store/partial-segment.ts';
import { Swarm, type SwarmListener } from '../../sdk/swarm/swarm.ts';
import { UploadSlots } from '../../sdk/swarm/upload-slots.ts';
import { FakeRoomBus } from '../support/fake-room.ts';

const listener: SwarmListener = {
  peerConnected() {},
  peerDisconnected() {},
  uploaded() {},
  uploadedWhole() {},
  misbehaved() {},
  offered: () => false,
  unresponsive() {},
};

function swarmOf(bus: FakeRoomBus, peerId: string, upload: boolean) {
  const cache = new MemorySegmentCache(1_000_000);
  const swarm = new Swarm('swarm', bus.join(peerId), {
    uploadSlots: new UploadSlots(() => 4, () => 0),
    source: (id) => cache.get(id),
    upload: () => upload,
    listener,
    now: () => performance.now(),
  });
  return { swarm, cache };
}

describe('upload policy', () => {
  it('caps the upload rate: a burst goes at once, then each chunk waits for its share of time', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let now = 0;
    const limiter = new UploadRateLimiter(64_000, 16_000, () => now);
    const signal = new AbortController().signal;
    await limiter.take(16_000, signal); // the burst: a quarter second's worth
    let sent = false;
    const second = limiter.take(16_000, signal).then(() => (sent = true));
    t.mock.timers.tick(249);
    await Promise.resolve();
    assert.equal(sent, false, '16 kB more at 64 kB/s needs 250 ms');
    now = 250;
    t.mock.timers.tick(1);
    await second;
    assert.equal(sent, true);
  });

  it('lets an aborted upload stop waiting at once', async () => {
    const limiter = new UploadRateLimiter(1, 1, () => 0);
    const abort = new AbortController();
    await limiter.take(1, abort.signal);
    const waiting = limiter.take(1000, abort.signal);
    abort.abort();
    await waiting;
  });

  it('sees metered connections: Save-Data, cellular, metered', (t) => {
    const setConnection = (connection: object | undefined) =>
      Object.defineProperty(globalThis, 'navigator', { value: connection ? { connection } : {}, configurable: true, writable: true });
    const original = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
    t.after(() => (original ? Object.defineProperty(globalThis, 'navigator', original) : delete (globalThis as { navigator?: unknown }).navigator));
    setConnection({ saveData: true, type: 'wifi' });
    assert.equal(onMeteredConnection(), true);
    setConnection({ type: 'cellular' });
    assert.equal(onMeteredConnection(), true);
    setConnection({ metered: true });
    assert.equal(onMeteredConnection(), true);
    setConnection({ type: 'wifi', saveData: false });
    assert.equal(onMeteredConnection(), false);
    setConnection(undefined);
    assert.equal(onMeteredConnection(), false, 'browsers without navigator.connection upload');
  });

  it('keeps a download-only viewer silent to peers while it still downloads from them', async () => {
    const bus = new FakeRoomBus();
    const uploader = swarmOf(bus, 'U', true);
    const downloadOnly = swarmOf(bus, 'D', false);
    bus.connectAll();
    const data = new Uint8Array([1, 2, 3]).buffer;
    uploader.cache.put('seg', data);
    uploader.swarm.announce('seg', 1);
    downloadOnly.cache.put('other', data);
    downloadOnly.swarm.announce('other', 1);
    assert.equal(downloadOnly.swarm.offer('other', 1), false, 'no offers either');
    for (let i = 0; i < 100 && downloadOnly.swarm.holdersOf('seg').length === 0; i++) await new Promise((r) => setTimeout(r, 1));
    const delivery = await downloadOnly.swarm.request('U', 'seg', { timeoutMs: 2000, firstByteTimeoutMs: 2000, sink: new PartialSegment() });
    assert.deepEqual(new Uint8Array(delivery.data), new Uint8Array([1, 2, 3]));
    assert.deepEqual(uploader.swarm.holdersOf('other'), [], 'the download-only viewer announced nothing');
  });

  it('validates the upload options by name', () => {
    assert.throws(() => resolveConfig({ uploadBytesPerSec: -1 }), /uploadBytesPerSec must be a number >= 0/);
    assert.throws(() => resolveConfig({ uploadOnMeteredConnection: 'yes' }), /uploadOnMeteredConnection must be true or false/);
    assert.deepEqual([resolveConfig({}).uploadBytesPerSec, resolveConfig({}).uploadOnMeteredConnection], [0, false]);
  });
});
