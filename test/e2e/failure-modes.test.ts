/**
 * Failure modes, each in real headless Chromium viewers against a real tracker, the paced demo
 * origin and the demo page. Every scenario asserts what the viewer sees: no fatal hls.js error,
 * no stall (plain hls.js never stalls on this local origin), every fragment hls.js got
 * byte-identical to the origin's file where peers were involved, and P2P back once it can be.
 *
 * The tracker unreachable at start is in swarm.test.ts ("with the tracker down").
 *
 * Viewers pin the lowest rendition (`level=0`) unless the scenario is about renditions, so
 * every viewer is in one swarm whatever ABR would pick.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import type { Page } from 'puppeteer-core';
import { PEER_HELLO_TIMEOUT_MS } from '../../sdk/swarm/swarm.ts';
import { trackConnections } from '../support/page-connections.ts';
import { injectPeerFaults, peerFaultCounters, setPeerFault } from '../support/peer-faults.ts';
import {
  openViewer,
  originSha256,
  SDK_PAIRING_WAIT_MS,
  playedFor,
  recordEngine,
  report,
  startStack,
  type ShoalEventRecord,
  type Stack,
  type StackOptions,
  type ViewerOptions,
  type ViewerReport,
} from '../support/swarm-harness.ts';
import { listening, runCli } from '../support/tracker-cli-process.ts';

/** Upper bound of one scenario; each takes well under half of it here. */
const TEST_TIMEOUT_MS = 120_000;
/** VOD three times the fixture (120 s), so seeks and long buffers have room. */
const LONG_VOD = { vodLoops: 3 };

