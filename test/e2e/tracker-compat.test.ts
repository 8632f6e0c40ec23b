/**
 * Protocol compatibility in real Chromium, both ways: Shoal's SDK works through a standard
 * WebTorrent tracker that knows nothing of Shoal (bittorrent-tracker's server), and stock
 * trystero (no Shoal code at all) pairs and talks through Shoal's tracker.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { startTracker } from '../../tracker/server.ts';
import { chromiumArgs, findChromium } from '../support/chromium-path.mjs';
import { startReferenceTracker } from '../support/reference-tracker.ts';
import { openViewer, originSha256, PAIRING_WAIT_MS, playedFor, report, startStack } from '../support/swarm-harness.ts';
import { startTrysteroPageServer } from '../support/trystero-page.ts';

const VIEWERS = 3;
const PLAY_SECONDS = 12;

describe("Shoal's SDK through a standard WebTorrent tracker (bittorrent-tracker's server)", () => {
  it('live viewers play without fatal errors and get segments from each other', { timeout: 90_000 }, async (t) => {
    const reference = await startReferenceTracker();
    const stack = await startStack({ trackerUrl: reference.url });
    t.after(async () => {
      await stack.close();
      await reference.close();
    });
    const pages: Page[] = [];
    for (let i = 0; i < VIEWERS; i++) {
      // The reference tracker has no integrity service: the documented setting for such trackers.
      pages.push(await openViewer(stack, 'stream=live&level=0&verify', { integrity: 'none' }));
      if (i < VIEWERS - 1) await new Promise((resolve) => setTimeout(resolve, 1500)); // an audience arrives over time
    }
    await Promise.all(pages.map((page) => playedFor(page, PLAY_SECONDS)));
    const reports = await Promise.all(pages.map(report));
    const p2p = reports.map((r) => r.shoalLoads.filter((l) => l.source === 'p2p'));
    console.log(JSON.stringify({ p2pSegments: p2p.map((l) => l.length), mostPeers: reports.map((r) => r.mostPeers), stalls: reports.map((r) => r.stalls) }));

    for (const r of reports) assert.deepEqual(r.fatalErrors, []);
    assert.ok(p2p.flat().length > 0, 'some segments came from peers');
    for (const r of reports) {
      const fromPeers = new Set(r.shoalLoads.filter((l) => l.source === 'p2p').map((l) => l.segmentId));
      for (const fragment of r.fragments.filter((f) => fromPeers.has(f.url))) {
        assert.equal(fragment.sha256, originSha256(stack.origin, fragment.url), `peer-delivered ${fragment.url} is the origin's file`);
      }
    }
  });
});

/** Launches headless Chromium; the test's teardown closes it. */
async function launchChromium(t: TestContext): Promise<Browser> {
  const executablePath = findChromium();
  if (!executablePath) throw new Error('no Chromium: run `node scripts/ensure-chromium.mjs`');
  const browser = await puppeteer.launch({ executablePath, headless: true, args: chromiumArgs });
  t.after(() => browser.close());
  return browser;
}

/**
 * Opens the trystero page in a fresh browser context and joins the room through `trackerUrl`
 * with trystero's own defaults but for STUN (none: there is no network beyond loopback).
 * Returns the page and its trystero peer id.
 */
async function joinFromPage(browser: Browser, pageUrl: string, trackerUrl: string): Promise<{ page: Page; selfId: string }> {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.goto(pageUrl);
  const selfId = await page.evaluate((url: string) => {
    const w = window as any;
    const { joinRoom, selfId } = w.trystero;
    w.events = [];
    const room = joinRoom({ appId: 'shoal-compat-test', relayConfig: { urls: [url] }, rtcConfig: { iceServers: [] } }, 'room');
    w.chat = room.makeAction('chat');
    room.onPeerJoin = (peerId: string) => w.events.push({ type: 'peer-join', peerId });
    w.chat.onMessage = (text: string, { peerId }: { peerId: string }) => w.events.push({ type: 'message', from: peerId, text });
    return selfId as string;
  }, trackerUrl);
  return { page, selfId };
}

/** Resolves with the first event of the page matching `type` and `peerId`/`from`. */
async function pageEvent(page: Page, type: 'peer-join' | 'message', peer: string, timeout: number): Promise<Record<string, string>> {
  const handle = await page.waitForFunction(
    (wanted: string, id: string) => (window as any).events.find((e: Record<string, string>) => e.type === wanted && (e.peerId ?? e.from) === id),
    { timeout, polling: 100 },
    type,
    peer,
  );
  return (await handle.jsonValue()) as Record<string, string>;
}

/**
 * Stock trystero has no reconnect of its own: a pairing missed once (an offer lost to a busy
 * machine) is made at its next announce, which it spaces as the tracker says, at least 10 s.
 * The reference tells WebSocket clients a fifth of its interval, 2 minutes by default, past
 * PAIRING_WAIT_MS (one CI run missed it so); 50 s makes that 10 s.
 */
const REFERENCE_INTERVAL_MS = 50_000;

for (const which of ['shoal', 'reference'] as const) {
  const name = which === 'shoal' ? "Shoal's tracker" : "bittorrent-tracker's server (the reference)";
  describe(`stock trystero (no Shoal code) in Chromium through ${name}`, () => {
    it('two pages meet and exchange a message each way', { timeout: 60_000 }, async (t) => {
      const tracker = which === 'shoal' ? await startTracker({ port: 0, host: '127.0.0.1' }) : await startReferenceTracker({ intervalMs: REFERENCE_INTERVAL_MS });
      const site = await startTrysteroPageServer();
      t.after(async () => {
        await site.close();
        await tracker.close();
      });
      const browser = await launchChromium(t);
      const [a, b] = await Promise.all([joinFromPage(browser, site.url, tracker.url), joinFromPage(browser, site.url, tracker.url)]);
      assert.notEqual(a.selfId, b.selfId);

      const started = Date.now();
      await Promise.all([pageEvent(a.page, 'peer-join', b.selfId, PAIRING_WAIT_MS), pageEvent(b.page, 'peer-join', a.selfId, PAIRING_WAIT_MS)]);
      console.log(JSON.stringify({ tracker: which, pairedMs: Date.now() - started }));
      await a.page.evaluate((to: string) => (window as any).chat.send('hello from A', { target: to }), b.selfId);
      await b.page.evaluate((to: string) => (window as any).chat.send('hello from B', { target: to }), a.selfId);
      const [atB, atA] = await Promise.all([pageEvent(b.page, 'message', a.selfId, 5000), pageEvent(a.page, 'message', b.selfId, 5000)]);
      assert.equal(atB.text, 'hello from A');
      assert.equal(atA.text, 'hello from B');
    });
  });
}
