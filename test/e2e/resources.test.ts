/**
 * Resources, in real headless Chromium viewers against a real tracker, the paced demo origin
 * and the demo page: the persistent VOD cache across a reload (and with IndexedDB broken), the
 * memory cache's cap over a long session, and what destroying engines leaves behind.
 *
 * Newcomers. trystero (torrent strategy) ignores an offer from a peer whose id sorts above its
 * own while it has offers of its own outstanding (always, once it has announced), expecting that
 * peer to answer one of its offers instead; but the tracker relays only the announcing viewer's
 * offers, then holds the pair reserved for 30 s. So a newcomer whose id sorts above an existing
 * viewer's meets it only at that viewer's next announce, `announceIntervalSec` (120 s) later.
 * Scenarios that need a newcomer to meet an existing viewer give the newcomer the lowest id
 * there is ({@link lowestPeerId}), which every existing viewer answers.
 *
 * Viewers pin the lowest rendition (`level=0`), so every viewer is in one swarm.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { Page } from 'puppeteer-core';
import { connectionsOf, describeConnections, trackConnections, type TrackedConnection } from '../support/page-connections.ts';
import { openViewer, originSha256, SDK_PAIRING_WAIT_MS, playedFor, report, startStack, type Stack, type StackOptions, type ViewerOptions, type ViewerReport } from '../support/swarm-harness.ts';

/** Upper bound of one scenario; each takes well under half of it here. */
const TEST_TIMEOUT_MS = 150_000;
const VOD = 'stream=vod&verify&level=0';
const LIVE = 'stream=live&level=0';

describe('the persistent VOD cache, in real Chromium viewers', () => {
  it('survives a reload: the stored segments play from it, not from the origin, and a newcomer gets them from the reloaded viewer', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    // 120 s of VOD: the reloaded viewer's buffer soon reaches past what it stored.
    await reloadAndServe(t, { vodLoops: 3 }, (page) => playedFor(page, 6));
  });

  it('a viewer holding the whole VOD in it still serves a newcomer after a reload', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    await reloadAndServe(t, { vodLoops: 1 }, async (page) => {
      await waitFor(page, 'the whole VOD loaded', 60_000, () => new Set((window as any).demo.fragments.map((f: { url: string }) => f.url)).size >= 20);
      // Segments 1 to 19 at least: the first may have arrived before IndexedDB was open.
      await waitUntil('the whole VOD in the persistent cache', 10_000, async () => {
        const indices = new Set((await storedSegmentIds(page)).map(segmentIndex));
        return Array.from({ length: 19 }, (_, i) => i + 1).every((i) => indices.has(i));
      });
    });
  });

  const brokenIndexedDb: Record<string, () => void> = {
    missing: () => Object.defineProperty(window, 'indexedDB', { configurable: true, value: undefined }),
    'throwing on access': () =>
      Object.defineProperty(window, 'indexedDB', {
        configurable: true,
        get() {
          throw new DOMException('IndexedDB blocked by the test', 'SecurityError');
        },
      }),
    // As a corrupt profile or a full disk does: the open request fails a moment later.
    'failing to open': () => {
      IDBFactory.prototype.open = function () {
        const request: any = { error: new DOMException('Internal error opening backing store', 'UnknownError'), result: undefined };
        setTimeout(() => request.onerror?.(new Event('error')));
        return request;
      };
    },
  };
  for (const [name, breakIndexedDb] of Object.entries(brokenIndexedDb)) {
    it(`with IndexedDB ${name}: playback carries on, an 'error' event names the persistent cache, nothing throws`, { timeout: TEST_TIMEOUT_MS }, async (t) => {
      const stack = await stackFor(t);
      const errors: string[] = [];
      const page = await openViewer(stack, VOD, {}, {
        beforeLoad: async (p) => {
          p.on('pageerror', (error) => errors.push(error instanceof Error ? error.message : String(error)));
          await p.evaluateOnNewDocument('globalThis.__name ??= (fn) => fn;');
          await p.evaluateOnNewDocument(breakIndexedDb);
          await recordErrorsFromBirth(p);
        },
      });
      await playedFor(page, 4);
      const r = await report(page);
      const warnings = await page.evaluate(() => (window as any).shoalErrorsFromBirth as string[]);
      const destroyed = await page.evaluate(async () => {
        const w = window as any;
        const engine = w.Shoal.instances[0];
        const outcome = await engine.destroy().then(
          () => 'resolved',
          (error: unknown) => `rejected: ${String(error)}`,
        );
        w.demo.hls.destroy();
        return { outcome, engines: w.Shoal.instances.length };
      });
      console.log(JSON.stringify({ scenario: `IndexedDB ${name}`, warnings, pageErrors: errors, destroyed, loads: bySource(r) }));

      const cacheWarnings = warnings.filter((m) => /persistent cache/i.test(m));
      assertAll([
        [r.fatalErrors.length === 0, `no fatal hls.js error (${r.fatalErrors})`],
        [(r.stats?.httpBytes ?? 0) > 0 && r.stats?.p2p === 'on', `played over HTTP with P2P on (${JSON.stringify(r.stats)})`],
        [errors.length === 0, `no uncaught exception or unhandled rejection on the page (${errors.join('; ')})`],
        [cacheWarnings.length === 1, `one 'error' event naming the persistent cache, to a listener attached as new Hls() returned (${JSON.stringify(warnings)})`],
        [destroyed.outcome === 'resolved' && destroyed.engines === 0, `engine.destroy() resolves and leaves no engine (${JSON.stringify(destroyed)})`],
      ]);
    });
  }
});

