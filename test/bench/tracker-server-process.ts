/**
 * `node --import tsx --expose-gc test/bench/tracker-server-process.ts shoal [OPTIONS_JSON] | reference`
 *
 * Runs one tracker for the tracker benchmark (test/bench/tracker.ts), alone in its process so
 * that its CPU time and memory are its own (the benchmark runs it bundled, without tsx).
 * Either Shoal's tracker (OPTIONS_JSON: any {@link TrackerOptions} but the address) or the
 * reference `bittorrent-tracker` server, WebSocket only, on a free port of 127.0.0.1. Once
 * listening it prints one JSON line on stdout, `{"port", "openFilesLimit", "openFiles"}`, then
 * answers the parent's calls over IPC ({@link ServerApi}). It exits when the parent goes away.
 */
import type { AddressInfo, Socket } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Server } from 'bittorrent-tracker';
import { startTracker, type TrackerOptions } from '../../tracker/server.ts';
import { openFileCount, openFilesLimit } from './open-files.ts';
import { serveRpc } from './tracker-ipc.ts';

export type TrackerKind = 'shoal' | 'reference';

/** Sampling period of the event-loop delay, in milliseconds: finer than any stall worth seeing. */
const LOOP_DELAY_RESOLUTION_MS = 5;

/** What the tracker process answers. */
export type ServerApi = {
  /**
   * CPU time used so far, a wall clock to divide its increase by, and how late the event loop
   * ran since the previous sample: stalls (long collections, long synchronous work) show there.
   */
  sample: { params: undefined; result: { cpuMicros: number; wallMs: number; eventLoopDelayMs: { p99: number; max: number } } };
  /** Memory after forced garbage collections, so that only live data counts. */
  memory: { params: undefined; result: { rssBytes: number; heapUsedBytes: number } };
  status: { params: undefined; result: TrackerStatus };
};

export interface TrackerStatus {
  /** Open WebSocket connections. */
  connections: number;
  /** Swarm memberships. */
  peersInSwarms: number;
  /**
   * What the tracker objected to, by kind: Shoal's count of messages answered with a
   * `failure reason`; the reference's `warning` events by message.
   */
  complaints: Record<string, number>;
}

interface RunningServer {
  port: number;
  status(): TrackerStatus;
}

/** Shoal's tracker options that the benchmark may set: all but the address. */
export type ShoalOptions = Omit<TrackerOptions, 'port' | 'host'>;

async function startShoal(options: ShoalOptions): Promise<RunningServer> {
  const tracker = await startTracker({ ...options, port: 0, host: '127.0.0.1' });
  return {
    port: tracker.port,
    status: () => {
      const stats = tracker.stats();
      const complaints: Record<string, number> = stats.rejected > 0 ? { rejected: stats.rejected } : {};
      return { connections: stats.connections, peersInSwarms: stats.peers, complaints };
    },
  };
}

async function startReference(): Promise<RunningServer> {
  const server = new Server({ udp: false, http: false, ws: true, stats: false, trustProxy: false });
  const warnings: Record<string, number> = {};
  server.on('warning', (err: Error) => {
    warnings[err.message] = (warnings[err.message] ?? 0) + 1;
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  server.on('error', (err: Error) => console.error('reference tracker error:', err));
  // The WebSocket server is attached to this HTTP server, and keeps no list of its clients:
  // the HTTP server's count of open TCP connections is the count of WebSocket connections.
  const http = server.http;
  if (http === null) throw new Error('bittorrent-tracker started without the HTTP server of its WebSocket server');
  let connections = 0;
  http.on('connection', (socket: Socket) => {
    connections++;
    socket.once('close', () => connections--);
  });
  return {
    port: (http.address() as AddressInfo).port,
    status: () => ({
      connections,
      peersInSwarms: Object.values(server.torrents).reduce((sum, swarm) => sum + swarm.peers.length, 0),
      complaints: { ...warnings },
    }),
  };
}

/** Memory after three full collections, with pauses for the finalizers that free more in between. */
async function memoryAfterGc(): Promise<{ rssBytes: number; heapUsedBytes: number }> {
  const collect = globalThis.gc;
  if (collect === undefined) throw new Error('run with --expose-gc');
  for (let round = 0; round < 3; round++) {
    collect();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const { rss, heapUsed } = process.memoryUsage();
  return { rssBytes: rss, heapUsedBytes: heapUsed };
}

const [kind, shoalOptions = '{}'] = process.argv.slice(2);
if (kind !== 'shoal' && kind !== 'reference') {
  console.error('usage: tracker-server-process.ts shoal [OPTIONS_JSON] | reference');
  process.exit(2);
}
const server = kind === 'shoal' ? await startShoal(JSON.parse(shoalOptions) as ShoalOptions) : await startReference();
process.stdout.write(`${JSON.stringify({ port: server.port, openFilesLimit: openFilesLimit(), openFiles: openFileCount() })}\n`);

const loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
loopDelay.enable();

serveRpc<ServerApi>({
  sample: () => {
    const { user, system } = process.cpuUsage();
    const eventLoopDelayMs = { p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 };
    loopDelay.reset();
    return { cpuMicros: user + system, wallMs: performance.now(), eventLoopDelayMs };
  },
  memory: memoryAfterGc,
  status: () => server.status(),
});
