import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bytesReceivedByPlayers, openViewer, originSha256, PAIRING_WAIT_MS, playedFor, report, startStack, type Stack, type ViewerReport } from '../support/swarm-harness.ts';

const VIEWERS = 4;
const PLAY_SECONDS = 24;
/** Well below what bench:swarm measures for 4 live viewers (about 0.5 to 0.67 over 30 s), so it does not flake. */
const MIN_OFFLOAD = 0.2;

describe('a live swarm of real Chromium viewers through the tracker', () => {
  let stack: Stack;
  let reports: ViewerReport[];
  let originBytes: number;

  before(async () => {
    stack = await startStack();
    const pages = [];
    for (let i = 0; i < VIEWERS; i++) {
      // Half the audience trades a second of latency for relay time (extraLiveLatencySec).
      pages.push(await openViewer(stack, 'stream=live&verify', i % 2 === 0 ? { extraLiveLatencySec: 1 } : {}));
      if (i < VIEWERS - 1) await new Promise((resolve) => setTimeout(resolve, 1500)); // an audience arrives over time
    }
    await Promise.all(pages.map((page) => playedFor(page, PLAY_SECONDS)));
    reports = await Promise.all(pages.map(report));
    originBytes = stack.origin.mediaBytesSent();
    const received = bytesReceivedByPlayers(reports);
    console.log(
      JSON.stringify({
        viewers: VIEWERS,
        playedSec: PLAY_SECONDS,
        originBytes,
        playerBytes: received,
        offload: Number((1 - originBytes / received).toFixed(3)),
        stalls: reports.map((r) => r.stalls),
        p2pSegments: reports.map((r) => r.shoalLoads.filter((l) => l.source === 'p2p').length),
        httpSegments: reports.map((r) => r.shoalLoads.filter((l) => l.source === 'http').length),
      }),
    );
  });

  after(() => stack?.close());

  it('plays without fatal errors or stalls', () => {
    for (const r of reports) {
      assert.deepEqual(r.fatalErrors, []);
      assert.equal(r.stalls, 0, `stalls: ${r.stalls}`);
      assert.ok(r.startupMs !== undefined);
    }
  });

  it('plays extraLiveLatencySec further behind the live edge than hls.js alone, and where hls.js does by default', () => {
    reports.forEach((r, i) => {
      assert.ok(r.targetDurationSec !== undefined, 'a playlist loaded');
      // hls.js alone aims at liveSyncDurationCount (3) target durations.
      assert.equal(r.targetLatencySec, 3 * r.targetDurationSec + (i % 2 === 0 ? 1 : 0), `viewer ${i}`);
    });
  });

  it('offloads a clearly non-trivial share from the origin, measured at the origin', () => {
    const p2pSegments = reports.flatMap((r) => r.shoalLoads.filter((l) => l.source === 'p2p'));
    assert.ok(p2pSegments.length > 0, 'some segments came from peers');
    assert.ok(reports.some((r) => (r.stats?.uploadedBytes ?? 0) > 0), 'some viewer uploaded');
    const offload = 1 - originBytes / bytesReceivedByPlayers(reports);
    assert.ok(offload >= MIN_OFFLOAD, `offload ${offload.toFixed(3)} (origin ${originBytes} B, players ${bytesReceivedByPlayers(reports)} B)`);
  });

  it('hands hls.js exactly the origin bytes for every segment, peer-delivered ones included', () => {
    let checked = 0;
    for (const r of reports) {
      const fromPeers = new Set(r.shoalLoads.filter((l) => l.source === 'p2p').map((l) => l.segmentId));
      for (const fragment of r.fragments) {
        assert.ok(fragment.sha256, `hash recorded for ${fragment.url}`);
        assert.equal(fragment.sha256, originSha256(stack.origin, fragment.url), fragment.url);
        if (fromPeers.has(fragment.url)) checked++;
      }
    }
    assert.ok(checked > 0, 'peer-delivered segments were among those checked');
  });

  it("counts in Shoal's stats the same bytes hls.js received", () => {
    for (const r of reports) {
      const hlsBytes = r.fragments.reduce((s, f) => s + f.bytes, 0);
      assert.equal((r.stats?.httpBytes ?? 0) + (r.stats?.p2pBytes ?? 0), hlsBytes);
    }
  });
});

describe('with the tracker down', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack({ tracker: false });
  });
  after(() => stack?.close());

  it('plays on over HTTP: no fatal error, no stall, every byte from the origin', async () => {
    const pages = [await openViewer(stack, 'stream=live'), await openViewer(stack, 'stream=live')];
    await Promise.all(pages.map((page) => playedFor(page, 10)));
    const reports = await Promise.all(pages.map(report));
    for (const r of reports) {
      assert.deepEqual(r.fatalErrors, []);
      assert.equal(r.stalls, 0);
      assert.equal(r.stats?.p2pBytes, 0);
      assert.equal(r.stats?.httpBytes, r.fragments.reduce((s, f) => s + f.bytes, 0));
    }
    assert.ok(stack.origin.mediaBytesSent() >= bytesReceivedByPlayers(reports));
  });
});

describe('the peer cap', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack();
  });
  after(() => stack?.close());

  it('keeps each viewer at or under maxPeers while the swarm still shares segments', async () => {
    const pages = [];
    for (let i = 0; i < 4; i++) pages.push(await openViewer(stack, 'stream=vod', { maxPeers: 1 }));
    await Promise.all(pages.map((page) => playedFor(page, 10)));
    // Pairing with a cap of one peer can take longer than the play time: wait for the first
    // peer-delivered bytes (the assertions below say what is missing if they never come).
    const p2pArrived = () => ((window as any).Shoal?.instances[0]?.stats().p2pBytes ?? 0) > 0;
    await Promise.any(pages.map((page) => page.waitForFunction(p2pArrived, { timeout: PAIRING_WAIT_MS, polling: 250 }))).catch(() => {});
    const reports = await Promise.all(pages.map(report));
    for (const r of reports) {
      assert.ok(r.mostPeers <= 1, `most peers at once: ${r.mostPeers}`);
      assert.deepEqual(r.fatalErrors, []);
    }
    assert.ok(reports.some((r) => r.mostPeers === 1), 'viewers did connect');
    assert.ok(reports.some((r) => (r.stats?.p2pBytes ?? 0) > 0), 'segments still moved between peers');
  });
});