describe('the memory cache, in a real Chromium viewer', () => {
  it('stays within cacheBytes over a VOD session that loads more than 3x as much', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const cacheBytes = 1_500_000;
    const stack = await stackFor(t, { origin: { vodLoops: 3 } });
    // The larger rendition: about 195 kB a segment, 7 of them fill the cache.
    const page = await viewer(t, stack, 'stream=vod&level=1', { cacheBytes }, { beforeLoad: sampleCacheBytes });
    await playedFor(page, 1);
    await page.evaluate(() => ((document.getElementById('video') as HTMLVideoElement).playbackRate = 4));
    await waitFor(page, `segments loaded past 3x cacheBytes, or the cache over it`, 60_000, (cap: number) => {
      const samples = (window as any).cacheSamples;
      return samples.loadedBytes > 3 * cap || samples.maxCacheBytes > cap;
    }, cacheBytes);
    const samples = await page.evaluate(() => (window as any).cacheSamples as { loadedBytes: number; maxCacheBytes: number; count: number });
    const r = await report(page);
    console.log(JSON.stringify({ scenario: 'memory cache cap', cacheBytes, ...samples, final: r.stats }));

    assertAll([
      [r.fatalErrors.length === 0, `no fatal hls.js error (${r.fatalErrors})`],
      [samples.maxCacheBytes <= cacheBytes, `the cache never over its cap of ${cacheBytes} B (at most ${samples.maxCacheBytes} B)`],
      [samples.loadedBytes > 3 * cacheBytes, `more than 3x the cap loaded (${samples.loadedBytes} B)`],
      [samples.maxCacheBytes > cacheBytes / 2, `the cache filled up towards its cap (at most ${samples.maxCacheBytes} B)`],
      [samples.count >= 50, `sampled often (${samples.count} samples)`],
    ]);
  });
});