describe('failure modes, in real Chromium viewers', () => {
  it('tracker killed mid-stream and restarted on the same port: playback goes on, peers find each other again', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const port = await freePort();
    const stack = await stackFor(t, { trackerUrl: `ws://127.0.0.1:${port}` });
    const trackerArgs = ['--port', String(port), '--host', '127.0.0.1', '--integrity-origins', `${stack.origin.url}/`, '--log-level', 'warn'];
    let tracker = runCli(t, trackerArgs);
    await listening(tracker);
    const existing = [await viewer(t, stack, 'stream=live&verify&level=0'), await connectedViewer(t, stack, 'stream=live&verify&level=0')];
    await waitForAny(existing, 'a first segment from a peer', 30_000, () => (window as any).shoalLoads.some((l: any) => l.source === 'p2p'));

    const killedAt = await Promise.all(existing.map(pageNow));
    tracker.child.kill('SIGKILL');
    await tracker.exited;
    await sleep(1000);
    tracker = runCli(t, trackerArgs);
    await listening(tracker);
    const restartedAt = await Promise.all(existing.map(pageNow));

    // The two viewers kept their connection: segments flow between them again once the
    // tracker's integrity service answers (peers' segments are checked against it).
    try {
      await Promise.any(
        existing.map((page, i) =>
          page.waitForFunction(
            (since: number) => {
              const w = window as any;
              const before = new Set(w.shoalEvents.filter((e: any) => e.name === 'peer-connected' && e.at < since).map((e: any) => e.peerId));
              return w.shoalLoads.some((l: any) => l.source === 'p2p' && l.at > since && before.has(l.peerId));
            },
            { timeout: 20_000, polling: 100 },
            restartedAt[i]!,
          ),
        ),
      );
    } catch {
      throw new Error(`waiting for a segment between the existing viewers after the restart: ${(await Promise.all(existing.map(summary))).join(', ')}`);
    }

    // Existing viewers reconnect and announce again (trystero retries within about 3 s, then 7 s).
    await waitForTrackerPeers(port, 2, 25_000);
    // Connected through the restarted tracker; then in a live swarm it either gets segments from
    // peers or is the one fetching them from the CDN first and passing them on.
    const newcomer = await connectedViewer(t, stack, 'stream=live&verify&level=0');
    await waitFor(newcomer, 'segments to or from peers on the viewer that joined after the restart', 30_000, () => {
      const w = window as any;
      return w.shoalLoads.some((l: any) => l.source === 'p2p') || w.Shoal.instances[0].stats().uploadedBytes > 0;
    });
    await playedFor(newcomer, 4);

    const reports = await Promise.all([...existing, newcomer].map(verifiedReport));
    // From a peer each existing viewer was connected to before the kill (not from the newcomer).
    const p2pAfterRestart = existing.map((_, i) => {
      const r = reports[i]!;
      const before = new Set(events(r, 'peer-connected').filter((e) => e.at < restartedAt[i]!).map((e) => e.peerId));
      return r.shoalLoads.filter((l) => l.source === 'p2p' && l.at > restartedAt[i]! && before.has(l.peerId)).length;
    });
    const whileDown = existing.map((_, i) => reports[i]!.shoalLoads.filter((l) => l.at > killedAt[i]! && l.at < restartedAt[i]!).map((l) => l.source));
    logScenario('tracker restart', reports, { loadsWhileDown: whileDown, p2pBetweenExistingAfterRestart: p2pAfterRestart });
    for (const [i, r] of reports.entries()) {
      assertPlayedCleanly(r, `viewer ${i}`);
      assertOriginBytes(stack, r, `viewer ${i}`);
    }
    for (const [i, r] of reports.slice(0, 2).entries()) {
      assert.deepEqual(events(r, 'peer-disconnected').filter((e) => e.at > killedAt[i]!), [], 'peers stay connected without the tracker');
    }
    assert.ok(p2pAfterRestart.some((n) => n > 0), `segments between the viewers that kept their connections, after the restart: ${p2pAfterRestart}`);
    const newcomerReport = reports[2]!;
    assert.ok((newcomerReport.stats?.p2pBytes ?? 0) + (newcomerReport.stats?.uploadedBytes ?? 0) > 0, 'the newcomer exchanged segments with peers');
  });

  it('a peer that leaves mid-transfer: the segment comes over HTTP, no stall', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    // The uploader sends one data chunk of its first upload and then nothing, so the transfer
    // is surely still in flight when its page closes.
    const { stack, uploader, downloader } = await uploaderCutAfterOneChunk(t);
    await waitFor(uploader, 'an upload cut short', 30_000, () => (window as any).peerFaults.dropped > 0);
    const counters = await peerFaultCounters(uploader);
    await uploader.close();
    const leftAt = await pageNow(downloader);

    // A closed page says no goodbye: the downloader learns of it from ICE (about 5 s) plus
    // trystero's grace for a disconnected peer (5 s), about 10 s here.
    await waitForEvent(downloader, 'the peer gone', 30_000, 'peer-disconnected', leftAt);
    await playedFor(downloader, 8);
    const r = await verifiedReport(downloader);
    const fallbacks = events(r, 'peer-fallback');
    const gone = events(r, 'peer-disconnected').find((e) => e.at > leftAt)!;
    logScenario('peer leaves mid-transfer', [r], {
      uploaderCounters: counters,
      fallbacks: fallbacks.map((e) => `${Math.round(e.at - leftAt)} ms: ${segmentIndex(e.segmentId!)} ${e.reason}`),
      goneAfterMs: Math.round(gone.at - leftAt),
    });
    assertPlayedCleanly(r, 'downloader');
    assertOriginBytes(stack, r, 'downloader');
    assert.ok((r.stats?.peerFallbacks ?? 0) >= 1, 'the fallback is counted');
    const lost = fallbacks[0]!;
    assert.ok(lost.at > leftAt, 'the transfer was still under way when the peer left');
    assert.deepEqual(loadsOf(r, lost.segmentId!), ['http'], `${lost.segmentId}, abandoned by the peer, came over HTTP`);
    assert.deepEqual(fallbacks.filter((e) => e.at > gone.at), [], 'the peer is not asked once known gone');
  });

  it('a peer that stalls mid-transfer: the downloader falls back to HTTP in time, no stall', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    // One data chunk of the first upload goes out, then no segment data at all; the
    // connection and the control messages (have, req) stay up.
    const { stack, uploader, downloader } = await uploaderCutAfterOneChunk(t);
    await waitForEvent(downloader, 'a peer fallback', 30_000, 'peer-fallback');
    const fellBackAt = await pageNow(downloader);
    await waitFor(downloader, '10 s of playback after the first fallback', 40_000, (since: number) => {
      const video = document.getElementById('video') as HTMLVideoElement;
      return (window as any).demo.fatalErrors.length > 0 || (performance.now() - since > 10_000 && video.currentTime > 8);
    }, fellBackAt);

    const r = await verifiedReport(downloader);
    const fallbacks = events(r, 'peer-fallback');
    logScenario('peer stalls mid-transfer', [r], { uploaderCounters: await peerFaultCounters(uploader), fallbacks: fallbacks.length, reasons: [...new Set(fallbacks.map((e) => e.reason))] });
    assertPlayedCleanly(r, 'downloader');
    assertOriginBytes(stack, r, 'downloader');
    assert.ok((r.stats?.peerFallbacks ?? 0) >= 1, 'the fallback is counted');
    const stalled = fallbacks[0]!.segmentId!;
    assert.deepEqual(loadsOf(r, stalled), ['http'], `${stalled}, stalled by the peer, came over HTTP`);
    const load = r.shoalLoads.find((l) => l.segmentId === stalled)!;
    assert.ok((load.peerBytes ?? 0) > 0 && (load.peerBytes ?? 0) < load.bytes, `the bytes the peer sent before it stalled were kept and HTTP fetched the rest (${load.peerBytes} of ${load.bytes})`);
  });

  it('a peer that sends wrong bytes: hls.js never gets them, the peer is dropped for good, HTTP instead', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const stack = await stackFor(t, { origin: LONG_VOD });
    // The victim must still need the segments from 60 s on when it seeks there. Unbounded, hls.js
    // buffers this VOD whole, which it had done in a CI run whose first pairing took 20 s (its
    // handshake passed on one side only; see that scenario).
    const victim = await viewer(t, stack, 'stream=vod&verify&level=0&maxBuffer=20');
    await playedFor(victim, 2);
    // The liar joins second, so that the victim is the one answering its offers when it comes
    // back (see orderPeerId), and gets ahead of the victim: the victim will ask it for 60 s on.
    const liar = await connectedViewer(t, stack, 'stream=vod&verify&level=0', {}, { beforeLoad: injectPeerFaults });
    await seek(liar, 60);
    await setPeerFault(liar, { mode: 'corrupt' });
    const seekedAt = await pageNow(victim);
    await seek(victim, 60);
    // Either the victim drops the liar, or (without verification) takes a few of its segments.
    await waitFor(victim, 'the liar dropped, or segments taken from it', 20_000, (since: number) => {
      const w = window as any;
      return w.shoalEvents.some((e: any) => e.name === 'peer-disconnected' && e.at > since) || w.shoalLoads.filter((l: any) => l.source === 'p2p' && l.at > since).length >= 3;
    }, seekedAt);

    // The liar comes back with the same peer id: in the other rendition's swarm, where the
    // tracker never paired the two, it offers the victim a connection. The victim moves first,
    // so it is the one answering there (see orderPeerId). nextLevel, as in the level-switch
    // scenario: currentLevel flushes the buffer, which can stall plain hls.js too.
    await victim.evaluate(() => ((window as any).demo.hls.nextLevel = 1));
    await until("the victim in the other rendition's swarm", 20_000, () => stack.tracker!.stats().swarms >= 2);
    const offersBefore = stack.tracker!.stats().offersRelayed;
    await liar.evaluate(() => ((window as any).demo.hls.nextLevel = 1));
    await until('an offer from the returning liar relayed', 20_000, () => stack.tracker!.stats().offersRelayed > offersBefore);
    const comebackAt = await pageNow(victim);
    await waitFor(victim, '4 s more of playback', 20_000, (since: number) => performance.now() - since > 4000, comebackAt);

    const r = await verifiedReport(victim);
    const liarReport = await report(liar);
    const liarIds = new Set(events(r, 'peer-connected').map((e) => e.peerId));
    // After the seek: a pairing whose handshake passed on one side only ends in a disconnect
    // before it (see the one-sided handshake scenario), and the two meet again.
    const dropped = events(r, 'peer-disconnected').find((e) => e.at > seekedAt);
    logScenario('peer sends wrong bytes', [r], {
      corruptedMessages: (await peerFaultCounters(liar)).corrupted,
      p2pAfterSeek: r.shoalLoads.filter((l) => l.source === 'p2p' && l.at > seekedAt).map((l) => segmentIndex(l.segmentId)),
      dropped: dropped ? `${dropped.peerId} ${Math.round(dropped.at - seekedAt)} ms after the seek` : 'no',
      comebackAfterMs: Math.round(comebackAt - seekedAt),
      stallsAfterSeek: r.stallLog.map((s) => ({ ...s, at: Math.round(s.at - seekedAt) })),
      loadsAfterSeek: r.shoalLoads.filter((l) => l.at > seekedAt).map((l) => `${Math.round(l.at - seekedAt)}:${l.source}:${l.segmentId.replace(/^.*\/(\w+)\/seg-/, '$1/')}`),
      events: r.shoalEvents.filter((e) => e.at > seekedAt).map((e) => `${Math.round(e.at - seekedAt)} ${e.name} ${e.peerId ?? ''} ${e.segmentId ?? ''} ${e.reason ?? e.message ?? ''}`),
    });

    await t.test('no fatal error, no stall', () => assertPlayedCleanly(r, 'victim'));
    await t.test("every fragment hls.js got is the origin's", () => assertOriginBytes(stack, r, 'victim'));
    await t.test('the victim drops the liar and does not take it back', () => {
      assert.equal(liarIds.size, 1, 'the liar is the only peer');
      assert.ok(dropped && liarIds.has(dropped.peerId), 'the liar was disconnected');
      const again = r.shoalEvents.filter((e) => e.at > dropped.at && e.peerId === dropped.peerId && e.name === 'peer-connected');
      assert.deepEqual(again, [], 'not connected again, though it came back');
      assert.deepEqual(r.shoalLoads.filter((l) => l.at > dropped.at && l.source === 'p2p'), [], 'no segment from a peer after the drop');
      assert.ok(events(liarReport, 'peer-disconnected').length > 0, 'the liar saw its connection to the victim close');
    });
    await t.test('segments come over HTTP instead', () => {
      const rejected = events(r, 'peer-fallback').filter((e) => e.at > seekedAt).map((e) => e.segmentId!);
      assert.ok(rejected.length > 0, 'a segment from the liar was turned down');
      for (const id of rejected) assert.deepEqual(loadsOf(r, id), ['http'], id);
      assert.ok(r.shoalLoads.some((l) => l.source === 'http' && l.at > (dropped?.at ?? Infinity)), 'HTTP loads after the drop');
    });
  });

  it('a connection that drops while both viewers stay: they reconnect to the tracker and meet again', { timeout: TEST_TIMEOUT_MS + 60_000 }, async (t) => {
    const stack = await stackFor(t, { origin: LONG_VOD });
    const first = await viewer(t, stack, 'stream=vod&verify&level=0');
    await playedFor(first, 2);
    const second = await connectedViewer(t, stack, 'stream=vod&verify&level=0', {}, { beforeLoad: trackConnections });
    const connectionsBefore = stack.tracker!.stats().connections;
    // The tracker saw their offer answered and counts them as partners; trystero tells it
    // nothing when the connection goes, and announces again only after minutes.
    const droppedAt = await second.evaluate(() => {
      for (const { pc } of (window as any).trackedConnections.peerConnections) if (pc.connectionState === 'connected') pc.close();
      return performance.now();
    });
    await waitForEvent(second, 'the dropped peer gone', 10_000, 'peer-disconnected', droppedAt);
    // The SDK reconnects after 20 s alone, then 40 s later. Usually the first reconnect is
    // enough. In 1 run of 16 here (and twice in CI) the new connection's handshake passed on
    // one side only; that side drops the silent peer 15 s later (the scenario after this one),
    // and the pair meets at the tracker again: the wait covers the second reconnect. Without
    // reconnects they would meet only at trystero's next announce, about 120 s after they joined.
    await waitForEvent(second, 'the two meeting again', 95_000, 'peer-connected', droppedAt);
    const metAgainAt = await second.evaluate((since: number) => (window as any).shoalEvents.find((e: any) => e.name === 'peer-connected' && e.at > since).at, droppedAt);

    const reports = await Promise.all([first, second].map(verifiedReport));
    logScenario('connection dropped', reports, { metAgainAfterMs: Math.round(metAgainAt - droppedAt), trackerConnections: [connectionsBefore, stack.tracker!.stats().connections] });
    for (const [i, r] of reports.entries()) assertPlayedCleanly(r, i === 0 ? 'first' : 'second');
  });

  it('a handshake that passes on one side only: that side drops the silent peer, and the two meet again', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const stack = await stackFor(t, { origin: LONG_VOD });
    const first = await viewer(t, stack, 'stream=vod&verify&level=0', {}, { beforeLoad: injectPeerFaults });
    await playedFor(first, 2);
    // The first's "handshake passed" never reaches the second: the first's handshake passes, the
    // second's times out, and trystero keeps the second's end open for its other rooms.
    await setPeerFault(first, { mode: 'drop-handshake-ready', count: 1 });
    const second = await viewer(t, stack, 'stream=vod&verify&level=0');
    await waitForEvent(first, 'the first seeing the second connect', SDK_PAIRING_WAIT_MS, 'peer-connected');
    const connectedAt = events(await report(first), 'peer-connected')[0]!.at;
    await waitForEvent(first, 'the first dropping the silent peer', 30_000, 'peer-disconnected', connectedAt);
    // Then the pair meets like any other: tracker reconnects, offers, a handshake both ways.
    await waitForEvent(second, 'the two meeting', SDK_PAIRING_WAIT_MS + 20_000, 'peer-connected');
    // Each side's handshake ends when the other's "passed" arrives: the first may see it a moment later.
    await waitForEvent(first, 'the first meeting the second again', 10_000, 'peer-connected', connectedAt);

    const reports = await Promise.all([first, second].map(verifiedReport));
    const [firstReport, secondReport] = reports as [ViewerReport, ViewerReport];
    const droppedAt = events(firstReport, 'peer-disconnected')[0]!.at;
    const metAt = events(secondReport, 'peer-connected')[0]!.at;
    const firstNow = await pageNow(first);
    const secondNow = await pageNow(second);
    logScenario('one-sided handshake', reports, {
      handshakesSpoiled: (await peerFaultCounters(first)).handshakesSpoiled,
      silentForMs: Math.round(droppedAt - connectedAt),
      // On the first viewer's clock; the two pages' clocks differ by when each page loaded.
      metAgainAfterDropMs: Math.round(metAt + (firstNow - secondNow) - droppedAt),
      firstEvents: firstReport.shoalEvents.map((e) => `${Math.round(e.at)} ${e.name}`),
    });
    assert.equal((await peerFaultCounters(first)).handshakesSpoiled, 1);
    assert.ok(droppedAt - connectedAt >= PEER_HELLO_TIMEOUT_MS - 1000, `dropped ${Math.round(droppedAt - connectedAt)} ms after connecting: only once silent for the hello timeout`);
    assert.ok(events(firstReport, 'peer-connected').length >= 2, 'the first connected to the second again');
    for (const [i, r] of reports.entries()) assertPlayedCleanly(r, i === 0 ? 'first' : 'second');
  });

  it('WebRTC unavailable: plays over HTTP, no error, P2P reported off', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const stack = await stackFor(t);
    const withoutWebRtc: ViewerOptions = {
      beforeLoad: (page) =>
        page.evaluateOnNewDocument(() => {
          const w = window as any;
          for (const name of ['RTCPeerConnection', 'webkitRTCPeerConnection', 'mozRTCPeerConnection', 'RTCDataChannel', 'RTCSessionDescription', 'RTCIceCandidate']) delete w[name];
        }),
    };
    const pages = [await viewer(t, stack, 'stream=live&verify&level=0', {}, withoutWebRtc), await viewer(t, stack, 'stream=live&verify&level=0', {}, withoutWebRtc)];
    await Promise.all(pages.map((page) => playedFor(page, 8)));
    const reports = await Promise.all(pages.map(verifiedReport));
    logScenario('no WebRTC', reports);
    for (const [i, r] of reports.entries()) {
      assertPlayedCleanly(r, `viewer ${i}`);
      assert.equal(r.stats?.p2p, 'no-webrtc');
      assert.equal(r.stats?.p2pBytes, 0);
      assert.equal(r.stats?.httpBytes, r.fragments.reduce((s, f) => s + f.bytes, 0), 'every byte hls.js got came over HTTP through Shoal');
      assert.deepEqual(events(r, 'error'), []);
    }
  });

  it('hls.js destroyed and recreated on the same page: old engine gone, new one plays and gets P2P', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const stack = await stackFor(t);
    const other = await viewer(t, stack, 'stream=live&verify&level=0');
    const page = await connectedViewer(t, stack, 'stream=live&verify&level=0');
    await waitForAny([page, other], 'a first segment from a peer', 30_000, () => (window as any).shoalLoads.some((l: any) => l.source === 'p2p'));

    const { recreatedAt, ...engines } = await page.evaluate(() => {
      const w = window as any;
      const old = w.Shoal.instances[0];
      const at = performance.now();
      w.demo.recreate();
      const now = w.Shoal.instances;
      return { recreatedAt: at, count: now.length, same: now[0] === old, oldP2p: old.stats().p2p, newP2p: now[0]?.stats().p2p };
    });
    assert.deepEqual(engines, { count: 1, same: false, oldP2p: 'destroyed', newP2p: 'on' });
    await recordEngine(page);
    await waitFor(page, 'segments to or from peers on the new engine', 30_000, (since: number) => {
      const w = window as any;
      return w.shoalLoads.some((l: any) => l.source === 'p2p' && l.at > since) || w.Shoal.instances[0].stats().uploadedBytes > 0;
    }, recreatedAt);
    await waitFor(page, '4 s of playback on the new instance', 30_000, (since: number) => {
      const demo = (window as any).demo;
      return demo.fatalErrors.length > 0 || (demo.playingAt !== undefined && performance.now() - Math.max(since, demo.playingAt) > 4000);
    }, recreatedAt);

    const reports = await Promise.all([page, other].map(verifiedReport));
    logScenario('hls.js recreated', reports);
    for (const [i, r] of reports.entries()) {
      assertPlayedCleanly(r, i === 0 ? 'recreated' : 'other');
      assertOriginBytes(stack, r, i === 0 ? 'recreated' : 'other');
    }
    assert.ok((reports[0]!.stats?.p2pBytes ?? 0) + (reports[0]!.stats?.uploadedBytes ?? 0) > 0, 'the new engine exchanged segments with peers');
  });

  it('a level switch in two viewers: no error or stall, P2P in the new rendition', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const stack = await stackFor(t);
    const pages = [await viewer(t, stack, 'stream=live&verify&level=0'), await connectedViewer(t, stack, 'stream=live&verify&level=0')];
    await waitForAny(pages, 'a first segment from a peer', 30_000, () => (window as any).shoalLoads.some((l: any) => l.source === 'p2p'));
    // The earlier viewer first, so it is in the new rendition's swarm when the other joins it
    // (see orderPeerId).
    for (const page of pages) {
      // nextLevel: a switch at the next fragment, as ABR makes it (currentLevel flushes the buffer, which can stall plain hls.js too).
      await page.evaluate(() => ((window as any).demo.hls.nextLevel = 1));
      await waitFor(page, 'segments of the new rendition', 20_000, () => (window as any).demo.fragments.filter((f: any) => f.url.includes('/270p/')).length >= 2);
    }
    await waitForAny(pages, 'a 270p segment from a peer', 30_000, () => (window as any).shoalLoads.some((l: any) => l.source === 'p2p' && l.segmentId.includes('/270p/')));
    await Promise.all(pages.map((page) => playedFor(page, 16)));

    const reports = await Promise.all(pages.map(verifiedReport));
    const p2pNewLevel = reports.map((r) => r.shoalLoads.filter((l) => l.source === 'p2p' && l.segmentId.includes('/270p/')).length);
    logScenario('level switch', reports, { p2pNewLevel });
    for (const [i, r] of reports.entries()) {
      assertPlayedCleanly(r, `viewer ${i}`);
      assertOriginBytes(stack, r, `viewer ${i}`);
    }
    assert.ok(p2pNewLevel.some((n) => n > 0), 'segments of the new rendition came from peers');
  });

  it('a seek in VOD: playback resumes at the new position, bytes intact, peers used after the seek', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const stack = await stackFor(t, { origin: LONG_VOD });
    const ahead = await viewer(t, stack, 'stream=vod&verify&level=0');
    await playedFor(ahead, 2);
    await seek(ahead, 60);
    const seeker = await connectedViewer(t, stack, 'stream=vod&verify&level=0');
    await playedFor(seeker, 3);

    const seekedAt = await pageNow(seeker);
    await seek(seeker, 60);
    const afterForward = (await report(seeker)).shoalLoads.filter((l) => l.at > seekedAt && segmentIndex(l.segmentId) >= 30);
    await seek(seeker, 20);

    const reports = await Promise.all([seeker, ahead].map(verifiedReport));
    logScenario('VOD seek', reports, { afterForwardSeek: afterForward.map((l) => `${segmentIndex(l.segmentId)}:${l.source}`) });
    for (const [i, r] of reports.entries()) {
      assertPlayedCleanly(r, i === 0 ? 'seeker' : 'ahead');
      assertOriginBytes(stack, r, i === 0 ? 'seeker' : 'ahead');
    }
    assert.ok(
      afterForward.some((l) => l.source === 'p2p' || l.source === 'cache'),
      `after seeking to where the other viewer had been, segments from it: ${afterForward.map((l) => l.source)}`,
    );
  });
});

