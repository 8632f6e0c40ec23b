/**
 * `npm run bench:sim -- --viewers 10,100,1000 [--seconds 120] [--seed 1] [--churn 0.1]
 *  [--upload-x 2] [--max-peers 8] [--max-uploads 4] [--config JSON]`   (--config: Shoal options)
 *
 * The swarm simulator: the SDK's real engine, scheduler, swarm and wire logic (the modules the
 * browser runs) on virtual time, over a simulated network (per-viewer upload and download
 * capacity, per-pair latency), a simulated tracker with trystero's pairing, a CDN with a time to
 * first byte, and join/leave churn. Deterministic for a seed. Prints JSON per swarm size:
 * offload (over the run, and from 20 s after the audience arrived), stalls, upload per viewer
 * (mean, p95, as multiples of the bitrate), tracker messages per viewer per minute, and how long
 * the player's segment loads took. SIM_DEBUG=1 traces every segment decision to stderr.
 */
import { parseArgs } from 'node:util';
import { SimNetwork, SimNode } from './network.ts';
import { SimTracker } from './rooms.ts';
import { simulatedFetch } from './cdn-fetch.ts';
import { SimViewer, type StreamSpec } from './viewer.ts';
import { VirtualTime } from './virtual-time.ts';

const { values } = parseArgs({
  options: {
    viewers: { type: 'string', default: '10,100,1000' },
    seconds: { type: 'string', default: '120' },
    seed: { type: 'string', default: '1' },
    churn: { type: 'string', default: '0.1' },
    'upload-x': { type: 'string', default: '2' },
    'max-peers': { type: 'string', default: '8' },
    'max-uploads': { type: 'string', default: '4' },
    margin: { type: 'string' },
    config: { type: 'string', default: '{}' },
    'join-seconds': { type: 'string', default: '10' },
  },
});

const BITRATE_BYTES_PER_SEC = 125_000; // 1 Mbit/s
/** `steadyOffload` counts from this long after the last viewer of the initial audience joined. */
const STEADY_AFTER_JOIN_SECONDS = 20;
const stream: StreamSpec = { segmentMs: 2000, segmentBytes: 2 * BITRATE_BYTES_PER_SEC, bitrateBytesPerSec: BITRATE_BYTES_PER_SEC };