describe('destroy(), in a real Chromium page', () => {
  const ENGINES = 20;
  /** Time given to connections to close once the last engine is destroyed. */
  const RELEASE_MS = 10_000;

  // trystero keeps its tracker WebSocket and its pool of unanswered offers (RTCPeerConnections
  // that never left 'new') in module state shared by the page, beyond any room: those are
  // reported, not asserted. Every connection that carried a peer must be closed.
  it(`${ENGINES} engines destroyed one after another leave no engine and no peer connection open`, { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const stack = await stackFor(t);
    const tracker = stack.tracker!;
    const peer = await viewer(t, stack, LIVE);
    await playedFor(peer, 2);
    await waitUntil('the peer viewer at the tracker', 10_000, () => tracker.stats().peers >= 1);

    // The page under test tears its own player down at once, then creates and destroys engines.
    const page = await viewer(t, stack, LIVE, {}, {
      beforeLoad: async (p) => {
        await trackConnections(p);
        await lowestPeerId(p);
        await p.evaluateOnNewDocument(() => document.addEventListener('DOMContentLoaded', () => (window as any).demo.hls.destroy()));
      },
    });
    for (let engine = 1; engine <= ENGINES; engine++) {
      await startEngine(page, stack);
      // The first engine meets the peer (in half a second, but a pairing whose connection failed
      // takes the SDK's tracker reconnect, see SDK_PAIRING_WAIT_MS); the others are destroyed once
      // they have loaded and joined their swarm (a peer closed by the previous one takes trystero
      // seconds to forget).
      if (engine === 1) {
        await waitFor(page, 'engine 1 meeting the peer', SDK_PAIRING_WAIT_MS, () => {
          const engines = (window as any).Shoal.instances;
          return engines.length === 1 && engines[0].stats().peers > 0;
        });
      } else {
        await waitFor(page, `engine ${engine} loading a segment`, 20_000, () => {
          const engines = (window as any).Shoal.instances;
          const segments = engines[0]?.stats().segments;
          return engines.length === 1 && segments.http + segments.p2p + segments.cache > 1;
        });
      }
      const alive = await page.evaluate(() => {
        const w = window as any;
        w.engineHls.destroy();
        return w.Shoal.instances.length;
      });
      assert.equal(alive, 0, `engines alive after hls.destroy() of engine ${engine}`);
    }

    const created = await connectionsOf(page);
    // A connection whose handshake failed (as a first pairing's sometimes does here, see
    // SDK_PAIRING_WAIT_MS) never carried a peer: trystero keeps it, like its unanswered offers.
    const carriedPeer = (c: TrackedConnection) => c.kind === 'RTCPeerConnection' && c.open && c.everConnected === true;
    let open = created.filter((c) => c.open);
    const deadline = Date.now() + RELEASE_MS;
    while (open.some(carriedPeer) && Date.now() < deadline) {
      await sleep(250);
      open = (await connectionsOf(page)).filter((c) => c.open);
    }
    const fatalErrors = await page.evaluate(() => (window as any).engineFatalErrors as string[]);
    console.log(
      JSON.stringify({
        scenario: 'destroy',
        engines: ENGINES,
        peerConnectionsCreated: created.filter((c) => c.kind === 'RTCPeerConnection').length,
        webSocketsCreated: created.filter((c) => c.kind === 'WebSocket').length,
        openAfterRelease: describeConnections(open),
        tracker: tracker.stats(),
      }),
    );

    const engines = await page.evaluate(() => (window as any).Shoal.instances.length);
    assertAll([
      [fatalErrors.length === 0, `no fatal hls.js error (${fatalErrors})`],
      [engines === 0, `no engine in Shoal.instances (${engines})`],
      [created.some((c) => c.kind === 'RTCPeerConnection' && c.state.startsWith('closed')), 'a peer connection was made and closed'],
      [!open.some(carriedPeer), `no peer connection open ${RELEASE_MS / 1000} s after the last hls.destroy(), open: ${describeConnections(open)}`],
    ]);
  });
});

/**
 * Viewer A loads VOD until `warmUp` resolves and reloads its page (same browser context, same
 * IndexedDB): every segment its persistent cache held must load from it, none from the origin,
 * and A must serve a newcomer B, byte for byte the origin's segments.
 */
