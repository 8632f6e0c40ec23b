import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PartialSegment } from '../../sdk/store/partial-segment.ts';

const bytes = (length: number, seed = 1) => Uint8Array.from({ length }, (_, i) => (i * 7 + seed) % 251);

async function readAll(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const pieces: Uint8Array[] = [];
  for await (const piece of source) pieces.push(piece.slice());
  const whole = new Uint8Array(pieces.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const piece of pieces) {
    whole.set(piece, offset);
    offset += piece.byteLength;
  }
  return whole;
}

describe('PartialSegment', () => {
  it('assembles the bytes once all arrived, and a reader gets them in order', async () => {
    const data = bytes(1000);
    const sink = new PartialSegment();
    sink.start(1000);
    const whole = readAll(sink.read());
    sink.append(data.subarray(0, 500));
    assert.equal(sink.assembled(), undefined, 'not whole yet');
    sink.append(data.subarray(500, 750));
    sink.append(data.subarray(750));
    assert.equal(sink.received, 1000);
    assert.deepEqual(await whole, data);
    assert.deepEqual(new Uint8Array(sink.assembled()!), data);
    assert.equal(sink.state, 'loading', 'assembled() does not settle it');
    assert.deepEqual(new Uint8Array(sink.complete()!), data);
    assert.equal(sink.state, 'complete');
  });

  it('appends before its size is known, and readers see every byte once it is', async () => {
    const data = bytes(300, 5);
    const sink = new PartialSegment();
    const whole = readAll(sink.read());
    sink.append(data.subarray(0, 100));
    sink.start(300);
    sink.append(data.subarray(100));
    sink.complete();
    assert.deepEqual(await whole, data);
  });

  it('completes without a size from what was appended', async () => {
    const data = bytes(200, 9);
    const sink = new PartialSegment();
    const whole = readAll(sink.read());
    sink.append(data.subarray(0, 50));
    sink.append(data.subarray(50));
    assert.deepEqual(new Uint8Array(sink.complete()!), data);
    assert.deepEqual(await whole, data);
  });

  it('fails, and fails its readers, when bytes land past the announced size or it cannot complete', async () => {
    const sink = new PartialSegment();
    sink.start(100);
    const reader = readAll(sink.read());
    sink.append(bytes(90));
    sink.append(bytes(20));
    assert.equal(sink.state, 'failed');
    await assert.rejects(reader, /segment failed/);

    const short = new PartialSegment();
    short.start(100);
    short.append(bytes(60));
    assert.equal(short.complete(), undefined, 'bytes missing');
    assert.equal(short.state, 'failed');
  });
});
