/**
 * `npm run bench:swarm -- --viewers N --seconds S --stream live|vod [--player shoal|hls]
 *  [--stagger-ms MS] [--config JSON]`   (--config: Shoal options, as window.shoalConfig)
 *
 * Real swarms in headless Chromium: tracker + paced origin (60 ms to first byte, ~20 Mbit/s per
 * response by default) + the demo page, N viewers in their own browser contexts joining
 * `--stagger-ms` apart, each playing S seconds. Without `--player`, plain hls.js and Shoal run
 * one after the other on the same stream in the same invocation. Prints JSON: offload measured
 * at the origin against the bytes hls.js received, stalls, startup time and live latency, and
 * Shoal's figures as ratios to plain hls.js.
 */
import { parseArgs } from 'node:util';
import { bytesReceivedByPlayers, openViewer, playedFor, report, startStack, type ViewerReport } from '../support/swarm-harness.ts';

const { values } = parseArgs({
  options: {
    viewers: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '120' },
    stream: { type: 'string', default: 'live' },
    player: { type: 'string' },
    'stagger-ms': { type: 'string' },
    'ttfb-ms': { type: 'string', default: '60' },
    'rate-bytes': { type: 'string', default: '2500000' },
    config: { type: 'string', default: '{}' },
  },
});

function positive(name: string, raw: string | undefined): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number (got ${raw})`);
  return n;
}

const viewers = positive('viewers', values.viewers);
const seconds = positive('seconds', values.seconds);
const stream = values.stream === 'vod' ? 'vod' : values.stream === 'live' ? 'live' : undefined;
if (!stream) throw new Error('--stream must be live or vod');
const staggerMs = values['stagger-ms'] === undefined ? 1500 : Number(values['stagger-ms']);
type Player = 'hls' | 'shoal';
const players: Player[] | undefined =
  values.player === undefined ? ['hls', 'shoal'] : values.player === 'hls' || values.player === 'shoal' ? [values.player] : undefined;
if (!players) throw new Error('--player must be shoal or hls');
/** The VOD fixture is 40 s: loop it so that every viewer can play `seconds` of it. */
const FIXTURE_SECONDS = 40;
const origin = {
  ttfbMs: Number(values['ttfb-ms']),
  rateBytesPerSec: Number(values['rate-bytes']),
  vodLoops: Math.ceil((seconds + 10) / FIXTURE_SECONDS),
};

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted.length === 0 ? undefined : (sorted[Math.floor((sorted.length - 1) / 2)] as number + (sorted[Math.ceil((sorted.length - 1) / 2)] as number)) / 2;
};
const round = (x: number | undefined, digits = 3) => (x === undefined ? undefined : Number(x.toFixed(digits)));

async function run(player: Player) {
  const stack = await startStack({ shoal: player === 'shoal', origin });
  try {
    const pages = [];
    for (let i = 0; i < viewers; i++) {
      pages.push(await openViewer(stack, `stream=${stream}`, JSON.parse(values.config)));
      if (i < viewers - 1) await new Promise((resolve) => setTimeout(resolve, staggerMs));
    }
    await Promise.all(pages.map((page) => playedFor(page, seconds)));
    const reports: ViewerReport[] = await Promise.all(pages.map(report));
    const originBytes = stack.origin.mediaBytesSent();
    const integrityBytes = stack.origin.integrityBytesSent();
    const playerBytes = bytesReceivedByPlayers(reports);
    const latencies = reports.map((r) => r.liveLatencySec).filter((x): x is number => x !== undefined);
    return {
      offload: round(1 - originBytes / playerBytes),
      originBytes,
      // The tracker's integrity service fetches each segment once: part of originBytes, shown
      // apart because a site can route it to its origin rather than through the CDN.
      integrityBytes,
      offloadViewersOnly: round(1 - (originBytes - integrityBytes) / playerBytes),
      playerBytes,
      stalls: { count: reports.reduce((s, r) => s + r.stalls, 0), seconds: round(reports.reduce((s, r) => s + r.stallSeconds, 0), 2) },
      startupMs: {
        median: round(median(reports.map((r) => r.startupMs ?? Infinity)), 0),
        max: round(Math.max(...reports.map((r) => r.startupMs ?? Infinity)), 0),
        byViewer: reports.map((r) => round(r.startupMs, 0)),
      },
      liveLatencySec: stream === 'live' ? { median: round(median(latencies), 2), byViewer: reports.map((r) => round(r.liveLatencySec, 2)) } : undefined,
      fatalErrors: reports.flatMap((r) => r.fatalErrors),
      segmentsFromPeers: player === 'shoal' ? reports.reduce((s, r) => s + r.shoalLoads.filter((l) => l.source === 'p2p').length, 0) : undefined,
      segmentsOverHttp: player === 'shoal' ? reports.reduce((s, r) => s + r.shoalLoads.filter((l) => l.source === 'http').length, 0) : undefined,
      // How well the tracker meshed the swarm: each viewer's peers at the end, in joining order.
      peersPerViewer: player === 'shoal' ? reports.map((r) => r.stats?.peers ?? 0) : undefined,
    };
  } finally {
    await stack.close();
  }
}

const results: Record<string, Awaited<ReturnType<typeof run>>> = {};
for (const player of players) results[player] = await run(player);
const { hls, shoal } = results;
const output = {
  benchmark: 'swarm',
  viewers,
  seconds,
  stream,
  staggerMs,
  origin,
  ceiling: round((viewers - 1) / viewers),
  ...results,
  ...(hls && shoal
    ? {
        comparison: {
          startupRatio: round((shoal.startupMs.median ?? 0) / (hls.startupMs.median ?? 1), 2),
          liveLatencyDeltaSec: stream === 'live' ? round((shoal.liveLatencySec?.median ?? 0) - (hls.liveLatencySec?.median ?? 0), 2) : undefined,
          extraStalls: shoal.stalls.count - hls.stalls.count,
        },
      }
    : {}),
};
console.log(JSON.stringify(output, null, 2));
