import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemorySegmentCache } from '../../sdk/store/memory-cache.ts';
import { PartialSegment } from '../../sdk/store/partial-segment.ts';
import { PeerRequestError, Swarm, type SwarmListener } from '../../sdk/swarm/swarm.ts';
import { UploadSlots } from '../../sdk/swarm/upload-slots.ts';
import { CHUNK_BYTES, encodeChunk, parseDataMessage, type ChunkMeta } from '../../sdk/swarm/wire.ts';
import { FakeRoomBus } from '../support/fake-room.ts';

function segment(bytes: number, seed: number): ArrayBuffer {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (i * 31 + seed) & 0xff;
  return data.buffer;
}

function viewer(bus: FakeRoomBus, peerId: string, options: { upload?: boolean; maxUploads?: number; helloTimeoutMs?: number; takeOffers?: boolean; live?: boolean; queue?: number } = {}) {
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
    offered: (id, segmentId, seq, rid) => {
      events.push(`offered ${id} ${segmentId} ${seq}`);
      if (!options.takeOffers) return false;
      swarm.receiveOffer(id, rid, segmentId, { timeoutMs: 5000, firstByteTimeoutMs: 5000, sink: new PartialSegment() }).then(
        (delivery) => events.push(`received ${segmentId} ${delivery.data.byteLength}`),
        (error) => events.push(`offer failed ${segmentId} ${error.failure}`),
      );
      return true;
    },
    unresponsive: (id) => events.push(`unresponsive ${id}`),
  };
  const source = (id: string) => cache.get(id) ?? arriving.get(id);
  const uploadSlots = new UploadSlots(() => options.maxUploads ?? 4, () => options.queue ?? 0);
  const swarm = new Swarm('swarm', bus.join(peerId), {
    uploadSlots,
    source,
    upload: () => options.upload ?? true,
    live: () => options.live ?? true,
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
  return { swarm, cache, events, hold, receive, uploadSlots, uploaded: () => uploaded };
}

const options = () => ({ timeoutMs: 5000, firstByteTimeoutMs: 5000, sink: new PartialSegment() });

/** A data message as its receiver reads it: the chunk's description and bytes. */
function readChunk(data: unknown, metadata: unknown): { meta: ChunkMeta; bytes: Uint8Array } {
  const parsed = parseDataMessage(new Uint8Array(data as ArrayBuffer), metadata);
  assert.ok(parsed.ok, 'a well-formed data message');
  return parsed.value;
}

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

  it('sends each chunk as one message with its header inside; to a peer of an earlier version, with metadata', async () => {
    for (const earlierVersion of [false, true]) {
      const bus = new FakeRoomBus();
      const a = viewer(bus, 'A');
      const b = viewer(bus, 'B');
      const data = segment(3 * CHUNK_BYTES + 123, 7);
      a.hold('seg-1', data);
      const sent: Array<{ bytes: number; metadata: unknown }> = [];
      bus.tamper = (from, action, message, metadata) => {
        // A peer of an earlier version does not ask for binary chunks.
        if (earlierVersion && from === 'B' && action === 'shoal-ctl') {
          const { binaryChunks: _dropped, ...rest } = message as { binaryChunks?: true };
          return { data: rest, metadata };
        }
        if (from === 'A' && action === 'shoal-dat') sent.push({ bytes: (message as ArrayBuffer).byteLength, metadata });
        return { data: message, metadata };
      };
      bus.connectAll();
      await until(() => b.swarm.holdersOf('seg-1').length === 1);
      const delivery = await b.swarm.request('A', 'seg-1', options());
      assert.deepEqual(new Uint8Array(delivery.data), new Uint8Array(data), earlierVersion ? 'earlier version' : 'this version');
      assert.equal(sent.length, 4, 'one message per chunk');
      if (earlierVersion) {
        assert.deepEqual(sent.map((m) => m.metadata), [0, 1, 2, 3].map((i) => ({ rid: 1, offset: i * CHUNK_BYTES, total: data.byteLength })));
      } else {
        assert.ok(sent.every((m) => m.metadata === undefined), 'no metadata');
        assert.equal(sent.reduce((sum, m) => sum + m.bytes, 0), data.byteLength + 4 * 13, 'each with its 13-byte header');
      }
    }
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
      if (from !== 'A' || action !== 'shoal-dat' || readChunk(data, metadata).meta.rid !== 1) return { data, metadata };
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
      const { meta, bytes } = readChunk(data, metadata);
      return { data: encodeChunk({ ...meta, offset: meta.offset === CHUNK_BYTES ? 0 : meta.offset }, bytes), metadata };
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

  /** B takes A's one upload slot with a big segment; C then asks A too, with one request allowed to queue. */
  async function askWhileTheOnlySlotIsTaken(live: boolean) {
    const bus = new FakeRoomBus();
    const a = viewer(bus, 'A', { maxUploads: 1, queue: 1, live });
    const b = viewer(bus, 'B', { live });
    const c = viewer(bus, 'C', { live });
    bus.connectAll();
    const total = 8_000_000;
    a.hold('seg-6', new Uint8Array(total).buffer);
    await until(() => c.swarm.holdersOf('seg-6').length === 1 && b.swarm.holdersOf('seg-6').length === 1);
    const first = b.swarm.request('A', 'seg-6', { timeoutMs: 60_000, firstByteTimeoutMs: 60_000, sink: new PartialSegment() });
    await until(() => a.uploadSlots.free === 0);
    const askedAt = performance.now();
    const failure = await c.swarm.request('A', 'seg-6', options()).then(
      () => 'served',
      (error: PeerRequestError) => error.failure,
    );
    const waitedMs = performance.now() - askedAt;
    const uploadedMeanwhile = a.uploaded();
    await first;
    return { failure, waitedMs, uploadedMeanwhile, total };
  }

  it('tells a request queued for an upload slot busy once it waited 300 ms, so the asker can look elsewhere', async () => {
    const { failure, waitedMs, uploadedMeanwhile, total } = await askWhileTheOnlySlotIsTaken(true);
    assert.equal(failure, 'busy');
    assert.ok(waitedMs >= 290, 'it waited in the queue first');
    assert.ok(uploadedMeanwhile < total, 'while the first upload still ran');
  });

  it('tells a request of a VOD swarm busy at once, without queueing it', async () => {
    const { failure, waitedMs } = await askWhileTheOnlySlotIsTaken(false);
    assert.equal(failure, 'busy');
    assert.ok(waitedMs < 250, 'not after the live queue wait');
  });

  it('sends an offered segment at once: the peer that takes it gets the bytes without asking', async () => {
    const bus = new FakeRoomBus();
    const a = viewer(bus, 'A', { maxUploads: 1 });
    const b = viewer(bus, 'B', { takeOffers: true });
    bus.connectAll();
    a.hold('seg-3', new Uint8Array(10_000).fill(7).buffer);
    assert.equal(a.swarm.offer('seg-3', 3), true);
    await until(() => b.events.includes('received seg-3 10000'));
    assert.equal(a.uploaded(), 10_000);
    await until(() => a.uploadSlots.free === 1);
    assert.equal(a.swarm.offer('seg-3', 3), false, 'never twice to the same peer');
  });

  it('stops sending an offer the peer declines, freeing the upload slot', async () => {
    const bus = new FakeRoomBus();
    const a = viewer(bus, 'A', { maxUploads: 1 });
    const c = viewer(bus, 'C');
    bus.connectAll();
    const total = 4_000_000;
    a.hold('seg-4', new Uint8Array(total).buffer);
    assert.equal(a.swarm.offer('seg-4', 4), true);
    assert.equal(a.uploadSlots.free, 0, 'the offer took the slot at once');
    await until(() => c.events.includes('offered A seg-4 4'));
    await until(() => a.uploadSlots.free === 1);
    assert.ok(a.uploaded() < total, `stopped after ${a.uploaded()} of ${total} bytes`);
  });

  it('passes news of a live segment arriving on to its other peers once, so viewers two hops away know it is on its way; not for VOD', async () => {
    for (const live of [true, false]) {
      const bus = new FakeRoomBus();
      const a = viewer(bus, 'A', { live });
      const b = viewer(bus, 'B', { live });
      const c = viewer(bus, 'C', { live });
      for (const [x, y] of [['A', 'B'], ['B', 'C']] as const) {
        bus.introduce(x, y);
        bus.introduce(y, x);
      }
      await until(() => a.swarm.peerCount === 1 && c.swarm.peerCount === 1);
      a.receive('seg-9');
      await until(() => b.swarm.isFlowing('seg-9'));
      if (live) await until(() => c.swarm.isFlowing('seg-9'));
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(c.swarm.holdersOf('seg-9').length, 0, 'C is no neighbour of the holder');
      assert.equal(c.swarm.isFlowing('seg-9'), live, live ? 'C heard the news from B' : 'VOD swarms pass on no news');
      const d = viewer(bus, 'D', { live });
      bus.introduce('C', 'D');
      bus.introduce('D', 'C');
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(d.swarm.isFlowing('seg-9'), false, 'news goes out once, when first heard');
    }
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
