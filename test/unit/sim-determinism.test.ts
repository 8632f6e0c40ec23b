import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Runs the simulator CLI in its own process: it replaces the clock and timers of its process. */
async function simulate(seed: number) {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'test/sim/run.ts', '--viewers', '6', '--seconds', '20', '--seed', String(seed), '--churn', '1']);
  const output = JSON.parse(stdout);
  for (const result of output.results) delete result.wallSeconds;
  return output;
}

describe('swarm simulator', () => {
  it('runs the SDK on virtual time deterministically for a seed, and peers do share', async () => {
    const [first, again, other] = await Promise.all([simulate(3), simulate(3), simulate(4)]);
    assert.deepEqual(first, again, 'same seed, same figures');
    assert.notDeepEqual(first.results[0].events, other.results[0].events, 'another seed, another run');
    const [result] = first.results;
    assert.ok(result.offload > 0, `offload ${result.offload}`);
    assert.ok(result.steadyOffload.offload > 0 && result.steadyOffload.fromSecond > 0, `steady offload ${JSON.stringify(result.steadyOffload)}`);
    assert.ok(result.segments.p2p > 0);
    assert.ok(result.viewersOverall > 6, 'churn replaced viewers');
    assert.ok(result.uploadPerViewerXBitrate.p95 <= result.uploadPerViewerXBitrate.cap + 1e-9, 'upload within the simulated capacity');
    assert.ok(result.playerLoadMs.mean > 0 && result.playerLoadMs.p95 >= result.playerLoadMs.mean, `player loads timed: ${JSON.stringify(result.playerLoadMs)}`);
  });
});
