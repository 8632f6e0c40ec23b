import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadMedia } from '../../demo/origin-media.ts';
import { parseRange } from '../../demo/origin-pacing.ts';
import { discontinuitySequence, livePlaylist, liveWindow, vodPlaylist } from '../../demo/origin-playlists.ts';

const media = loadMedia();
const rendition = media.renditions[0]!;
const count = media.segmentCount;

/** Discontinuity counter of each listed segment, the way a player derives it (hls.js `cc`). */
function continuityBySequence(playlist: string): Map<number, number> {
  const lines = playlist.trim().split('\n');
  let sequence = Number(lines.find((l) => l.startsWith('#EXT-X-MEDIA-SEQUENCE:'))!.split(':')[1]);
  let cc = Number(lines.find((l) => l.startsWith('#EXT-X-DISCONTINUITY-SEQUENCE:'))!.split(':')[1]);
  const result = new Map<number, number>();
  for (const line of lines) {
    if (line === '#EXT-X-DISCONTINUITY') cc++;
    if (!line.startsWith('#')) result.set(sequence++, cc);
  }
  return result;
}

describe('demo fixtures', () => {
  it('have aligned renditions of 2 s segments', () => {
    assert.equal(media.renditions.length, 2);
    assert.equal(count, 20);
    for (const r of media.renditions) {
      assert.equal(r.durations.length, count);
      for (const d of r.durations) assert.ok(Math.abs(d - 2) < 0.05, `${r.name} segment lasts ${d}s`);
      assert.match(r.codecs, /^avc1\.[0-9a-f]{6},mp4a\.40\.2$/);
    }
    assert.deepEqual(media.renditions[0]!.durations, media.renditions[1]!.durations);
  });
});

describe('live window', () => {
  it('lists nothing before the first segment finished, then slides one segment per period', () => {
    assert.equal(liveWindow(1999, 2, 6).last, -1);
    assert.deepEqual(liveWindow(2000, 2, 6), { first: 0, last: 0 });
    assert.deepEqual(liveWindow(12_000, 2, 6), { first: 0, last: 5 });
    assert.deepEqual(liveWindow(13_999, 2, 6), { first: 0, last: 5 });
    assert.deepEqual(liveWindow(14_000, 2, 6), { first: 1, last: 6 });
  });

  it('counts only discontinuities that slid out of the window', () => {
    assert.equal(discontinuitySequence(0, count), 0);
    assert.equal(discontinuitySequence(count, count), 0);
    assert.equal(discontinuitySequence(count + 1, count), 1);
    assert.equal(discontinuitySequence(2 * count + 1, count), 2);
  });

  it('gives every live segment the same discontinuity counter in every playlist listing it', () => {
    const seen = new Map<number, number>();
    for (let first = 0; first < 3 * count; first++) {
      const playlist = livePlaylist(rendition, { first, last: first + 5 }, media.segmentSeconds, 0);
      for (const [sequence, cc] of continuityBySequence(playlist)) {
        assert.equal(cc, Math.floor(sequence / count), `segment ${sequence} in window at ${first}`);
        seen.set(sequence, cc);
      }
    }
    assert.equal(seen.size, 3 * count + 5);
  });
});

describe('parseRange', () => {
  it('reads single byte ranges and clamps the end', () => {
    assert.deepEqual(parseRange('bytes=0-99', 1000), { start: 0, end: 99 });
    assert.deepEqual(parseRange('bytes=900-', 1000), { start: 900, end: 999 });
    assert.deepEqual(parseRange('bytes=900-5000', 1000), { start: 900, end: 999 });
    assert.deepEqual(parseRange('bytes=-100', 1000), { start: 900, end: 999 });
    assert.deepEqual(parseRange('bytes=-5000', 1000), { start: 0, end: 999 });
  });

  it('ignores what it does not serve and rejects ranges outside the body', () => {
    assert.equal(parseRange(undefined, 1000), undefined);
    assert.equal(parseRange('bytes=0-1,5-9', 1000), undefined);
    assert.equal(parseRange('items=0-1', 1000), undefined);
    assert.equal(parseRange('bytes=1000-', 1000), 'unsatisfiable');
    assert.equal(parseRange('bytes=5-2', 1000), 'unsatisfiable');
    assert.equal(parseRange('bytes=-0', 1000), 'unsatisfiable');
  });
});

describe('looped VOD playlist', () => {
  it('plays the fixture through `loops` times with a discontinuity at each loop', () => {
    const rendition = media.renditions[0]!;
    const playlist = vodPlaylist(rendition, 3);
    const uris = playlist.split('\n').filter((line) => line.startsWith('seg-'));
    assert.equal(uris.length, 3 * media.segmentCount);
    assert.equal(uris.at(-1), `seg-${3 * media.segmentCount - 1}.ts`);
    assert.equal(playlist.match(/#EXT-X-DISCONTINUITY\n/g)?.length, 2);
    assert.ok(playlist.indexOf('#EXT-X-DISCONTINUITY') < playlist.indexOf(`seg-${media.segmentCount}.ts`));
    assert.ok(playlist.trimEnd().endsWith('#EXT-X-ENDLIST'));
  });
});
