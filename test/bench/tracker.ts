/**
 * `npm run bench:tracker -- [--clients N] [--swarms S] [--seconds T] [--idle-peers P]
 *  [--offers K] [--in-flight F] [--generators G] [--warmup-seconds W]`
 *
 * Shoal's tracker against the reference `bittorrent-tracker` server (WebSocket only), one after
 * the other on this machine in one invocation. Each tracker runs alone in a child process
 * (tracker-server-process.ts, bundled to plain JavaScript so that no TypeScript loader weighs on
 * its memory), loaded by G load-generator processes (tracker-load-process.ts;
 * by default one per core the tracker leaves free), so that the tracker's CPU time and memory
 * are its own and the load does not compete with it for its core. Prints JSON on stdout;
 * progress goes to stderr. Per tracker:
 *
 * - `announcesPerSec`: throughput at saturation. N clients spread over S swarms join; then each
 *   repeats a cycle, F cycles outstanding, starting the next as soon as a reply comes (closed
 *   loop), for T seconds after W seconds of warm-up: leave the swarm (`event: 'stopped'`) and
 *   join it again with an announce carrying K offers, as an arriving viewer does (why leave
 *   first: see tracker-load-process.ts). Every client answers every offer relayed to it, so per
 *   announce with offers the tracker also handles a leave, relays K offers and K answers.
 *   Counted as replies to announces with offers received by the clients per second.
 *   `cpuPercent` is the tracker process's CPU time over that window: near 100 (one core) means
 *   the tracker was the bottleneck; well below, the load generators were
 *   (`loadGeneratorCpuPercent` shows theirs).
 * - `relayLatencyMs`: from a client sending an announce to one of its offers reaching another
 *   client, p50 and p99, at saturation and under an open-loop load of half the saturation rate
 *   (`atModerateLoad`). `offerAnswerRoundTripMs` runs until the answer is back at the offerer.
 *   At saturation the closed loop keeps N * F cycles queued, so latency there is mostly that
 *   queue: about N * F / announcesPerSec. At moderate load, `eventLoopDelayMs` is how late
 *   the tracker's event loop ran (p99, max): a stall of the tracker shows there, one of a load
 *   generator does not. (At saturation the loop never idles, so the figure means nothing.)
 * - `memory`: in a fresh tracker process, RSS and V8 heap after forced garbage collection with
 *   no connection (after a warm-up of a few peers, so that lazily compiled code and lazily
 *   built structures count in the baseline and not per peer), then with P idle peers connected,
 *   each having announced once (no offers, numwant 0). Per-peer bytes are the increase divided
 *   by the peers. A process holds no more sockets than its open-files limit (`ulimit -n`, which
 *   an unprivileged process cannot raise past the hard limit): P is capped just below the
 *   tracker process's limit. `rssMBAt20000Peers`, the figure of Shoal's target, is extrapolated
 *   from the per-peer bytes unless exactly 20,000 peers were measured.
 *
 * `problems` lists what would make a figure suspect: failure replies, replies nobody waited
 * for, connections that failed, and what the tracker itself complained about.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { LatencyHistogram, type HistogramBuckets } from './latency-histogram.ts';
import { openFilesLimit } from './open-files.ts';
import { RpcClient } from './tracker-ipc.ts';
import type { LoadApi, RunParams, RunResult } from './tracker-load-process.ts';
import type { ServerApi, ShoalOptions, TrackerKind } from './tracker-server-process.ts';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '2000' },
    swarms: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '10' },
    'idle-peers': { type: 'string', default: '20000' },
    offers: { type: 'string', default: '3' },
    'in-flight': { type: 'string', default: '1' },
    generators: { type: 'string', default: String(Math.max(1, cpus().length - 1)) },
    'warmup-seconds': { type: 'string', default: '2' },
  },
});

function positiveInteger(name: string, raw: string | undefined): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer (got ${raw})`);
  return n;
}

const params = {
  clients: positiveInteger('clients', values.clients),
  swarms: positiveInteger('swarms', values.swarms),
  seconds: positiveInteger('seconds', values.seconds),
  idlePeers: positiveInteger('idle-peers', values['idle-peers']),
  offersPerAnnounce: positiveInteger('offers', values.offers),
  inFlightPerClient: positiveInteger('in-flight', values['in-flight']),
  generators: positiveInteger('generators', values.generators),
  warmupSeconds: Number(values['warmup-seconds']),
  /** The open-loop load of the moderate-load latency run, as a fraction of the saturation rate. */
  moderateLoadFraction: 0.5,
};
if (!(params.warmupSeconds >= 0)) throw new Error('--warmup-seconds must be a number >= 0');
if (params.clients < params.swarms * 2) throw new Error('--clients must be at least twice --swarms: an offer needs another peer in its swarm');