async function stackFor(t: TestContext, options: StackOptions = {}): Promise<Stack> {
  const stack = await startStack(options);
  t.after(() => stack.close());
  return stack;
}

/** Viewers opened so far on each stack: the next one's rank in joining order. */
const opened = new WeakMap<Stack, number>();

/**
 * A viewer whose uncaught page errors fail the test. Its trystero peer id sorts below those of
 * the viewers opened before it on the stack (see {@link orderPeerId}).
 */
async function viewer(t: TestContext, stack: Stack, query: string, shoalConfig: Record<string, unknown> = {}, options: ViewerOptions = {}): Promise<Page> {
  const rank = opened.get(stack) ?? 0;
  opened.set(stack, rank + 1);
  const errors: string[] = [];
  const page = await openViewer(stack, query, shoalConfig, {
    beforeLoad: async (p) => {
      p.on('pageerror', (error) => errors.push(error instanceof Error ? error.message : String(error)));
      await orderPeerId(p, rank);
      await options.beforeLoad?.(p);
    },
  });
  t.after(() => assert.deepEqual(errors, [], `uncaught errors on the page (${query})`));
  return page;
}

/**
 * First characters of trystero's peer ids, by joining rank: '0123456789AaBb...Zz' is its
 * alphabet, and 'z', 'y', 'x'... sort in that order.
 */
