/**
 * Opens the running demo (`npm start`) in two headless Chromium tabs (separate contexts, like
 * two viewers), waits until the second one has received bytes from peers, and saves a
 * screenshot of its dashboard.
 *
 *   npx tsx scripts/demo-screenshot.ts [pageUrl] [out.png]
 */
import puppeteer from 'puppeteer-core';
import { chromiumArgs, findChromium } from '../test/support/chromium-path.mjs';

const pageUrl = process.argv[2] ?? 'http://localhost:8080/';
const out = process.argv[3] ?? 'demo-dashboard.png';
const browser = await puppeteer.launch({ executablePath: findChromium(), headless: true, args: chromiumArgs });
try {
  const first = await (await browser.createBrowserContext()).newPage();
  await first.goto(pageUrl);
  const second = await (await browser.createBrowserContext()).newPage();
  await second.setViewport({ width: 1200, height: 560 });
  await second.goto(pageUrl);
  // Peer bytes rising on the dashboard is what a person opening two tabs should see.
  await second.waitForFunction(() => (window as any).Shoal.instances[0]?.stats().p2pBytes > 1_000_000, { timeout: 90_000, polling: 500 });
  await second.waitForFunction(() => (document.querySelector('video') as HTMLVideoElement).currentTime > 12, { timeout: 60_000, polling: 500 });
  await second.screenshot({ path: out });
  const tiles = await second.evaluate(() => [...document.querySelectorAll('.tile')].map((t) => t.textContent?.replace(/\s+/g, ' ').trim()));
  console.log(JSON.stringify({ screenshot: out, dashboard: tiles }));
} finally {
  await browser.close();
}