/**
 * Shoal's per-connection protections, lifted for the throughput and latency runs so that it
 * does the same work as the reference. The rate limit (10 messages/s per connection): the
 * benchmark concentrates the traffic of many viewers on a few thousand connections, and with
 * it the tracker would mostly answer with refusals. The cap of connections handed to one client
 * (8): at saturation, answers come back after their offerer has already left and rejoined;
 * Shoal pairs the two anew for each such answer, clients fill up with these pairs, and it then
 * refuses about half the answers instead of relaying them. The idle-peer memory run uses all
 * the defaults.
 */
const SHOAL_OPTIONS_FOR_LOAD: ShoalOptions = { maxAnnouncesPerSec: 1e9, maxPeersPerClient: 1e9 };
/** Peers the warm-up before the baseline memory measurement connects and drops. */
const MEMORY_WARMUP_PEERS = 100;
/** Files a tracker process may need besides its idle peers' sockets (a margin, not a measure). */
const TRACKER_FILES_HEADROOM = 50;
/** Files a load-generator process needs besides its clients' sockets (a margin). */
const GENERATOR_FILES_HEADROOM = 100;
/**
 * bittorrent-tracker keeps at most 1000 peers per swarm (an LRU cache) and evicts beyond that:
 * idle peers are spread over enough swarms that none is evicted and both trackers hold them all.
 */
const REFERENCE_PEERS_PER_SWARM = 1000;
const CONNECTIONS_CLOSED_TIMEOUT_MS = 10_000;
const BYTES_PER_MB = 1024 * 1024;
/** Idle-peer memory targets for Shoal's tracker. */
const TARGETS = { bytesPerIdlePeerRss: 4096, rssMBAt20000Peers: 200 };
const TARGET_PEERS = 20_000;

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LOAD_PROCESS_PATH = fileURLToPath(new URL('./tracker-load-process.ts', import.meta.url));
const log = (message: string) => console.error(`bench:tracker: ${message}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (x: number | undefined, digits: number) => (x === undefined ? undefined : Number(x.toFixed(digits)));

/** Children still running; killed on any exit of this process, errors and Ctrl-C included. */
const liveChildren = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    log(`${signal}: stopping`);
    process.exit(130);
  });
}

function spawnChild(path: string, args: string[], nodeFlags: string[], stdout: 'pipe' | 'ignore'): ChildProcess {
  const child = spawn(process.execPath, [...nodeFlags, path, ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', stdout, 'inherit', 'ipc'],
  });
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

interface TrackerProcess {
  rpc: RpcClient<ServerApi>;
  url: string;
  openFilesLimit?: number;
  openFiles?: number;
}

/**
 * The tracker process runs as plain JavaScript, bundled here from its TypeScript (and Shoal's
 * tracker) by esbuild, the compiler tsx itself uses, rather than under the tsx loader: the
 * loader adds some 25 MB to a process's RSS, which would count in both trackers' absolute
 * memory. Packages stay external, resolved from the repository's node_modules: hence a bundle
 * under node_modules/.cache.
 */
async function bundleTrackerProcess(): Promise<string> {
  const outfile = join(REPO_ROOT, 'node_modules', '.cache', 'shoal-bench', 'tracker-server-process.mjs');
  await build({
    entryPoints: [fileURLToPath(new URL('./tracker-server-process.ts', import.meta.url))],
    outfile,
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
  });
  return outfile;
}
const trackerProcessBundle = bundleTrackerProcess();

async function startTrackerProcess(kind: TrackerKind, shoalOptions: ShoalOptions = {}): Promise<TrackerProcess> {
  const args = kind === 'shoal' ? [kind, JSON.stringify(shoalOptions)] : [kind];
  const child = spawnChild(await trackerProcessBundle, args, ['--expose-gc'], 'pipe');
  const rpc = new RpcClient<ServerApi>(child, `${kind} tracker process`);
  const stdout = child.stdout;
  if (stdout === null) throw new Error('tracker process has no stdout');
  const lines = createInterface({ input: stdout });
  const exited = once(child, 'exit').then(([code, signal]) => {
    throw new Error(`${kind} tracker process exited (${signal ?? code}) before listening`);
  });
  const [line] = (await Promise.race([once(lines, 'line'), exited])) as [string];
  // Anything else it prints (a log, say) goes to stderr: our stdout is the report's, and an
  // unread pipe would eventually block the tracker's writes.
  lines.on('line', (more) => console.error(`${kind} tracker: ${more}`));
  await rpc.ready;
  const ready = JSON.parse(line) as { port: number; openFilesLimit?: number; openFiles?: number };
  return { rpc, url: `ws://127.0.0.1:${ready.port}`, openFilesLimit: ready.openFilesLimit, openFiles: ready.openFiles };
}