const RANK_CHARS = 'zyxwvutsrqponmlkjihgfedcba';

/**
 * Makes the page's trystero peer id start with `RANK_CHARS[rank]`, so that a viewer that joins
 * later has the smaller id, and so which of two viewers answers the other's offer is known in
 * advance: trystero (signal-handler.ts, handleOffer) ignores an offer when the receiver has
 * offers of its own outstanding (it always has) and the smaller id, and the tracker routes
 * offers accordingly (see relayShelvedOffers in tracker/server.ts). Scenarios such as the liar
 * coming back rely on who answers. trystero draws the id (`genId`, Math.random) first thing
 * when its bundle runs, so the first draw made by the bundle's script is the one forced.
 */
async function orderPeerId(page: Page, rank: number): Promise<void> {
  const charSet = '0123456789AaBbCcDdEeFfGgHhIiJjKkLlMmNnOoPpQqRrSsTtUuVvWwXxYyZz';
  const draw = (charSet.indexOf(RANK_CHARS[rank]!) + 0.5) / charSet.length;
  await page.evaluateOnNewDocument((forced: number) => {
    const random = Math.random;
    let done = false;
    Math.random = () => {
      const script = document.currentScript;
      if (done || !(script instanceof HTMLScriptElement) || !script.src.includes('/dist/shoal.min.js')) return random();
      done = true;
      return forced;
    };
  }, draw);
}