async function reloadAndServe(t: TestContext, origin: StackOptions['origin'], warmUp: (page: Page) => Promise<void>): Promise<void> {
  const stack = await stackFor(t, { origin });
  const a = await viewer(t, stack, VOD, {}, { beforeLoad: trackConnections });
  await warmUp(a);
  // Each segment is written in its own transaction, in order, after its 'segment-loaded' event:
  // once the newest one loaded is in the index, so are all the others the cache took.
  let loadedBefore: string[] = [];
  let stored: string[] = [];
  await waitUntil('the persistent cache holding the newest segment loaded', 10_000, async () => {
    stored = await storedSegmentIds(a);
    loadedBefore = (await report(a)).shoalLoads.map((l) => l.segmentId);
    return stored.includes(loadedBefore.at(-1) ?? '');
  });
  assert.ok(stored.length >= 5, `segments in the persistent cache before the reload: ${stored.length} of ${loadedBefore.length} loaded`);
  assert.deepEqual(stored.filter((id) => !loadedBefore.includes(id)), [], 'stored segments A never loaded');

  stack.origin.resetCounters();
  await a.reload();
  await waitFor(a, 'every stored segment loaded again after the reload', 40_000, (ids: string[]) => {
    const loads: Array<{ segmentId: string }> = (window as any).shoalLoads;
    return ids.every((id) => loads.some((l) => l.segmentId === id));
  }, stored);
  const reloaded = await report(a);
  const refetched = stored.filter((id) => stack.origin.bytesByPath().has(new URL(id).pathname));
  const notFromCache = stored.filter((id) => loadsOf(reloaded, id).join() !== 'cache').map((id) => `${id}: ${loadsOf(reloaded, id).join()}`);

  await waitUntil('the reloaded viewer joining its swarm (an announce to the tracker)', 20_000, async () =>
    (await connectionsOf(a)).some((c) => c.kind === 'WebSocket' && (c.sent ?? 0) > 0),
  );
  const b = await viewer(t, stack, VOD, {}, { beforeLoad: lowestPeerId });
  await waitFor(b, 'the newcomer meeting the reloaded viewer', SDK_PAIRING_WAIT_MS, () => ((window as any).Shoal.instances[0]?.stats().peers ?? 0) > 0);
  const metAt = await b.evaluate(() => performance.now());
  try {
    await waitFor(b, 'a segment from the reloaded viewer', 20_000, () => (window as any).shoalLoads.some((l: { source: string }) => l.source === 'p2p'));
  } catch (error) {
    const [ra, rb] = await Promise.all([report(a), report(b)]);
    const loads = rb.shoalLoads.map((l) => `${segmentIndex(l.segmentId)}:${l.source}@${Math.round(l.at - metAt)}`);
    const events = rb.shoalEvents.map((e) => `${e.name}@${Math.round(e.at - metAt)} ${e.reason ?? e.message ?? ''}`);
    throw new Error(`${(error as Error).message}; the newcomer's loads (segment:source@ms since it met the peer): ${loads.join(' ')}; its events: ${events.join(', ')}; stats A ${JSON.stringify(ra.stats)} B ${JSON.stringify(rb.stats)}`);
  }
  await playedFor(b, 4);
  const [ra, rb] = await Promise.all([report(a), verifiedReport(b)]);
  const storedFromPeer = rb.shoalLoads.filter((l) => l.source === 'p2p' && stored.includes(l.segmentId)).length;
  console.log(
    JSON.stringify({
      scenario: `reload, vodLoops ${origin?.vodLoops}`,
      loadedBeforeReload: loadedBefore.length,
      stored: stored.length,
      afterReload: bySource(reloaded),
      newcomer: bySource(rb),
      storedFromPeer,
      uploadedAfterReload: ra.stats?.uploadedBytes,
    }),
  );

  const wrong = rb.fragments.filter((f) => f.sha256 !== originSha256(stack.origin, f.url)).map((f) => f.url);
  assertAll([
    [ra.fatalErrors.length === 0 && rb.fatalErrors.length === 0, `no fatal hls.js error (A: ${ra.fatalErrors}, B: ${rb.fatalErrors})`],
    [notFromCache.length === 0, `every stored segment loaded from the cache after the reload, not: ${notFromCache.join(', ')}`],
    [refetched.length === 0, `no stored segment fetched from the origin after the reload, fetched: ${refetched.join(', ')}`],
    [(rb.stats?.p2pBytes ?? 0) > 0, `B received bytes from A (${rb.stats?.p2pBytes} B)`],
    [(ra.stats?.uploadedBytes ?? 0) > 0, `A uploaded after its reload (${ra.stats?.uploadedBytes} B)`],
    [storedFromPeer > 0, 'B got segments from A that A kept across its reload'],
    [wrong.length === 0, `B's fragments identical to the origin's, not: ${wrong.join(', ')}`],
  ]);
}