async function startLoadProcesses(count: number): Promise<RpcClient<LoadApi>[]> {
  const generators = Array.from(
    { length: count },
    (_, i) => new RpcClient<LoadApi>(spawnChild(LOAD_PROCESS_PATH, [], ['--import', 'tsx'], 'ignore'), `load generator ${i}`),
  );
  await Promise.all(generators.map((generator) => generator.ready));
  return generators;
}

/** Part `i` of clients 0..total-1 cut into `parts` contiguous ranges of nearly equal size. */
function share(total: number, parts: number, i: number): { firstClient: number; count: number } {
  const firstClient = Math.floor((total * i) / parts);
  return { firstClient, count: Math.floor((total * (i + 1)) / parts) - firstClient };
}

/** Opens the clients over the generators and has every client join its swarm. */
async function connectAndJoin(generators: RpcClient<LoadApi>[], url: string, total: number, swarms: number, repliesToAnswers: boolean) {
  const connected = await Promise.all(
    generators.map((generator, i) => generator.call('connect', { url, swarms, repliesToAnswers, ...share(total, generators.length, i) })),
  );
  const joined = await Promise.all(generators.map((generator) => generator.call('join', undefined)));
  const connectFailures = connected.reduce((sum, result) => sum + result.failed, 0);
  const firstConnectError = connected.find((result) => result.firstError !== undefined)?.firstError;
  if (connectFailures > 0) log(`${connectFailures} connections failed, the first with: ${firstConnectError}`);
  return { joined: joined.reduce((sum, result) => sum + result.joined, 0), connectFailures };
}

type Quantiles = { p50: number | undefined; p99: number | undefined };

function quantiles(runs: RunResult[], pick: (run: RunResult) => HistogramBuckets): Quantiles {
  const histogram = new LatencyHistogram();
  for (const run of runs) histogram.merge(pick(run));
  return { p50: round(histogram.quantileMs(0.5), 3), p99: round(histogram.quantileMs(0.99), 3) };
}

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [key, count] of Object.entries(from)) into[key] = (into[key] ?? 0) + count;
}

/** Runs a load on every generator, measuring the tracker's CPU over the same window. */
async function runLoad(tracker: TrackerProcess, generators: RpcClient<LoadApi>[], load: RunParams['load']) {
  const warmupMs = params.warmupSeconds * 1000;
  const measureMs = params.seconds * 1000;
  const runs = Promise.all(
    generators.map((generator) => generator.call('run', { load, offersPerAnnounce: params.offersPerAnnounce, warmupMs, measureMs })),
  );
  await sleep(warmupMs);
  const atStart = await tracker.rpc.call('sample', undefined);
  await sleep(measureMs);
  const atEnd = await tracker.rpc.call('sample', undefined);
  const results = await runs;

  const perSec = (pick: (run: RunResult) => number) => results.reduce((sum, run) => sum + pick(run) / (run.windowMs / 1000), 0);
  const failures: Record<string, number> = {};
  for (const run of results) addCounts(failures, run.failures);
  return {
    announcesPerSec: perSec((run) => run.offerAnnounceReplies),
    offersRelayedPerSec: perSec((run) => run.offersReceived),
    answersRelayedPerSec: perSec((run) => run.answersReceived),
    trackerCpuPercent: ((atEnd.cpuMicros - atStart.cpuMicros) / 1000 / (atEnd.wallMs - atStart.wallMs)) * 100,
    trackerEventLoopDelayMs: { p99: round(atEnd.eventLoopDelayMs.p99, 1), max: round(atEnd.eventLoopDelayMs.max, 1) },
    loadGeneratorCpuPercent: results.map((run) => round(run.cpuPercent, 1)),
    relayLatencyMs: quantiles(results, (run) => run.offerRelayMs),
    offerAnswerRoundTripMs: quantiles(results, (run) => run.offerAnswerRoundTripMs),
    problems: {
      failures,
      unexpectedReplies: results.reduce((sum, run) => sum + run.unexpectedReplies, 0),
      clientsNotDrained: results.reduce((sum, run) => sum + run.clientsNotDrained, 0),
    },
  };
}