/** A VOD uploader that stops sending segment data after one chunk, and a downloader connected to it. */
async function uploaderCutAfterOneChunk(t: TestContext): Promise<{ stack: Stack; uploader: Page; downloader: Page }> {
  const stack = await stackFor(t, { origin: LONG_VOD });
  const uploader = await viewer(t, stack, 'stream=vod&verify&level=0', {}, { beforeLoad: injectPeerFaults });
  await playedFor(uploader, 2);
  await setPeerFault(uploader, { mode: 'drop', after: 1 });
  // The downloader loads as it plays (hls.js would fill this low-bitrate VOD whole at once), so
  // it still has segments to ask the uploader for when their pairing takes the SDK's tracker
  // reconnect (see SDK_PAIRING_WAIT_MS): one CI run met after 21 s with the whole VOD loaded.
  const downloader = await connectedViewer(t, stack, 'stream=vod&verify&level=0&maxBuffer=20');
  return { stack, uploader, downloader };
}

/** Opens a viewer and waits until it has a peer; its peers' ids must show {@link orderPeerId} at work. */
async function connectedViewer(t: TestContext, stack: Stack, query: string, shoalConfig: Record<string, unknown> = {}, options: ViewerOptions = {}): Promise<Page> {
  const rank = opened.get(stack) ?? 0;
  const page = await viewer(t, stack, query, shoalConfig, options);
  // Which step of the pairing failed, if it does: offers relayed, answered, then connected.
  const tracker = stack.tracker?.stats();
  const signaling = tracker ? `offers relayed ${tracker.offersRelayed}, answers relayed ${tracker.answersRelayed}, announces ${tracker.announces}` : 'tracker out of process';
  await waitForEvent(page, `a peer (tracker before it joined: ${signaling})`, SDK_PAIRING_WAIT_MS, 'peer-connected').catch((error: Error) => {
    const after = stack.tracker?.stats();
    throw new Error(`${error.message}; tracker after: ${after ? `offers relayed ${after.offersRelayed}, answers relayed ${after.answersRelayed}, announces ${after.announces}` : 'out of process'}`);
  });
  const peers = events(await report(page), 'peer-connected').map((e) => e.peerId!);
  const earlier = RANK_CHARS.slice(0, rank);
  assert.ok(peers.every((id) => earlier.includes(id[0]!)), `peer ids ordered by joining rank (${earlier}): ${peers}`);
  return page;
}

