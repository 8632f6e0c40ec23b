import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PeerAdmission } from '../../sdk/swarm/peer-admission.ts';

describe('peer admission', () => {
  it('caps connected plus pending peers and frees places on disconnect, abandon or expiry', () => {
    let now = 0;
    const admission = new PeerAdmission(2, 1000, () => now);
    assert.equal(admission.tryAdmit('a'), true);
    assert.equal(admission.tryAdmit('b'), true);
    assert.equal(admission.tryAdmit('c'), false);
    assert.equal(admission.tryAdmit('a'), true, 'an admitted peer asking again keeps its place');
    admission.connected('a');
    assert.equal(admission.connectedCount, 1);
    admission.disconnected('a');
    assert.equal(admission.tryAdmit('c'), true);
    assert.equal(admission.tryAdmit('d'), false);
    admission.abandon('c');
    assert.equal(admission.tryAdmit('d'), true);
    assert.equal(admission.tryAdmit('e'), false);
    now = 1500;
    assert.equal(admission.tryAdmit('e'), true, 'pending admissions that never connected expire');
  });

  it('counts a peer met in several swarms once, until it left all of them', () => {
    const admission = new PeerAdmission(1, 1000, () => 0);
    admission.tryAdmit('a');
    admission.connected('a');
    admission.connected('a');
    assert.equal(admission.connectedCount, 1);
    assert.equal(admission.tryAdmit('a'), true);
    admission.disconnected('a');
    assert.equal(admission.tryAdmit('b'), false, 'still connected in one swarm');
    admission.disconnected('a');
    assert.equal(admission.tryAdmit('b'), true);
  });
});
