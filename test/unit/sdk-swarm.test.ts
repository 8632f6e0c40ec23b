import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemorySegmentCache } from '../../sdk/store/memory-cache.ts';
import { PartialSegment } from '../../sdk/store/partial-segment.ts';
import { PeerRequestError, Swarm, type SwarmListener } from '../../sdk/swarm/swarm.ts';
import { UploadSlots } from '../../sdk/swarm/upload-slots.ts';
import { CHUNK_BYTES } from '../../sdk/swarm/wire.ts';
import { FakeRoomBus } from '../support/fake-room.ts';

function segment(bytes: number, seed: number): ArrayBuffer {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (i * 31 + seed) & 0xff;
  return data.buffer;
}

function viewer(bus: FakeRoomBus, peerId: string, options: { upload?: boolean; maxUploads?: number; helloTimeoutMs?: number } = {}) {
  const cache = new MemorySegmentCache(100_000_000);
  const arriving = new Map<string, PartialSegment>();
  const events: string[] = [];
  let uploaded = 0;
  const listener: SwarmListener = {
    peerConnected: (id) => events.push(`join ${id}`),
    peerDisconnected: (id) => events.push(`leave ${id}`),
    uploaded: (_id, bytes) => (uploaded += bytes),
    uploadedWhole: (bytes) => events.push(`uploaded whole ${bytes}`),
    misbehaved: (id, reason) => events.push(`misbehaved ${id} ${reason}`),
    offered: (id, segmentId, seq) => events.push(`offered ${id} ${segmentId} ${seq}`),
    unresponsive: (id) => events.push(`unresponsive ${id}`),
  };
  const source = (id: string) => cache.get(id) ?? arriving.get(id);
  const uploadSlots = new UploadSlots(() => options.maxUploads ?? 4, () => 0);
  const swarm = new Swarm('swarm', bus.join(peerId), {
    uploadSlots,
    source,
    upload: () => options.upload ?? true,
    listener,
    now: () => performance.now(),
    ...(options.helloTimeoutMs === undefined ? {} : { helloTimeoutMs: options.helloTimeoutMs }),
  });
  const hold = (id: string, data: ArrayBuffer) => {
    cache.put(id, data);
    swarm.announce(id, 1);
  };
  /** Starts receiving `id` (as from HTTP): announced as loading, readable as it arrives. */
  const receive = (id: string) => {
    const partial = new PartialSegment();
    arriving.set(id, partial);
    swarm.announceLoading(id, 2);
    return partial;
  };
  return { swarm, cache, events, hold, receive, uploaded: () => uploaded };
}

const options = () => ({ timeoutMs: 5000, firstByteTimeoutMs: 5000, sink: new PartialSegment() });

/** Waits until `condition` holds, polling the event loop (the fake bus delivers on timers). */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 1));
  assert.ok(condition(), 'condition never held');
}