/** Waits for `predicate(arg)` to hold in the page; a timeout names what was awaited. */
async function waitFor<A = number>(page: Page, what: string, timeoutMs: number, predicate: (arg: A) => boolean, arg: A = 0 as A): Promise<void> {
  try {
    // puppeteer types the argument as it arrives in the page (handles unwrapped); plain values arrive as they are.
    await page.waitForFunction(predicate as (arg: unknown) => boolean, { timeout: timeoutMs, polling: 100 }, arg as unknown);
  } catch (error) {
    throw new Error(`waiting for ${what}: ${error instanceof Error ? error.message : String(error)}; the viewer: ${await summary(page)}`);
  }
}

/** Waits for the page's engine to emit `name` after `since` (the page's clock). */
function waitForEvent(page: Page, what: string, timeoutMs: number, name: ShoalEventRecord['name'], since = -1): Promise<void> {
  return waitFor(page, what, timeoutMs, (awaited: { name: string; since: number }) => (window as any).shoalEvents.some((e: any) => e.name === awaited.name && e.at > awaited.since), { name, since });
}

/** What a viewer did so far, for failure messages. */
async function summary(page: Page): Promise<string> {
  try {
    const r = await report(page);
    return JSON.stringify({
      loads: r.shoalLoads.map((l) => `${segmentIndex(l.segmentId)}:${l.source}`).join(' '),
      events: r.shoalEvents.map((e) => `${Math.round(e.at)} ${e.name} ${e.peerId ?? ''} ${e.reason ?? e.message ?? ''}`),
      stats: r.stats,
      stalls: r.stalls,
      fatalErrors: r.fatalErrors,
      currentTime: r.currentTime,
    });
  } catch (error) {
    return `unavailable (${error instanceof Error ? error.message : String(error)})`;
  }
}

