/**
 * `npm start`: tracker, media origin and demo page on localhost, with embedded defaults.
 * Ports: tracker 8000, page 8080, origin 8081 (override with TRACKER_PORT, PAGE_PORT,
 * ORIGIN_PORT; HOST to listen elsewhere than localhost). Ctrl-C stops all three.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startTracker } from '../tracker/server.ts';
import { startOrigin } from './origin.ts';
import { startPageServer } from './page-server.ts';

const host = process.env.HOST ?? '127.0.0.1';
const publicHost = host === '0.0.0.0' ? 'localhost' : host === '127.0.0.1' ? 'localhost' : host;
const port = (name: string, fallback: number) => Number(process.env[name] ?? fallback);

if (!existsSync(fileURLToPath(new URL('../dist/shoal.min.js', import.meta.url)))) {
  console.error('dist/shoal.min.js is missing: run `npm run build` (npm install does it).');
  process.exit(1);
}

const origin = await startOrigin({ port: port('ORIGIN_PORT', 8081), host });
const originUrl = `http://${publicHost}:${origin.port}`;
// The tracker vouches for the origin's segments: viewers check what peers send against it.
const tracker = await startTracker({ port: port('TRACKER_PORT', 8000), host, integrityOrigins: [`${originUrl}/`] });
const trackerUrl = `ws://${publicHost}:${tracker.port}`;
const page = await startPageServer({ port: port('PAGE_PORT', 8080), host, trackerUrl, originUrl });

console.log(`Shoal demo running:
  tracker  ${trackerUrl}  (stats: http://${publicHost}:${tracker.port}/stats)
  origin   ${originUrl}  (live: /live/master.m3u8, VOD: /vod/master.m3u8)

  Open http://${publicHost}:${page.port}/ in two or more tabs (VOD: http://${publicHost}:${page.port}/?stream=vod).
  Ctrl-C stops everything.`);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await Promise.allSettled([page.close(), origin.close(), tracker.close()]);
  process.exit(0);
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