async function stackFor(t: TestContext, options: StackOptions = {}): Promise<Stack> {
  const stack = await startStack(options);
  t.after(() => stack.close());
  return stack;
}

/** A viewer whose uncaught page errors (exceptions, unhandled rejections) fail the test. */
async function viewer(t: TestContext, stack: Stack, query: string, shoalConfig: Record<string, unknown> = {}, options: ViewerOptions = {}): Promise<Page> {
  const errors: string[] = [];
  const page = await openViewer(stack, query, shoalConfig, {
    beforeLoad: async (p) => {
      p.on('pageerror', (error) => errors.push(error instanceof Error ? error.message : String(error)));
      // tsx compiles with esbuild's keepNames, which wraps named functions and classes in calls
      // to a `__name` helper that only exists in Node: give the page one.
      await p.evaluateOnNewDocument('globalThis.__name ??= (fn) => fn;');
      await options.beforeLoad?.(p);
    },
  });
  t.after(() => assert.deepEqual(errors, [], `uncaught errors on the page (${query})`));
  return page;
}

/**
 * Makes trystero's peer id on the page `00000000000000000000`, the lowest there is, so that every
 * existing viewer answers the page's offers (see "Newcomers" at the top of the file). trystero
 * draws the id from `Math.random` as Shoal's script loads; `Math.random` is itself again once the
 * script has assigned its global `Shoal`.
 */
async function lowestPeerId(page: Page): Promise<void> {
  await page.evaluateOnNewDocument(() => {
    const random = Math.random;
    Math.random = () => 0;
    let shoal: unknown;
    Object.defineProperty(window, 'Shoal', {
      configurable: true,
      get: () => shoal,
      set(value: unknown) {
        Math.random = random;
        shoal = value;
      },
    });
  });
}

/** A new `Hls` (P2P-enabled by the script tag) playing the live stream's lowest rendition on the page's video. */
async function startEngine(page: Page, stack: Stack): Promise<void> {
  await page.evaluate((originUrl: string) => {
    const w = window as any;
    const video = document.getElementById('video') as HTMLVideoElement;
    const hls = new w.Hls({ startLevel: 0 });
    w.engineFatalErrors ??= [];
    hls.on(w.Hls.Events.MANIFEST_PARSED, () => (hls.loadLevel = 0));
    hls.on(w.Hls.Events.ERROR, (_event: unknown, data: { fatal: boolean; type: string; details: string }) => {
      if (data.fatal) w.engineFatalErrors.push(`${data.type}: ${data.details}`);
    });
    hls.loadSource(`${originUrl}/live/master.m3u8`);
    hls.attachMedia(video);
    video.play().catch(() => {});
    w.engineHls = hls;
  }, stack.origin.url);
}

/**
 * Records the messages of every engine's 'error' events in `window.shoalErrorsFromBirth`, with a
 * listener attached the moment `new Hls()` returns: the earliest any page can listen.
 */