async function waitForAny(pages: Page[], what: string, timeoutMs: number, predicate: () => boolean): Promise<void> {
  const controller = new AbortController();
  try {
    await Promise.any(pages.map((page) => page.waitForFunction(predicate, { timeout: timeoutMs, polling: 100, signal: controller.signal })));
  } catch {
    throw new Error(`waiting for ${what}: none within ${timeoutMs} ms; the viewers: ${(await Promise.all(pages.map(summary))).join(', ')}`);
  } finally {
    controller.abort();
  }
}

/** Seeks and resolves once 3 s have played from the new position. */
async function seek(page: Page, toSec: number): Promise<void> {
  await page.evaluate((to: number) => ((document.getElementById('video') as HTMLVideoElement).currentTime = to), toSec);
  await waitFor(page, `playback from ${toSec} s`, 20_000, (to: number) => {
    const video = document.getElementById('video') as HTMLVideoElement;
    return (window as any).demo.fatalErrors.length > 0 || (!video.seeking && video.currentTime >= to + 3 && video.currentTime < to + 15);
  }, toSec);
}

/** The report once every fragment hls.js got is hashed. */
async function verifiedReport(page: Page): Promise<ViewerReport> {
  await waitFor(page, 'fragment hashes', 5000, () => (window as any).demo.fragments.every((f: any) => f.sha256 !== undefined));
  return report(page);
}