describe('swarm over a fake room', () => {
  it('learns who holds what, streams a multi-chunk segment intact and counts the upload', async () => {
    const bus = new FakeRoomBus();
    const a = viewer(bus, 'A');
    const b = viewer(bus, 'B');
    const data = segment(3 * CHUNK_BYTES + 123, 7);
    a.hold('seg-1', data);
    bus.connectAll();
    await until(() => b.swarm.holdersOf('seg-1').length === 1);
    const delivery = await b.swarm.request('A', 'seg-1', options());
    assert.deepEqual(new Uint8Array(delivery.data), new Uint8Array(data));
    assert.ok(delivery.firstByteAt >= delivery.startedAt && delivery.endedAt >= delivery.firstByteAt);
    await until(() => a.uploaded() === data.byteLength);
    assert.ok(b.swarm.holdersOf('seg-1')[0]!.throughputBytesPerSec! > 0, 'throughput measured');
  });

  it('answers absent for a segment it does not hold, or when upload is off', async () => {
    const bus = new FakeRoomBus();
    const a = viewer(bus, 'A', { upload: false });
    const b = viewer(bus, 'B');
    a.hold('seg-1', segment(100, 1));
    bus.connectAll();
    await assert.rejects(b.swarm.request('A', 'seg-2', options()), (e: unknown) => e instanceof PeerRequestError && e.failure === 'absent');
    await assert.rejects(b.swarm.request('A', 'seg-1', options()), (e: unknown) => e instanceof PeerRequestError && e.failure === 'absent');
    assert.equal(a.uploaded(), 0);
  });

  it('withdraws evicted segments from peers', async () => {
    const bus = new FakeRoomBus();
    const a = viewer(bus, 'A');
    const b = viewer(bus, 'B');
    bus.connectAll();
    a.hold('seg-1', segment(10, 1));
    await until(() => b.swarm.holdersOf('seg-1').length === 1);
    a.swarm.withdraw(['seg-1']);
    await until(() => b.swarm.holdersOf('seg-1').length === 0);
  });

  it('fails a request whose peer sends nothing in time, and cancels it at the peer', async () => {
    const bus = new FakeRoomBus();
    const a = viewer(bus, 'A');
    const b = viewer(bus, 'B');
    const total = CHUNK_BYTES * 200;
    a.hold('seg-1', segment(total, 1));
    a.hold('seg-2', segment(CHUNK_BYTES * 3, 2));
    bus.connectAll();
    let chunksOfFirst = 0;
    let chunksAtCancel = -1;
    bus.tamper = (from, action, data, metadata) => {
      if (from === 'B' && action === 'shoal-ctl' && (data as { t: string }).t === 'cancel') chunksAtCancel = chunksOfFirst;
      if (from !== 'A' || action !== 'shoal-dat' || (metadata as { rid: number }).rid !== 1) return { data, metadata };
      chunksOfFirst++;
      return undefined;
    };
    await assert.rejects(b.swarm.request('A', 'seg-1', { timeoutMs: 2000, firstByteTimeoutMs: 30, sink: new PartialSegment() }), (e: unknown) => e instanceof PeerRequestError && e.failure === 'first-byte-timeout');
    // A later request completing means A has long processed the cancel.
    await b.swarm.request('A', 'seg-2', options());
    assert.ok(chunksAtCancel >= 0, 'a cancel was sent');
    assert.ok(chunksOfFirst <= chunksAtCancel + 2 && chunksOfFirst < 200, `upload stopped after the cancel (${chunksOfFirst} of 200 chunks sent, ${chunksAtCancel} at cancel)`);
  });

  it('drops a peer that sends chunks out of order, failing the request as corrupt', async () => {
    const bus = new FakeRoomBus();
    const a = viewer(bus, 'A');
    const b = viewer(bus, 'B');
    a.hold('seg-1', segment(CHUNK_BYTES * 3, 1));
    bus.connectAll();
    bus.tamper = (from, action, data, metadata) => {
      if (from !== 'A' || action !== 'shoal-dat') return { data, metadata };
      const meta = metadata as { rid: number; offset: number; total: number };
      return { data, metadata: { ...meta, offset: meta.offset === CHUNK_BYTES ? 0 : meta.offset } };
    };
    await assert.rejects(b.swarm.request('A', 'seg-1', options()), (e: unknown) => e instanceof PeerRequestError && e.failure === 'corrupt');
    assert.ok(b.events.some((e) => e.startsWith('misbehaved A')));
    assert.equal(b.swarm.peerCount, 0);
  });

  it('drops a peer sending malformed control messages', async () => {
    const bus = new FakeRoomBus();
    viewer(bus, 'A');
    const b = viewer(bus, 'B');
    bus.connectAll();
    const evil = bus.join('EVIL');
    bus.connectAll();
    await evil.makeAction('shoal-ctl').send({ t: 'have', ids: 42 } as never, { target: 'B' });
    await until(() => b.events.some((e) => e.startsWith('misbehaved EVIL')));
  });

  it('fails requests in flight when the peer leaves', async () => {
    const bus = new FakeRoomBus();
    const a = viewer(bus, 'A');
    const b = viewer(bus, 'B');
    a.hold('seg-1', segment(CHUNK_BYTES * 50, 1));
    bus.connectAll();
    const pending = b.swarm.request('A', 'seg-1', options());
    await a.swarm.close();
    await assert.rejects(pending, (e: unknown) => e instanceof PeerRequestError && e.failure === 'disconnected');
    assert.ok(b.events.includes('leave A'));
  });

  it('relays a segment while it is still arriving, chunk by chunk, and the sink sees every byte', async () => {
    const bus = new FakeRoomBus();
    const a = viewer(bus, 'A');
    const b = viewer(bus, 'B');
    bus.connectAll();
    const data = new Uint8Array(segment(CHUNK_BYTES * 2 + 500, 3));
    const arriving = a.receive('seg-live');
    await until(() => b.swarm.holdersOf('seg-live').length === 1);
    assert.equal(b.swarm.holdersOf('seg-live')[0]!.whole, false, 'announced as loading, not whole');
    const sink = new PartialSegment();
    const fetched = b.swarm.request('A', 'seg-live', { timeoutMs: 5000, firstByteTimeoutMs: 5000, sink });
    arriving.start(data.byteLength);
    arriving.append(data.subarray(0, 1000));
    await until(() => sink.received === 1000);
    arriving.append(data.subarray(1000));
    arriving.complete();
    const delivery = await fetched;
    assert.deepEqual(new Uint8Array(delivery.data), data);
    assert.equal(sink.state, 'loading', 'settled by the caller, once the bytes are verified');
    assert.deepEqual(new Uint8Array(sink.assembled()!), data);
  });

  it('fails a relay whose source fails, with absent', async () => {
    const bus = new FakeRoomBus();
    const a = viewer(bus, 'A');
    const b = viewer(bus, 'B');
    bus.connectAll();
    const arriving = a.receive('seg-live');
    await until(() => b.swarm.holdersOf('seg-live').length === 1);
    const fetched = b.swarm.request('A', 'seg-live', options());
    arriving.start(CHUNK_BYTES * 3);
    arriving.append(new Uint8Array(100));
    arriving.fail();
    await assert.rejects(fetched, (e: unknown) => e instanceof PeerRequestError && e.failure === 'absent');
    assert.equal(b.swarm.holdersOf('seg-live').length, 0);
  });

  it('wakes a waiter when a peer announces the segment, and times out otherwise', async () => {
    const bus = new FakeRoomBus();
    const a = viewer(bus, 'A');
    const b = viewer(bus, 'B');
    bus.connectAll();
    const signal = new AbortController().signal;
    const found = b.swarm.waitForHolder('seg-9', 5000, signal);
    a.receive('seg-9');
    assert.equal(await found, true);
    assert.equal(await b.swarm.waitForHolder('seg-10', 20, signal), false);
  });

  it('offers a segment to one peer lacking it at a time, never twice to the same peer', async () => {
    const bus = new FakeRoomBus();
    const a = viewer(bus, 'A');
    const b = viewer(bus, 'B');
    const c = viewer(bus, 'C');
    bus.connectAll();
    a.receive('seg-5');
    await until(() => b.swarm.holdersOf('seg-5').length === 1 && c.swarm.holdersOf('seg-5').length === 1);
    c.receive('seg-5');
    await until(() => a.swarm.holdersOf('seg-5').length === 1);
    assert.equal(a.swarm.offer('seg-5', 5), true, 'B lacks it');
    assert.equal(a.swarm.offer('seg-5', 5), false, 'C announced it, B was offered it already');
    await until(() => b.events.includes('offered A seg-5 5'));
    assert.ok(!c.events.some((e) => e.startsWith('offered')));
  });

  it('counts the offers each peer made of a segment, and an offer wakes a waiter that had that peer excluded until it offered', async () => {
    const bus = new FakeRoomBus();
    const a = viewer(bus, 'A');
    const b = viewer(bus, 'B');
    bus.connectAll();
    a.receive('seg-7');
    await until(() => b.swarm.holdersOf('seg-7').length === 1);
    const busyUntilOffered = { has: (id: string) => id === 'A' && b.swarm.offersFrom('seg-7', 'A') === 0 };
    const found = b.swarm.waitForHolder('seg-7', 5000, new AbortController().signal, busyUntilOffered);
    assert.equal(a.swarm.offer('seg-7', 7), true);
    assert.equal(await found, true);
    assert.equal(b.swarm.offersFrom('seg-7', 'A'), 1);
    assert.equal(b.swarm.offersFrom('seg-8', 'A'), 0);
  });

  it('drops a peer that says nothing after connecting, closing the connection, as when its handshake failed', async () => {
    const bus = new FakeRoomBus();
    const a = viewer(bus, 'A', { helloTimeoutMs: 50 });
    viewer(bus, 'B', { helloTimeoutMs: 50 });
    bus.introduce('A', 'B');
    await until(() => a.events.includes('unresponsive B'));
    assert.deepEqual(a.events, ['join B', 'leave B', 'unresponsive B']);
    assert.deepEqual(bus.closedConnections, ['A-B'], 'the connection is closed, so that B learns it is over too');
    assert.equal(a.swarm.peerCount, 0);
  });

  it('keeps a peer that greeted it, however quiet it is afterwards', async () => {
    const bus = new FakeRoomBus();
    const a = viewer(bus, 'A', { helloTimeoutMs: 20 });
    const b = viewer(bus, 'B', { helloTimeoutMs: 20 });
    bus.connectAll();
    // Nothing to await: the timeout must pass without effect; five of them do.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual([a.events, b.events], [['join B'], ['join A']]);
    assert.deepEqual(bus.closedConnections, []);
  });
});
