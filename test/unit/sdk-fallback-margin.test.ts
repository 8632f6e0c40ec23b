import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fallbackMarginSec, HTTP_LOADS_REMEMBERED, RecentHttpLoads } from '../../sdk/scheduler/fallback-margin.ts';

describe('HTTP fallback margin', () => {
  it('is the configured floor until HTTP loads were measured, and while they are fast', () => {
    assert.equal(fallbackMarginSec(1, undefined), 1);
    assert.equal(fallbackMarginSec(1, 0.4), 1);
  });

  it('grows to 1.5 times the slowest recent HTTP segment load', () => {
    assert.equal(fallbackMarginSec(1, 2), 3);
  });

  it('follows the slowest of the latest loads only', () => {
    const loads = new RecentHttpLoads();
    assert.equal(loads.slowestSec, undefined);
    loads.record(3000);
    for (let i = 0; i < HTTP_LOADS_REMEMBERED - 1; i++) loads.record(200);
    assert.equal(loads.slowestSec, 3);
    loads.record(300);
    assert.equal(loads.slowestSec, 0.3, 'the slow load was forgotten once 8 newer ones were made');
  });

  it('ignores durations that are not a time', () => {
    const loads = new RecentHttpLoads();
    loads.record(Number.NaN);
    loads.record(-5);
    loads.record(Number.POSITIVE_INFINITY);
    assert.equal(loads.slowestSec, undefined);
  });
});