async function measureThroughputAndLatency(kind: TrackerKind) {
  const tracker = await startTrackerProcess(kind, SHOAL_OPTIONS_FOR_LOAD);
  const generators = await startLoadProcesses(params.generators);
  try {
    const { repliesToAnswers } = await (generators[0] as RpcClient<LoadApi>).call('probe', { url: tracker.url });
    log(`${kind}: offers and answers relayed; ${repliesToAnswers ? 'replies' : 'does not reply'} to announces with an answer`);
    const { joined, connectFailures } = await connectAndJoin(generators, tracker.url, params.clients, params.swarms, repliesToAnswers);
    log(`${kind}: ${joined} clients joined; saturating for ${params.seconds} s`);
    const saturation = await runLoad(tracker, generators, { mode: 'closed', inFlightPerClient: params.inFlightPerClient });
    if (saturation.trackerCpuPercent < 85) {
      log(`${kind}: tracker at ${saturation.trackerCpuPercent.toFixed(0)}% CPU only: held back by the load generators, or by other processes on this machine`);
    }
    const moderateRate = saturation.announcesPerSec * params.moderateLoadFraction;
    log(`${kind}: ${saturation.announcesPerSec.toFixed(0)} announces/s; now ${moderateRate.toFixed(0)}/s for ${params.seconds} s`);
    const moderate = await runLoad(tracker, generators, { mode: 'open', cyclesPerSec: moderateRate / generators.length });
    const complaints = (await tracker.rpc.call('status', undefined)).complaints;
    const failures: Record<string, number> = {};
    addCounts(failures, saturation.problems.failures);
    addCounts(failures, moderate.problems.failures);
    return {
      announcesPerSec: round(saturation.announcesPerSec, 0),
      offersRelayedPerSec: round(saturation.offersRelayedPerSec, 0),
      answersRelayedPerSec: round(saturation.answersRelayedPerSec, 0),
      cpuPercent: round(saturation.trackerCpuPercent, 1),
      loadGeneratorCpuPercent: saturation.loadGeneratorCpuPercent,
      repliesToAnswers,
      relayLatencyMs: {
        atSaturation: saturation.relayLatencyMs,
        atModerateLoad: {
          announcesPerSec: round(moderate.announcesPerSec, 0),
          cpuPercent: round(moderate.trackerCpuPercent, 1),
          eventLoopDelayMs: moderate.trackerEventLoopDelayMs,
          ...moderate.relayLatencyMs,
        },
      },
      offerAnswerRoundTripMs: { atSaturation: saturation.offerAnswerRoundTripMs, atModerateLoad: moderate.offerAnswerRoundTripMs },
      problems: {
        failures,
        unexpectedReplies: saturation.problems.unexpectedReplies + moderate.problems.unexpectedReplies,
        clientsNotDrained: saturation.problems.clientsNotDrained + moderate.problems.clientsNotDrained,
        connectFailures,
        trackerComplaints: complaints,
      },
    };
  } finally {
    await Promise.all([tracker.rpc.child, ...generators.map((generator) => generator.child)].map(stopChild));
  }
}

async function waitForNoConnections(tracker: TrackerProcess): Promise<void> {
  const deadline = performance.now() + CONNECTIONS_CLOSED_TIMEOUT_MS;
  while ((await tracker.rpc.call('status', undefined)).connections > 0) {
    if (performance.now() > deadline) throw new Error('the tracker still has connections after the warm-up peers left');
    await sleep(50);
  }
}

