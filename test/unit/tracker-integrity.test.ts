import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { startOrigin } from '../../demo/origin.ts';
import { parseSegmentId, SegmentHasher, defaultIntegrityOptions, sha256OfReprDigest } from '../../tracker/integrity.ts';
import { startTracker } from '../../tracker/server.ts';

const SEGMENT_PATH = '/vod/270p/seg-0.ts';

describe('tracker integrity service', () => {
  it('publishes the SHA-256 of an allowlisted segment, read once from the digest its origin publishes', async (t) => {
    const origin = await startOrigin({ port: 0, host: '127.0.0.1', ttfbMs: 0 });
    const tracker = await startTracker({ port: 0, host: '127.0.0.1', integrityOrigins: [`${origin.url}/vod/`] });
    t.after(() => Promise.all([tracker.close(), origin.close()]));
    const file = origin.segmentFile(SEGMENT_PATH);
    assert.ok(file);
    const bytes = readFileSync(file);
    const lookup = (id: string) => fetch(`${tracker.httpUrl}/integrity?id=${encodeURIComponent(id)}`);

    const first = await lookup(`${origin.url}${SEGMENT_PATH}`);
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('access-control-allow-origin'), '*');
    assert.match(first.headers.get('cache-control') ?? '', /immutable/);
    assert.deepEqual(await first.json(), { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.byteLength });
    assert.equal(origin.mediaBytesSent(), 0, "the origin's Repr-Digest was read from a HEAD: no segment bytes were sent");
    const originRequests = async () => ((await (await fetch(`${origin.url}/origin/stats`)).json()) as { requests: number }).requests;
    assert.equal(await originRequests(), 1);
    assert.equal((await lookup(`${origin.url}${SEGMENT_PATH}`)).status, 200);
    assert.equal(await originRequests(), 1, 'the second lookup is answered from memory');

    // A published digest is of the whole file: a byte range is fetched and hashed.
    const ranged = await lookup(`${origin.url}${SEGMENT_PATH}@100-1100`);
    assert.equal(ranged.status, 200);
    assert.deepEqual(await ranged.json(), { sha256: createHash('sha256').update(bytes.subarray(100, 1100)).digest('hex'), bytes: 1000 });
    assert.equal(origin.integrityBytesSent(), 1000, 'the fetch identifies itself as the integrity service');

    assert.equal((await lookup(`${origin.url}/live/270p/seg-0.ts`)).status, 403, 'outside the allowlisted prefix');
    assert.equal((await lookup('https://example.com/seg.ts')).status, 403);
    assert.equal((await lookup('not a url')).status, 400);
    assert.equal((await fetch(`${tracker.httpUrl}/integrity`)).status, 400);
    assert.equal((await lookup(`${origin.url}/vod/270p/missing.ts`)).status, 502);
  });

  it('fetches from the fetch prefix of a prefix=fetch-prefix entry, so that hashing need not go through the CDN', async (t) => {
    const origin = await startOrigin({ port: 0, host: '127.0.0.1', ttfbMs: 0 });
    const tracker = await startTracker({ port: 0, host: '127.0.0.1', integrityOrigins: [`https://cdn.example.com/vod/=${origin.url}/vod/`] });
    t.after(() => Promise.all([tracker.close(), origin.close()]));
    const bytes = readFileSync(origin.segmentFile(SEGMENT_PATH)!);
    const res = await fetch(`${tracker.httpUrl}/integrity?id=${encodeURIComponent(`https://cdn.example.com${SEGMENT_PATH}`)}`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.byteLength });
    const { requests } = (await (await fetch(`${origin.url}/origin/stats`)).json()) as { requests: number };
    assert.equal(requests, 1, 'asked the origin, not the CDN URL');
    const outside = await fetch(`${tracker.httpUrl}/integrity?id=${encodeURIComponent(`${origin.url}${SEGMENT_PATH}`)}`);
    assert.equal(outside.status, 403, 'the fetch prefix itself is not an allowed prefix');
    for (const bad of ['https://cdn.example.com/=', 'https://a/=https://b/=https://c/', 'https://cdn.example.com/=ftp://origin/']) {
      await assert.rejects(startTracker({ port: 0, integrityOrigins: [bad] }), /invalid tracker option integrityOrigins/, bad);
    }
  });

  it('is off (404) unless integrityOrigins is set, and rejects a prefix that is not a URL', async (t) => {
    const tracker = await startTracker({ port: 0, host: '127.0.0.1' });
    t.after(() => tracker.close());
    const res = await fetch(`${tracker.httpUrl}/integrity?id=${encodeURIComponent('http://127.0.0.1/x.ts')}`);
    assert.equal(res.status, 404);
    assert.match(((await res.json()) as { error: string }).error, /--integrity-origins/);
    await assert.rejects(startTracker({ port: 0, integrityOrigins: ['cdn.example.com'] }), /integrityOrigins/);
  });

  it('treats a bare origin as that origin only, not a longer host name', async () => {
    const hasher = new SegmentHasher({ ...defaultIntegrityOptions, origins: [{ prefix: new URL('https://cdn.example').href }] }, async () => new Response('x'));
    assert.equal((await hasher.lookup('https://cdn.example.evil.com/seg.ts')).status, 403);
    assert.equal((await hasher.lookup('https://cdn.example/seg.ts')).status, 200);
  });

  it('refuses segments past the size cap, even when the origin does not say their length', async () => {
    const big = () => new Response(new ReadableStream({ pull: (c) => c.enqueue(new Uint8Array(1024)) }));
    const hasher = new SegmentHasher({ ...defaultIntegrityOptions, origins: [{ prefix: 'https://cdn.example/' }], maxSegmentBytes: 10_000 }, async () => big());
    assert.equal((await hasher.lookup('https://cdn.example/huge.ts')).status, 413);
    assert.equal(hasher.size, 0);
  });

  it('bounds its work: one fetch per segment in flight, a bounded queue, a bounded cache', async () => {
    const release: Array<() => void> = [];
    let fetches = 0;
    const hasher = new SegmentHasher(
      { ...defaultIntegrityOptions, origins: [{ prefix: 'https://cdn.example/' }], maxConcurrentFetches: 1, maxEntries: 2 },
      async (_url, init) => {
        if (init?.method === 'HEAD') return new Response(null);
        fetches++;
        await new Promise<void>((resolve) => release.push(resolve));
        return new Response('data');
      },
    );
    const same = [hasher.lookup('https://cdn.example/a.ts'), hasher.lookup('https://cdn.example/a.ts')];
    const queued = [1, 2, 3, 4].map((i) => hasher.lookup(`https://cdn.example/q${i}.ts`));
    assert.equal((await hasher.lookup('https://cdn.example/overflow.ts')).status, 503, 'queue of 4 x 1 is full');
    while (release.length > 0 || fetches < 5) {
      release.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
    }
    const answers = await Promise.all([...same, ...queued]);
    assert.ok(answers.every((a) => a.status === 200));
    assert.equal(fetches, 5, 'the two lookups of a.ts shared one fetch');
    assert.equal(hasher.size, 2, 'the cache keeps the newest entries only');
  });

  it('asks an origin without digests once by HEAD, then fetches from it; a malformed digest counts as none', async () => {
    const methods: string[] = [];
    const body = 'segment bytes';
    const sha256 = createHash('sha256').update(body).digest('hex');
    const hasher = (reprDigest: string | undefined) =>
      new SegmentHasher({ ...defaultIntegrityOptions, origins: [{ prefix: 'https://cdn.example/' }] }, async (_url, init) => {
        methods.push(init?.method ?? 'GET');
        const headers = reprDigest ? { 'repr-digest': reprDigest } : undefined;
        return new Response(init?.method === 'HEAD' ? null : body, { headers });
      });
    const plain = hasher(undefined);
    for (const name of ['a.ts', 'b.ts']) assert.deepEqual((await plain.lookup(`https://cdn.example/${name}`)).body, { sha256, bytes: body.length });
    assert.deepEqual(methods, ['HEAD', 'GET', 'GET']);

    // 31 bytes, not 32: the origin's digest is ignored and the segment itself hashed.
    methods.length = 0;
    const malformed = hasher(`sha-256=:${Buffer.alloc(31).toString('base64')}:`);
    assert.deepEqual((await malformed.lookup('https://cdn.example/a.ts')).body, { sha256, bytes: body.length });
    assert.deepEqual(methods, ['HEAD', 'GET']);
    assert.equal(malformed.digestsRead, 0);
  });

  it('trusts a published digest only with the length of the file as is, and within the size cap', async () => {
    const digest = `sha-256=:${createHash('sha256').update('x').digest('base64')}:`;
    const answer = (headers: Record<string, string>) =>
      new SegmentHasher({ ...defaultIntegrityOptions, origins: [{ prefix: 'https://cdn.example/' }], maxSegmentBytes: 100 }, async (_url, init) =>
        init?.method === 'HEAD' ? new Response(null, { headers }) : new Response('body'),
      ).lookup('https://cdn.example/a.ts');
    assert.deepEqual((await answer({ 'repr-digest': digest, 'content-length': '1' })).body, { sha256: createHash('sha256').update('x').digest('hex'), bytes: 1 });
    assert.equal((await answer({ 'repr-digest': digest, 'content-length': '101' })).status, 413);
    const fetched = { sha256: createHash('sha256').update('body').digest('hex'), bytes: 4 };
    assert.deepEqual((await answer({ 'repr-digest': digest })).body, fetched, 'no length: fetched');
    assert.deepEqual((await answer({ 'repr-digest': digest, 'content-length': '' })).body, fetched, 'an empty length: fetched');
    assert.deepEqual((await answer({ 'repr-digest': digest, 'content-length': '1', 'content-encoding': 'gzip' })).body, fetched, 'a digest of a compressed copy: fetched');
  });

  it('reads the SHA-256 member of a Repr-Digest dictionary', () => {
    const hex = createHash('sha256').update('v').digest('hex');
    const b64 = Buffer.from(hex, 'hex').toString('base64');
    assert.equal(sha256OfReprDigest(`sha-256=:${b64}:`), hex);
    assert.equal(sha256OfReprDigest(`sha-512=:${Buffer.alloc(64).toString('base64')}:, sha-256=:${b64}:`), hex);
    for (const value of [null, '', 'sha-512=:AAAA:', `sha-256=${b64}`, 'sha-256=:not base64!:', `sha-256=:${b64.slice(4)}:`]) {
      assert.equal(sha256OfReprDigest(value), undefined, String(value));
    }
  });

  it('parses segment ids with and without byte ranges', () => {
    assert.deepEqual(parseSegmentId('https://cdn.example/s.ts@0-10')?.range, [0, 10]);
    assert.equal(parseSegmentId('https://cdn.example/s.ts')?.range, undefined);
    assert.equal(parseSegmentId('https://cdn.example/s.ts@10-10'), undefined);
    assert.equal(parseSegmentId('file:///etc/passwd'), undefined);
  });
});
