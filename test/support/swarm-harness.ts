/**
 * Real swarms for end-to-end tests and benchmarks: a real tracker, a paced origin, the demo
 * page, and headless Chromium viewers, one browser context each.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { startOrigin, type OriginOptions, type RunningOrigin } from '../../demo/origin.ts';
import { startPageServer, type RunningPageServer } from '../../demo/page-server.ts';
import { startTracker, type RunningTracker } from '../../tracker/server.ts';
import { chromiumArgs, findChromium } from './chromium-path.mjs';

/**
 * How long a viewer gets to meet another through the tracker. It usually takes about a second;
 * a pairing missed once (an offer lost to a busy machine) is made at trystero's next announce,
 * so the waits that end at the pairing event allow for that.
 */
export const PAIRING_WAIT_MS = 30_000;

/**
 * How long a viewer running Shoal's SDK gets to meet another. A pair whose connection fails
 * after the tracker relayed the answer (one CI run in several) meets again only once the SDK
 * reconnects to the tracker (after 20 s alone), trystero announces on the new socket (about
 * 3 s) and the other viewer announces next (within 15 s, the tracker's interval for a peer short
 * of partners): about 38 s.
 */
export const SDK_PAIRING_WAIT_MS = 45_000;

export interface Stack {
  tracker: RunningTracker | undefined;
  origin: RunningOrigin;
  page: RunningPageServer;
  browser: Browser;
  close(): Promise<void>;
}

export interface StackOptions {
  /** Start a tracker in this process; `false`: none, and the page points at a closed port. @default true */
  tracker?: boolean;
  /** A tracker the test runs itself (e.g. as a process it kills): the page points at it, and the stack starts none. */
  trackerUrl?: string;
  /** Shoal's script tag on the page; `false`: plain hls.js. @default true */
  shoal?: boolean;
  origin?: OriginOptions;
}

/** Starts tracker (unless `tracker: false` or `trackerUrl`), origin, page and browser. */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const origin = await startOrigin({ port: 0, host: '127.0.0.1', ...options.origin });
  const tracker = options.tracker === false || options.trackerUrl ? undefined : await startTracker({ port: 0, host: '127.0.0.1', integrityOrigins: [`${origin.url}/`] });
  const trackerUrl = options.trackerUrl ?? (tracker ? `ws://127.0.0.1:${tracker.port}` : 'ws://127.0.0.1:9');
  const page = await startPageServer({ port: 0, host: '127.0.0.1', trackerUrl, originUrl: origin.url, shoal: options.shoal ?? true });
  const executablePath = findChromium();
  if (!executablePath) throw new Error('no Chromium: run `node scripts/ensure-chromium.mjs`');
  const browser = await puppeteer.launch({ executablePath, headless: true, args: chromiumArgs });
  return {
    tracker,
    origin,
    page,
    browser,
    async close() {
      await browser.close().catch(() => {});
      await Promise.allSettled([page.close(), origin.close(), tracker?.close()]);
    },
  };
}

export interface ViewerReport {
  fragments: Array<{ url: string; bytes: number; sha256?: string }>;
  /** Shoal's 'segment-loaded' events; `at` is the page's `performance.now()`. */
  shoalLoads: Array<{ segmentId: string; source: string; bytes: number; peerId?: string; peerBytes?: number; at: number }>;
  /** Shoal's peer and error events, in order. */
  shoalEvents: ShoalEventRecord[];
  stalls: number;
  stallSeconds: number;
  stallLog: { at: number; currentTime: number; buffered: string }[];
  mostPeers: number;
  startupMs: number | undefined;
  fatalErrors: string[];
  currentTime: number;
  /** Mean distance from the live edge while playing; undefined for VOD. */
  liveLatencySec: number | undefined;
  /** Where hls.js aims to play behind the live edge (`hls.targetLatency`), and the playlist's target duration. */
  targetLatencySec: number | null;
  targetDurationSec: number | undefined;
  stats: { httpBytes: number; p2pBytes: number; uploadedBytes: number; peers: number; p2p: string; peerFallbacks: number } | undefined;
}

/** One of Shoal's 'peer-connected', 'peer-disconnected', 'peer-fallback' or 'error' events. */
export interface ShoalEventRecord {
  name: 'peer-connected' | 'peer-disconnected' | 'peer-fallback' | 'error';
  /** The page's `performance.now()`. */
  at: number;
  peerId?: string;
  swarmId?: string;
  segmentId?: string;
  reason?: string;
  message?: string;
}