async function recordErrorsFromBirth(page: Page): Promise<void> {
  await page.evaluateOnNewDocument(() => {
    const w = window as any;
    w.shoalErrorsFromBirth = [];
    const recorded = new WeakSet<object>();
    let current: unknown;
    // hls.js, then Shoal's script tag, assign `window.Hls`; each class is wrapped on its way in.
    Object.defineProperty(window, 'Hls', {
      configurable: true,
      get: () => current,
      set(HlsClass: unknown) {
        if (typeof HlsClass !== 'function') {
          current = HlsClass;
          return;
        }
        current = class extends (HlsClass as new (...args: any[]) => object) {
          constructor(...args: any[]) {
            super(...args);
            for (const engine of w.Shoal?.instances ?? []) {
              if (recorded.has(engine)) continue;
              recorded.add(engine);
              engine.on('error', (event: { message: string }) => w.shoalErrorsFromBirth.push(event.message));
            }
          }
        };
      },
    });
  });
}

/** Keeps `window.cacheSamples`: the most `stats().cacheBytes` seen, after every segment and every 50 ms. */
async function sampleCacheBytes(page: Page): Promise<void> {
  await page.evaluateOnNewDocument(() => {
    const w = window as any;
    const samples = (w.cacheSamples = { loadedBytes: 0, maxCacheBytes: 0, count: 0 });
    document.addEventListener('DOMContentLoaded', () => {
      const engine = w.Shoal.instances[0];
      const sample = () => {
        samples.maxCacheBytes = Math.max(samples.maxCacheBytes, engine.stats().cacheBytes);
        samples.count++;
      };
      engine.on('segment-loaded', (event: { bytes: number }) => {
        samples.loadedBytes += event.bytes;
        sample();
      });
      setInterval(sample, 50);
    });
  });
}

/** Ids of the segments in the persistent cache (its documented IndexedDB layout: the "index" entry). */
function storedSegmentIds(page: Page): Promise<string[]> {
  return page.evaluate(
    () =>
      new Promise<string[]>((resolve, reject) => {
        const open = indexedDB.open('shoal-segments');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const db = open.result;
          const read = db.transaction('segments', 'readonly').objectStore('segments').get('index');
          read.onerror = () => reject(read.error);
          read.onsuccess = () => {
            db.close();
            resolve(((read.result?.entries ?? []) as Array<{ id: string }>).map((entry) => entry.id));
          };
        };
      }),
  );
}

/** Waits for `predicate(arg)` to hold in the page; a timeout names what was awaited. */
async function waitFor(page: Page, what: string, timeoutMs: number, predicate: (arg: any) => boolean, arg?: unknown): Promise<void> {
  try {
    await page.waitForFunction(predicate, { timeout: timeoutMs, polling: 100 }, arg);
  } catch (error) {
    throw new Error(`waiting for ${what}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Polls `check` in this process until it holds; a timeout names what was awaited. */
async function waitUntil(what: string, timeoutMs: number, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() >= deadline) throw new Error(`waiting for ${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** The report once every fragment hls.js got is hashed. */
async function verifiedReport(page: Page): Promise<ViewerReport> {
  await waitFor(page, 'fragment hashes', 5000, () => (window as any).demo.fragments.every((f: { sha256?: string }) => f.sha256 !== undefined));
  return report(page);
}

/** Asserts every claim at once, so that a failure names all those that do not hold. */
function assertAll(claims: Array<[holds: boolean, claim: string]>): void {
  assert.deepEqual(claims.filter(([holds]) => !holds).map(([, claim]) => claim), [], 'claims that do not hold');
}

/** Where each load of a segment came from, in order. */
function loadsOf(r: ViewerReport, segmentId: string): string[] {
  return r.shoalLoads.filter((l) => l.segmentId === segmentId).map((l) => l.source);
}

/** Segments handed to hls.js, by where they came from. */
function bySource(r: ViewerReport): Record<string, number> {
  const counts: Record<string, number> = { http: 0, p2p: 0, cache: 0 };
  for (const load of r.shoalLoads) counts[load.source] = (counts[load.source] ?? 0) + 1;
  return counts;
}

function segmentIndex(segmentId: string): number {
  return Number(/seg-(\d+)\.ts/.exec(segmentId)?.[1] ?? -1);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