function percentile(xs: number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

async function simulate(viewerCount: number) {
  const seconds = Number(values.seconds);
  const churnPerMinute = Number(values.churn);
  const uploadX = Number(values['upload-x']);
  const joinSeconds = Number(values['join-seconds']);
  const time = new VirtualTime(Number(values.seed));
  time.install();
  const network = new SimNetwork(time, { minLatencyMs: 10, maxLatencyMs: 60, cdnTtfbMs: 60, cdnBytesPerSec: 2_500_000 });
  const tracker = new SimTracker(time, network, 120_000);
  const nodes = new Map<string, SimNode>();
  (globalThis as any).fetch = simulatedFetch(network, nodes, stream.segmentBytes);
  // Connections are simulated by the rooms; the engine only checks that WebRTC exists.
  (globalThis as any).RTCPeerConnection ??= class {};
  const viewers: SimViewer[] = [];
  let nextId = 0;
  const options = {
    trackers: ['wss://tracker.sim'],
    // The simulated peers are honest and the simulated tracker has no integrity service.
    integrity: 'none',
    persistentCacheBytes: 0,
    maxPeers: Number(values['max-peers']),
    maxUploads: Number(values['max-uploads']),
    ...(values.margin === undefined ? {} : { bufferSafetyMarginSec: Number(values.margin) }),
    cacheBytes: 8 * stream.segmentBytes,
    debug: Boolean(process.env.SIM_DEBUG),
    ...JSON.parse(String(values.config)),
  };
  if (process.env.SIM_DEBUG) console.info = (message: string) => console.error(Math.round(time.now), message);
  const join = () => {
    const id = `v${String(nextId++).padStart(6, '0')}`;
    const node = new SimNode(id, { uploadBytesPerSec: uploadX * BITRATE_BYTES_PER_SEC, downloadBytesPerSec: 8 * BITRATE_BYTES_PER_SEC });
    nodes.set(id, node);
    const viewer = new SimViewer(node, time, stream, tracker, options);
    if (process.env.SIM_DEBUG) {
      viewer.engine.on('peer-fallback', (e) => console.error(Math.round(time.now), id, e.segmentId.slice(-12), e.reason));
      viewer.engine.on('segment-loaded', (e) => console.error(Math.round(time.now), id, e.segmentId.slice(-12), 'LOADED', e.source, e.peerId ?? '', Math.round(e.durationMs)));
    }
    viewers.push(viewer);
  };
  // The audience arrives over the first seconds, then churns: leavers are replaced at once.
  const start = 20_000;
  for (let i = 0; i < viewerCount; i++) time.at(start + time.random() * joinSeconds * 1000, join);
  const churnEveryMs = churnPerMinute > 0 ? 60_000 / (churnPerMinute * viewerCount) : Infinity;
  const churn = () => {
    const present = viewers.filter((v) => v.present && time.now - v.joinedAt > 5_000);
    const leaving = present[Math.floor(time.random() * present.length)];
    if (leaving) {
      leaving.leave();
      join();
    }
    time.setTimeout(churn, churnEveryMs);
  };
  if (Number.isFinite(churnEveryMs)) time.at(start + joinSeconds * 1000 + churnEveryMs, churn);
  const end = start + joinSeconds * 1000 + seconds * 1000;
  // The audience's arrival costs the CDN each newcomer's first segments: a long event's offload
  // is the one once that wave has passed, with churn still going on.
  const steadyFrom = Math.min(end, start + (joinSeconds + STEADY_AFTER_JOIN_SECONDS) * 1000);
  await time.run(steadyFrom);
  const atSteady = { cdnBytes: network.cdnBytes, ...network.cdnBytesByKind, playerBytes: viewers.reduce((s, v) => s + v.bytesReceived, 0) };
  await time.run(end);
  for (const viewer of viewers) viewer.finish();

  const playerBytes = viewers.reduce((s, v) => s + v.bytesReceived, 0);
  const uploadX100 = viewers.map((v) => {
    const presentSec = ((v.leftAt ?? end) - v.joinedAt) / 1000;
    return presentSec > 0 ? v.node.uploadedBytes / presentSec / BITRATE_BYTES_PER_SEC : 0;
  });
  const viewerMinutes = viewers.reduce((s, v) => s + ((v.leftAt ?? end) - v.joinedAt) / 60_000, 0);
  const startups = viewers.map((v) => v.startupMs).filter((x): x is number => x !== undefined);
  const loads = viewers.flatMap((v) => v.loadMs);
  const segments = { http: 0, p2p: 0, cache: 0, peerFallbacks: 0 };
  for (const viewer of viewers) {
    const stats = viewer.engine.stats();
    segments.http += stats.segments.http;
    segments.p2p += stats.segments.p2p;
    segments.cache += stats.segments.cache;
    segments.peerFallbacks += stats.peerFallbacks;
  }
  for (const viewer of viewers) if (viewer.present) viewer.leave();
  return {
    viewers: viewerCount,
    viewersOverall: viewers.length,
    simulatedSeconds: seconds + joinSeconds,
    offload: Number((1 - network.cdnBytes / playerBytes).toFixed(4)),
    steadyOffload: {
      offload: Number((1 - (network.cdnBytes - atSteady.cdnBytes) / Math.max(1, playerBytes - atSteady.playerBytes)).toFixed(4)),
      fromSecond: (steadyFrom - start) / 1000,
      // What the CDN still serves, as shares of the bytes played: whole segments, and the rests
      // of segments peers sent only part of in time.
      cdnShare: {
        wholeSegments: Number(((network.cdnBytesByKind.whole - atSteady.whole) / Math.max(1, playerBytes - atSteady.playerBytes)).toFixed(4)),
        rests: Number(((network.cdnBytesByKind.rest - atSteady.rest) / Math.max(1, playerBytes - atSteady.playerBytes)).toFixed(4)),
      },
    },
    ceiling: Number(((viewerCount - 1) / viewerCount).toFixed(4)),
    stalls: { count: viewers.reduce((s, v) => s + v.stalls, 0), seconds: Number((viewers.reduce((s, v) => s + v.stallMs, 0) / 1000).toFixed(2)) },
    startupMs: { median: Math.round(percentile(startups, 0.5)), p95: Math.round(percentile(startups, 0.95)) },
    // The player loads one segment at a time: a mean near the segment's duration leaves no time
    // to wait for peers without the player falling behind.
    playerLoadMs: { mean: Math.round(loads.reduce((a, b) => a + b, 0) / Math.max(1, loads.length)), p95: Math.round(percentile(loads, 0.95)), segmentMs: stream.segmentMs },
    uploadPerViewerXBitrate: { mean: Number((uploadX100.reduce((a, b) => a + b, 0) / uploadX100.length).toFixed(3)), p95: Number(percentile(uploadX100, 0.95).toFixed(3)), cap: uploadX },
    segments,
    trackerMessagesPerViewerPerMinute: Number((tracker.messages / viewerMinutes).toFixed(2)),
    events: time.events,
  };
}

const sizes = String(values.viewers).split(',').map(Number);
const results = [];
for (const size of sizes) {
  const started = Date.now();
  const result = await simulate(size);
  results.push({ ...result, wallSeconds: Number(((Date.now() - started) / 1000).toFixed(1)) });
}
console.log(
  JSON.stringify(
    {
      benchmark: 'sim',
      seed: Number(values.seed),
      stream: { bitrateKbps: (stream.bitrateBytesPerSec * 8) / 1000, segmentSec: stream.segmentMs / 1000 },
      uploadCapXBitrate: Number(values['upload-x']),
      churnPerMinute: Number(values.churn),
      maxPeers: Number(values['max-peers']),
      maxUploads: Number(values['max-uploads']),
      results,
    },
    null,
    2,
  ),
);