/** Options of {@link openViewer}. */
export interface ViewerOptions {
  /** Runs before the page loads, e.g. to add `evaluateOnNewDocument` scripts. */
  beforeLoad?: (page: Page) => Promise<unknown>;
}

/**
 * Opens the demo page in a fresh browser context; records Shoal's segment and peer events and
 * the most peers it held at once from the start. `shoalConfig` becomes `window.shoalConfig`.
 * An engine created later on the page (a new `Hls`) is recorded after `recordEngine(page)`.
 */
export async function openViewer(stack: Stack, query: string, shoalConfig: Record<string, unknown> = {}, options: ViewerOptions = {}): Promise<Page> {
  const context = await stack.browser.createBrowserContext();
  const page = await context.newPage();
  await page.evaluateOnNewDocument((config: Record<string, unknown>) => {
    const w = window as any;
    w.shoalConfig = config;
    w.shoalLoads = [];
    w.shoalEvents = [];
    w.mostPeers = 0;
    w.recordShoalEngine = (engine: any) => {
      engine.on('segment-loaded', (event: object) => w.shoalLoads.push({ ...event, at: performance.now() }));
      engine.on('peer-connected', () => (w.mostPeers = Math.max(w.mostPeers, engine.stats().peers)));
      for (const name of ['peer-connected', 'peer-disconnected', 'peer-fallback']) {
        engine.on(name, (event: object) => w.shoalEvents.push({ name, at: performance.now(), ...event }));
      }
      engine.on('error', (event: { message: string }) => w.shoalEvents.push({ name: 'error', at: performance.now(), message: event.message }));
    };
    document.addEventListener('DOMContentLoaded', () => {
      const engine = w.Shoal?.instances[0];
      if (engine) w.recordShoalEngine(engine);
    });
  }, shoalConfig);
  await options.beforeLoad?.(page);
  await page.goto(`${stack.page.url}/?${query}`);
  return page;
}

/** Starts recording the events of the page's current engine (`Shoal.instances[0]`), e.g. after a new `Hls`. */
export async function recordEngine(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as any;
    w.recordShoalEngine(w.Shoal.instances[0]);
  });
}

/** Resolves once the viewer has played `seconds` of media. */
export async function playedFor(page: Page, seconds: number): Promise<void> {
  await page.waitForFunction(
    (target: number) => {
      const demo = (window as any).demo;
      const video = document.getElementById('video') as HTMLVideoElement;
      return demo.fatalErrors.length > 0 || (demo.playingAt !== undefined && video.played.length > 0 && totalPlayed(video) >= target);
      function totalPlayed(v: HTMLVideoElement): number {
        let sum = 0;
        for (let i = 0; i < v.played.length; i++) sum += v.played.end(i) - v.played.start(i);
        return sum;
      }
    },
    { timeout: (seconds + 60) * 1000, polling: 250 },
    seconds,
  );
}

export async function report(page: Page): Promise<ViewerReport> {
  return page.evaluate(() => {
    const w = window as any;
    const demo = w.demo;
    const video = document.getElementById('video') as HTMLVideoElement;
    const samples: number[] = demo.latencySamples;
    return {
      fragments: demo.fragments,
      shoalLoads: w.shoalLoads,
      shoalEvents: w.shoalEvents,
      stalls: demo.stalls,
      mostPeers: w.mostPeers,
      stallSeconds: demo.stallSeconds,
      stallLog: demo.stallLog,
      startupMs: demo.playingAt === undefined ? undefined : demo.playingAt - demo.startedAt,
      fatalErrors: demo.fatalErrors,
      currentTime: video.currentTime,
      liveLatencySec: samples.length > 0 ? samples.reduce((a, b) => a + b, 0) / samples.length : undefined,
      targetLatencySec: demo.hls.targetLatency,
      targetDurationSec: demo.hls.levels.find((level: any) => level.details)?.details.targetduration,
      stats: w.Shoal?.instances[0]?.stats(),
    };
  });
}

/** SHA-256 of the fixture file the origin serves at a segment URL. */
export function originSha256(origin: RunningOrigin, url: string): string {
  const file = origin.segmentFile(new URL(url).pathname);
  if (!file) throw new Error(`not a segment URL: ${url}`);
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** Media bytes hls.js received, over all viewers. */
export function bytesReceivedByPlayers(reports: ViewerReport[]): number {
  return reports.reduce((sum, r) => sum + r.fragments.reduce((s, f) => s + f.bytes, 0), 0);
}