async function measureIdleMemory(kind: TrackerKind) {
  const tracker = await startTrackerProcess(kind);
  const trackerCapacity = (tracker.openFilesLimit ?? Infinity) - (tracker.openFiles ?? 0) - TRACKER_FILES_HEADROOM;
  const idlePeers = Math.min(params.idlePeers, trackerCapacity);
  if (idlePeers < params.idlePeers) {
    log(`${kind}: ${idlePeers} idle peers instead of ${params.idlePeers}: the tracker process may open ${tracker.openFilesLimit} files (ulimit -n)`);
  }
  const generatorCapacity = (openFilesLimit() ?? Infinity) - GENERATOR_FILES_HEADROOM;
  const generators = await startLoadProcesses(Math.max(1, Math.ceil(idlePeers / generatorCapacity)));
  const swarms = Math.max(params.swarms, Math.ceil(idlePeers / REFERENCE_PEERS_PER_SWARM));
  try {
    const warmup = generators[0] as RpcClient<LoadApi>;
    await warmup.call('connect', { url: tracker.url, firstClient: idlePeers, count: MEMORY_WARMUP_PEERS, swarms, repliesToAnswers: false });
    await warmup.call('join', undefined);
    await warmup.call('close', undefined);
    await waitForNoConnections(tracker);
    const baseline = await tracker.rpc.call('memory', undefined);

    log(`${kind}: connecting ${idlePeers} idle peers over ${generators.length} processes`);
    const { joined, connectFailures } = await connectAndJoin(generators, tracker.url, idlePeers, swarms, false);
    const status = await tracker.rpc.call('status', undefined);
    const loaded = await tracker.rpc.call('memory', undefined);
    log(`${kind}: ${joined} idle peers joined, tracker RSS ${(loaded.rssBytes / BYTES_PER_MB).toFixed(1)} MB`);

    const bytesPerPeerRss = (loaded.rssBytes - baseline.rssBytes) / joined;
    const bytesPerPeerHeap = (loaded.heapUsedBytes - baseline.heapUsedBytes) / joined;
    const rssBytesAtTargetPeers = joined === TARGET_PEERS ? loaded.rssBytes : baseline.rssBytes + bytesPerPeerRss * TARGET_PEERS;
    return {
      idlePeers: joined,
      swarms,
      connectionsSeenByTracker: status.connections,
      peersInSwarms: status.peersInSwarms,
      baselineRssMB: round(baseline.rssBytes / BYTES_PER_MB, 1),
      baselineHeapMB: round(baseline.heapUsedBytes / BYTES_PER_MB, 1),
      rssMBAtPeers: round(loaded.rssBytes / BYTES_PER_MB, 1),
      heapMBAtPeers: round(loaded.heapUsedBytes / BYTES_PER_MB, 1),
      bytesPerIdlePeerRss: round(bytesPerPeerRss, 0),
      bytesPerIdlePeerHeap: round(bytesPerPeerHeap, 0),
      rssMBAt20000Peers: round(rssBytesAtTargetPeers / BYTES_PER_MB, 1),
      rssAt20000PeersExtrapolated: joined !== TARGET_PEERS,
      problems: { connectFailures, trackerComplaints: status.complaints },
    };
  } finally {
    await Promise.all([tracker.rpc.child, ...generators.map((generator) => generator.child)].map(stopChild));
  }
}

async function benchmarkTracker(kind: TrackerKind) {
  const { problems, ...throughput } = await measureThroughputAndLatency(kind);
  const { problems: memoryProblems, ...memory } = await measureIdleMemory(kind);
  return { ...throughput, memory, problems: { throughputRuns: problems, memoryRun: memoryProblems } };
}

const ratio = (shoal: number | undefined, reference: number | undefined) =>
  shoal === undefined || reference === undefined || reference === 0 ? undefined : round(shoal / reference, 3);

// Other processes competing for the cores skew every figure: the load averages tell afterwards.
const loadAverageAtStart = round(loadavg()[0], 2);
const reference = await benchmarkTracker('reference');
const shoal = await benchmarkTracker('shoal');

const report = {
  benchmark: 'tracker',
  machine: {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    node: process.version,
    openFilesLimit: openFilesLimit(),
    loadAverage1mAtStart: loadAverageAtStart,
    loadAverage1mAtEnd: round(loadavg()[0], 2),
  },
  params: { ...params, shoalTrackerOptions: { throughputAndLatency: SHOAL_OPTIONS_FOR_LOAD, memory: 'defaults' } },
  shoal,
  reference,
  ratios: {
    announcesPerSec: ratio(shoal.announcesPerSec, reference.announcesPerSec),
    relayLatencyP99AtModerateLoad: ratio(shoal.relayLatencyMs.atModerateLoad.p99, reference.relayLatencyMs.atModerateLoad.p99),
    relayLatencyP99AtSaturation: ratio(shoal.relayLatencyMs.atSaturation.p99, reference.relayLatencyMs.atSaturation.p99),
    bytesPerIdlePeerRss: ratio(shoal.memory.bytesPerIdlePeerRss, reference.memory.bytesPerIdlePeerRss),
    bytesPerIdlePeerHeap: ratio(shoal.memory.bytesPerIdlePeerHeap, reference.memory.bytesPerIdlePeerHeap),
  },
  shoalTargets: {
    bytesPerIdlePeerRss: { max: TARGETS.bytesPerIdlePeerRss, value: shoal.memory.bytesPerIdlePeerRss, met: (shoal.memory.bytesPerIdlePeerRss ?? Infinity) <= TARGETS.bytesPerIdlePeerRss },
    rssMBAt20000Peers: {
      max: TARGETS.rssMBAt20000Peers,
      value: shoal.memory.rssMBAt20000Peers,
      met: (shoal.memory.rssMBAt20000Peers ?? Infinity) < TARGETS.rssMBAt20000Peers,
    },
  },
};
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
