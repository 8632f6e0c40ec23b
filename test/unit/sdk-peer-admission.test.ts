import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PeerAdmission } from '../../sdk/swarm/peer-admission.ts';

describe('peer admission', () => {
  it('caps connected plus pending peers and frees places on release or expiry', () => {
    let now = 0;
    const admission = new PeerAdmission(2, 1000, () => now);
    assert.equal(admission.tryAdmit('a'), true);
    assert.equal(admission.tryAdmit('b'), true);
    assert.equal(admission.tryAdmit('c'), false);
    assert.equal(admission.tryAdmit('a'), true, 'an admitted peer asking again keeps its place');
    admission.connected('a');
    assert.equal(admission.connectedCount, 1);
    admission.release('a');
    assert.equal(admission.tryAdmit('c'), true);
    assert.equal(admission.tryAdmit('d'), false);
    now = 1500;
    assert.equal(admission.tryAdmit('d'), true, 'pending admissions that never connected expire');
  });
});
