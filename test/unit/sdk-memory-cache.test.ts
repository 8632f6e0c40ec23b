import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemorySegmentCache } from '../../sdk/store/memory-cache.ts';

describe('memory cache', () => {
  it('never holds more than its cap, evicting least recently used first and reporting it', () => {
    const evicted: string[] = [];
    const cache = new MemorySegmentCache(1000, (ids) => evicted.push(...ids));
    for (let i = 0; i < 50; i++) {
      cache.put(`s${i}`, new ArrayBuffer(90 + (i % 7) * 10));
      if (i === 20) cache.get('s15');
      assert.ok(cache.bytes <= 1000, `bytes ${cache.bytes} after put ${i}`);
    }
    assert.ok(evicted.includes('s0'));
    assert.equal(evicted.length + cache.size, 50);
    assert.ok(!cache.has('s0') && cache.has('s49'));
    assert.ok(evicted.indexOf('s15') > evicted.indexOf('s16'), 'recent use delays eviction');
  });

  it('refuses a segment larger than the cap and replaces an existing id without double counting', () => {
    const cache = new MemorySegmentCache(100);
    assert.equal(cache.put('big', new ArrayBuffer(101)), false);
    cache.put('a', new ArrayBuffer(40));
    cache.put('a', new ArrayBuffer(60));
    assert.equal(cache.bytes, 60);
    cache.delete('a');
    assert.equal(cache.bytes, 0);
  });
});
