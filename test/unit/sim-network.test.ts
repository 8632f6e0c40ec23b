import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SimNetwork, SimNode } from '../sim/network.ts';
import { VirtualTime } from '../sim/virtual-time.ts';

const KB = 1000;

function setup() {
  const time = new VirtualTime(1);
  const network = new SimNetwork(time, { minLatencyMs: 20, maxLatencyMs: 20, cdnTtfbMs: 60, cdnBytesPerSec: 1000 * KB });
  const viewer = new SimNode('a', { uploadBytesPerSec: 250 * KB, downloadBytesPerSec: 1000 * KB });
  const peer = new SimNode('b', { uploadBytesPerSec: 250 * KB, downloadBytesPerSec: 1000 * KB });
  return { time, network, viewer, peer };
}

describe('simulated network', () => {
  it('streams a CDN response piece by piece at the response rate', async () => {
    const { time, network, viewer } = setup();
    const pieces: Array<{ at: number; offset: number; last: boolean }> = [];
    let headersAt = -1;
    network.fetchFromCdn(viewer, 250 * KB, 25 * KB, 'rest', () => (headersAt = time.now), (offset, _length, last) => pieces.push({ at: time.now, offset, last }));
    await time.run(10_000);
    assert.equal(headersAt, 60);
    assert.equal(pieces.length, 10);
    assert.deepEqual(pieces.map((p) => p.offset), [0, 25, 50, 75, 100, 125, 150, 175, 200, 225].map((k) => k * KB));
    assert.equal(pieces.at(-1)?.last, true);
    assert.equal(Math.round(pieces.at(-1)?.at as number), 310, '60 ms to the headers, then 250 kB at 1 MB/s');
    assert.equal(network.cdnBytes, 250 * KB);
    assert.deepEqual(network.cdnBytesByKind, { whole: 0, rest: 250 * KB }, 'counted as the rest of a segment');
  });

  it('does not hold a CDN piece arriving now behind a peer message still in flight', async () => {
    const { time, network, viewer, peer } = setup();
    const pieceTimes: number[] = [];
    network.fetchFromCdn(viewer, 32 * KB, 16 * KB, 'whole', () => {}, () => pieceTimes.push(time.now));
    await time.run(50);
    let deliveredAt = -1;
    // Leaves the uplink at 66 ms and arrives at 86 ms, after the first piece (60 ms + 16 ms).
    void network.send(peer, viewer, 4 * KB, () => (deliveredAt = time.now));
    await time.run(10_000);
    assert.equal(Math.round(pieceTimes[0] as number), 76, 'the first piece is not queued behind the message in flight');
    assert.equal(Math.round(deliveredAt), 96, 'the message waits for the second piece (76 to 92 ms) on the downlink, then takes 4 ms');
  });

  it('lets a peer message reach a viewer in the middle of its HTTP download, as flows share a real link', async () => {
    const { time, network, viewer, peer } = setup();
    network.fetchFromCdn(viewer, 250 * KB, 16 * KB, 'whole', () => {}, () => {});
    let deliveredAt = -1;
    await time.run(100);
    void network.send(peer, viewer, 100, () => (deliveredAt = time.now));
    await time.run(10_000);
    // Sent at 100 ms: 0.4 ms on the uplink, 20 ms of latency, then at most one 16 kB piece
    // (16 ms) ahead of it on the downlink; queued behind the whole response it would land at 310 ms.
    assert.ok(deliveredAt > 100 && deliveredAt < 140, `delivered at ${deliveredAt} ms`);
  });
});