function pageNow(page: Page): Promise<number> {
  return page.evaluate(() => performance.now());
}

function assertPlayedCleanly(r: ViewerReport, who: string): void {
  assert.deepEqual(r.fatalErrors, [], `${who}: fatal errors`);
  assert.equal(r.stalls, 0, `${who}: stalls (${r.stallSeconds.toFixed(1)} s): ${JSON.stringify(r.stallLog)}`);
}

function assertOriginBytes(stack: Stack, r: ViewerReport, who: string): void {
  const wrong = r.fragments.filter((f) => f.sha256 !== originSha256(stack.origin, f.url)).map((f) => f.url);
  assert.deepEqual(wrong, [], `${who}: fragments that differ from the origin's`);
}

function events(r: ViewerReport, name: ShoalEventRecord['name']): ShoalEventRecord[] {
  return r.shoalEvents.filter((e) => e.name === name);
}

/** Where each load of a segment came from, in order. */
function loadsOf(r: ViewerReport, segmentId: string): string[] {
  return r.shoalLoads.filter((l) => l.segmentId === segmentId).map((l) => l.source);
}

function segmentIndex(segmentId: string): number {
  return Number(/seg-(\d+)\.ts/.exec(segmentId)?.[1] ?? -1);
}

function logScenario(name: string, reports: ViewerReport[], extra: Record<string, unknown> = {}): void {
  const by = (source: string) => reports.map((r) => r.shoalLoads.filter((l) => l.source === source).length);
  console.log(JSON.stringify({ scenario: name, http: by('http'), p2p: by('p2p'), cache: by('cache'), stalls: reports.map((r) => r.stalls), ...extra }));
}

/** Polls a Node-side condition every 100 ms. */
async function until(what: string, timeoutMs: number, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`waiting for ${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

async function waitForTrackerPeers(port: number, peers: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    last = await fetch(`http://127.0.0.1:${port}/stats`).then((r) => r.json() as Promise<{ peers: number }>, (error: unknown) => error);
    if (typeof last === 'object' && last !== null && 'peers' in last && (last as { peers: number }).peers >= peers) return;
    await sleep(250);
  }
  throw new Error(`the restarted tracker saw fewer than ${peers} peers within ${timeoutMs} ms: ${JSON.stringify(last)}`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
