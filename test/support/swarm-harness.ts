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

export interface Stack {
  tracker: RunningTracker | undefined;
  origin: RunningOrigin;
  page: RunningPageServer;
  browser: Browser;
  close(): Promise<void>;
}

/** Starts tracker (unless `tracker: false`; then the page points at a closed port), origin, page and browser. */
export async function startStack(options: { tracker?: boolean; shoal?: boolean; origin?: OriginOptions } = {}): Promise<Stack> {
  const tracker = options.tracker === false ? undefined : await startTracker({ port: 0, host: '127.0.0.1' });
  const origin = await startOrigin({ port: 0, host: '127.0.0.1', ...options.origin });
  const trackerUrl = tracker ? `ws://127.0.0.1:${tracker.port}` : 'ws://127.0.0.1:9';
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
  shoalLoads: Array<{ segmentId: string; source: string; bytes: number }>;
  stalls: number;
  stallSeconds: number;
  mostPeers: number;
  startupMs: number | undefined;
  fatalErrors: string[];
  currentTime: number;
  /** Mean distance from the live edge while playing; undefined for VOD. */
  liveLatencySec: number | undefined;
  stats: { httpBytes: number; p2pBytes: number; uploadedBytes: number; peers: number; p2p: string } | undefined;
}

/**
 * Opens the demo page in a fresh browser context; records Shoal's segment events and the most
 * peers it held at once from the start. `shoalConfig` becomes `window.shoalConfig`.
 */
export async function openViewer(stack: Stack, query: string, shoalConfig: Record<string, unknown> = {}): Promise<Page> {
  const context = await stack.browser.createBrowserContext();
  const page = await context.newPage();
  await page.evaluateOnNewDocument((config: Record<string, unknown>) => {
    const w = window as any;
    w.shoalConfig = config;
    w.shoalLoads = [];
    w.mostPeers = 0;
    document.addEventListener('DOMContentLoaded', () => {
      const engine = w.Shoal?.instances[0];
      engine?.on('segment-loaded', (event: unknown) => w.shoalLoads.push(event));
      engine?.on('peer-connected', () => (w.mostPeers = Math.max(w.mostPeers, engine.stats().peers)));
    });
  }, shoalConfig);
  await page.goto(`${stack.page.url}/?${query}`);
  return page;
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
      stalls: demo.stalls,
      mostPeers: w.mostPeers,
      stallSeconds: demo.stallSeconds,
      startupMs: demo.playingAt === undefined ? undefined : demo.playingAt - demo.startedAt,
      fatalErrors: demo.fatalErrors,
      currentTime: video.currentTime,
      liveLatencySec: samples.length > 0 ? samples.reduce((a, b) => a + b, 0) / samples.length : undefined,
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
