import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultSegmentId, defaultSwarmId, withoutQuery } from '../../sdk/hls/identity.ts';

describe('identity', () => {
  const rendition = { playlistUrl: 'https://cdn.example/live/720p/index.m3u8?token=abc', bitrate: 800000, width: 1280, height: 720, codecs: 'avc1.4d401f,mp4a.40.2' };

  it('puts viewers with different tokens in one swarm per rendition', () => {
    const a = defaultSwarmId(rendition);
    const b = defaultSwarmId({ ...rendition, playlistUrl: 'https://cdn.example/live/720p/index.m3u8?token=xyz' });
    assert.equal(a, b);
    assert.notEqual(a, defaultSwarmId({ ...rendition, bitrate: 400000 }));
    assert.notEqual(a, defaultSwarmId({ ...rendition, playlistUrl: 'https://cdn.example/live/480p/index.m3u8' }));
  });

  it('names a segment by URL without query, plus its byte range', () => {
    const base = { url: 'https://cdn.example/seg-1.ts?sig=1#x', byteRange: undefined, sn: 1, swarmId: 's' };
    assert.equal(defaultSegmentId(base), 'https://cdn.example/seg-1.ts');
    assert.equal(defaultSegmentId({ ...base, byteRange: [100, 200] }), 'https://cdn.example/seg-1.ts@100-200');
    assert.equal(withoutQuery('https://a/b#frag'), 'https://a/b');
  });
});
