import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { failureReply, parseRequest, validateRequest, type ParseFailure, type ParseResult } from '../../tracker/protocol.ts';

const HASH = 'h'.repeat(20);
const PEER = 'p'.repeat(20);
const OTHER = 'o'.repeat(20);
const offer = { type: 'offer', sdp: 'v=0 offer' };
const answer = { type: 'answer', sdp: 'v=0 answer' };

function failed(result: ParseResult): ParseFailure {
  assert.equal(result.ok, false, `expected a failure, got ${JSON.stringify(result)}`);
  return result as ParseFailure;
}

describe('tracker protocol: valid requests', () => {
  it('accepts a minimal announce', () => {
    assert.deepEqual(validateRequest({ action: 'announce', info_hash: HASH, peer_id: PEER }), {
      ok: true,
      request: { action: 'announce', info_hash: HASH, peer_id: PEER },
    });
  });

  it('accepts a full announce with offers, as WebTorrent and trystero send it', () => {
    const message = {
      action: 'announce',
      info_hash: HASH,
      peer_id: PEER,
      numwant: 3,
      event: 'started',
      uploaded: 0,
      downloaded: 10,
      left: 5,
      offers: [{ offer_id: 'offer-1', offer }],
    };
    assert.deepEqual(validateRequest(message), { ok: true, request: message });
  });

  it('accepts an answer with its offer_id and to_peer_id', () => {
    const message = { action: 'announce', info_hash: HASH, peer_id: PEER, answer, offer_id: 'offer-1', to_peer_id: OTHER };
    assert.deepEqual(validateRequest(message), { ok: true, request: message });
  });

  it('treats null numbers as absent (JSON of NaN, sent by WebTorrent before metadata)', () => {
    const result = validateRequest({ action: 'announce', info_hash: HASH, peer_id: PEER, left: null, numwant: null });
    assert.deepEqual(result, { ok: true, request: { action: 'announce', info_hash: HASH, peer_id: PEER } });
  });

  it('ignores unknown fields and copies only known ones', () => {
    const result = validateRequest({ action: 'announce', info_hash: HASH, peer_id: PEER, trackerid: 'x', extra: {} });
    assert.deepEqual(result, { ok: true, request: { action: 'announce', info_hash: HASH, peer_id: PEER } });
  });

  it('accepts binary-string ids of 20 characters', () => {
    const binary = Array.from({ length: 20 }, (_, i) => String.fromCharCode(i * 12)).join('');
    const result = parseRequest(JSON.stringify({ action: 'announce', info_hash: binary, peer_id: binary }));
    assert.equal(result.ok, true);
  });

  it('accepts scrapes without, with one and with several info_hash', () => {
    assert.deepEqual(validateRequest({ action: 'scrape' }), { ok: true, request: { action: 'scrape' } });
    assert.deepEqual(validateRequest({ action: 'scrape', info_hash: HASH }), {
      ok: true,
      request: { action: 'scrape', info_hash: HASH },
    });
    assert.deepEqual(validateRequest({ action: 'scrape', info_hash: [HASH, OTHER] }), {
      ok: true,
      request: { action: 'scrape', info_hash: [HASH, OTHER] },
    });
  });
});

describe('tracker protocol: invalid requests', () => {
  const cases: [string, unknown, RegExp][] = [
    ['a JSON array', [], /expected a JSON object/],
    ['null', null, /expected a JSON object/],
    ['no action', { info_hash: HASH }, /invalid action/],
    ['an unknown action', { action: 'connect' }, /unknown action: "connect"/],
    ['a missing info_hash', { action: 'announce', peer_id: PEER }, /invalid info_hash/],
    ['a numeric info_hash', { action: 'announce', info_hash: 12, peer_id: PEER }, /invalid info_hash/],
    ['a 19-character peer_id', { action: 'announce', info_hash: HASH, peer_id: 'p'.repeat(19) }, /invalid peer_id/],
    ['a 21-character info_hash', { action: 'announce', info_hash: 'h'.repeat(21), peer_id: PEER }, /invalid info_hash/],
    ['a string numwant', { action: 'announce', info_hash: HASH, peer_id: PEER, numwant: '5' }, /invalid numwant/],
    ['a negative left', { action: 'announce', info_hash: HASH, peer_id: PEER, left: -1 }, /invalid left/],
    ['an unknown event', { action: 'announce', info_hash: HASH, peer_id: PEER, event: 'paws' }, /invalid event/],
    ['offers not an array', { action: 'announce', info_hash: HASH, peer_id: PEER, offers: {} }, /invalid offers/],
    [
      'an offer without offer_id',
      { action: 'announce', info_hash: HASH, peer_id: PEER, offers: [{ offer }] },
      /invalid offers\[0\]\.offer_id/,
    ],
    [
      'an offer of type answer',
      { action: 'announce', info_hash: HASH, peer_id: PEER, offers: [{ offer_id: 'a', offer: answer }] },
      /invalid offers\[0\]\.offer/,
    ],
    [
      'an answer without to_peer_id',
      { action: 'announce', info_hash: HASH, peer_id: PEER, answer, offer_id: 'a' },
      /invalid to_peer_id/,
    ],
    [
      'an answer without offer_id',
      { action: 'announce', info_hash: HASH, peer_id: PEER, answer, to_peer_id: OTHER },
      /invalid offer_id/,
    ],
    ['an answer without sdp', { action: 'announce', info_hash: HASH, peer_id: PEER, answer: { type: 'answer' } }, /invalid answer/],
    ['a scrape with a short info_hash', { action: 'scrape', info_hash: ['short'] }, /invalid info_hash/],
  ];
  for (const [name, message, reason] of cases) {
    it(`rejects ${name}`, () => {
      assert.match(failed(validateRequest(message)).reason, reason);
    });
  }

  it('rejects text that is not JSON', () => {
    assert.match(failed(parseRequest('{"action":')).reason, /not valid JSON/);
  });

  it('reports the action and a valid info_hash of a rejected message', () => {
    const result = failed(validateRequest({ action: 'announce', info_hash: HASH, peer_id: 'short' }));
    assert.equal(result.action, 'announce');
    assert.equal(result.info_hash, HASH);
    const noHash = failed(validateRequest({ action: 'announce', info_hash: 'short', peer_id: PEER }));
    assert.equal(noHash.action, 'announce');
    assert.equal('info_hash' in noHash, false);
  });

  it('builds failure replies with only the known fields', () => {
    assert.deepEqual(failureReply('bad'), { 'failure reason': 'bad' });
    assert.deepEqual(failureReply('bad', 'scrape', HASH), { 'failure reason': 'bad', action: 'scrape', info_hash: HASH });
  });
});
