import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultConfig, optionsFromDataset, resolveConfig, ShoalConfigError } from '../../sdk/config.ts';

describe('config', () => {
  it('starts from documented defaults', () => {
    const config = resolveConfig();
    assert.deepEqual(config.trackers, []);
    assert.equal(config.maxPeers, 8);
    assert.equal(config.cacheBytes, 64 * 1024 * 1024);
    assert.equal(config.upload, true);
    assert.notEqual(resolveConfig(), defaultConfig, 'a fresh object, defaults stay frozen');
  });

  it('later layers win, undefined leaves a value alone, "tracker" is an alias', () => {
    const config = resolveConfig({ maxPeers: 3, tracker: 'ws://a:1' }, { maxPeers: 5, appId: undefined });
    assert.equal(config.maxPeers, 5);
    assert.equal(config.appId, 'shoal');
    assert.deepEqual(config.trackers, ['ws://a:1']);
  });

  it('throws naming the option for every kind of bad value', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ maxPeers: 0 }, 'maxPeers'],
      [{ maxPeers: 2.5 }, 'maxPeers'],
      [{ cacheBytes: '10' }, 'cacheBytes'],
      [{ trackers: ['https://x'] }, 'trackers'],
      [{ trackers: 'ws://ok,http://bad' }, 'trackers'],
      [{ upload: 'yes' }, 'upload'],
      [{ appId: '' }, 'appId'],
      [{ swarmId: 'nope' }, 'swarmId'],
      [{ bufferSafetyMarginSec: -1 }, 'bufferSafetyMarginSec'],
      [{ minPeerTimeoutMs: 9000, maxPeerTimeoutMs: 1000 }, 'minPeerTimeoutMs'],
      [{ maxpeers: 3 }, 'maxpeers'],
    ];
    for (const [options, name] of cases) {
      assert.throws(() => resolveConfig(options), (error: unknown) => error instanceof ShoalConfigError && error.option === name && error.message.includes(name), JSON.stringify(options));
    }
  });

  it('parses data-* attributes: numbers, booleans and lists, leaving junk for validation to name', () => {
    const options = optionsFromDataset({ tracker: 'ws://a:1 ws://b:2', maxPeers: '4', upload: 'false', debug: '', cacheBytes: 'lots' });
    assert.deepEqual(options, { tracker: 'ws://a:1 ws://b:2', maxPeers: 4, upload: false, debug: true, cacheBytes: 'lots' });
    assert.throws(() => resolveConfig(options), /cacheBytes/);
    assert.deepEqual(resolveConfig({ ...options, cacheBytes: 1000 }).trackers, ['ws://a:1', 'ws://b:2']);
  });
});
