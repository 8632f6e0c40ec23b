import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { hookVerifier, integrityUrlOf, sha256Hex, TrackerHashVerifier, trustingVerifier } from '../../sdk/integrity/verifier.ts';
import { resolveConfig } from '../../sdk/config.ts';

const bytes = new TextEncoder().encode('segment bytes').buffer as ArrayBuffer;
const hashOf = (data: ArrayBuffer) => createHash('sha256').update(new Uint8Array(data)).digest('hex');

describe('segment verification', () => {
  it('derives the integrity service from the tracker URL', () => {
    assert.equal(integrityUrlOf('wss://tracker.example/announce?token=1.x'), 'https://tracker.example/integrity');
    assert.equal(integrityUrlOf('ws://127.0.0.1:8000'), 'http://127.0.0.1:8000/integrity');
  });

  it('hashes like node:crypto', async () => {
    assert.equal(await sha256Hex(bytes), hashOf(bytes));
  });

  it("accepts the bytes whose SHA-256 the tracker published, flags others corrupt, and asks once per segment", async () => {
    const asked: string[] = [];
    const verifier = new TrackerHashVerifier('https://t.example/integrity', undefined, async (input) => {
      asked.push(String(input));
      return Response.json({ sha256: hashOf(bytes), bytes: bytes.byteLength });
    });
    verifier.expect('https://cdn.example/s.ts');
    assert.equal(await verifier.verify('https://cdn.example/s.ts', bytes), 'ok');
    assert.equal(await verifier.verify('https://cdn.example/s.ts', new ArrayBuffer(13)), 'corrupt');
    assert.deepEqual(asked, [`https://t.example/integrity?id=${encodeURIComponent('https://cdn.example/s.ts')}`]);
  });

  it('calls a segment unverifiable when the service fails, warns once, and asks again next time', async () => {
    const warnings: string[] = [];
    let calls = 0;
    const verifier = new TrackerHashVerifier('https://t.example/integrity', (m) => warnings.push(m), async () => {
      calls++;
      return new Response('{"error":"disabled"}', { status: 404 });
    });
    assert.equal(await verifier.verify('a', bytes), 'unverifiable');
    assert.equal(await verifier.verify('a', bytes), 'unverifiable');
    assert.equal(calls, 2, 'a failed lookup is not remembered');
    assert.deepEqual(warnings, ['integrity service answered 404 for a']);
    const garbled = new TrackerHashVerifier('https://t.example/integrity', undefined, async () => Response.json({ sha256: 'nope' }));
    assert.equal(await garbled.verify('a', bytes), 'unverifiable');
    const down = new TrackerHashVerifier('https://t.example/integrity', undefined, async () => {
      throw new TypeError('fetch failed');
    });
    assert.equal(await down.verify('a', bytes), 'unverifiable');
  });

  it("uses the site's hook: false is corrupt, a throw is unverifiable", async () => {
    assert.equal(await hookVerifier(() => true).verify('a', bytes), 'ok');
    assert.equal(await hookVerifier(async () => false).verify('a', bytes), 'corrupt');
    assert.equal(
      await hookVerifier(() => {
        throw new Error('no hash list');
      }).verify('a', bytes),
      'unverifiable',
    );
    assert.equal(await trustingVerifier.verify('a', new ArrayBuffer(1)), 'ok');
  });

  it('validates the integrity options by name', () => {
    assert.throws(() => resolveConfig({ integrity: 'sometimes' }), /integrity must be one of "tracker", "none"/);
    assert.throws(() => resolveConfig({ integrityUrl: 'ftp://x' }), /integrityUrl must be an http/);
    assert.throws(() => resolveConfig({ verifySegment: 'yes' }), /verifySegment must be a function/);
    assert.equal(resolveConfig({}).integrity, 'tracker');
  });
});
