/**
 * `npm run bench:startup -- [--runs R] [--swarm N] [--stream live|vod] [--ttfb-ms MS]
 *  [--rate-bytes B] [--config JSON]`   (--config: Shoal options, as window.shoalConfig)
 *
 * Startup time in isolation: how long one fresh viewer joining an already-playing swarm takes
 * from page script to the first 'playing' event, measured R times per player. Two stacks run
 * side by side, one with Shoal and one with plain hls.js, each with N background viewers
 * already playing (and, under Shoal, already meshed). Each round opens one fresh viewer per
 * player, alternating which goes first, so both players see the same machine load: a single
 * startup per viewer inside a big swarm run is too noisy to compare on a small machine.
 * Prints JSON on stdout (progress on stderr): startup percentiles per player, where Shoal's
 * first segment came from, and Shoal's median and p25 startup as ratios to plain hls.js.
 */
import { parseArgs } from 'node:util';
import type { Page } from 'puppeteer-core';
import { openViewer, report, SDK_PAIRING_WAIT_MS, startStack, type Stack } from '../support/swarm-harness.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '12' },
    swarm: { type: 'string', default: '3' },
    stream: { type: 'string', default: 'live' },
    'ttfb-ms': { type: 'string', default: '60' },
    'rate-bytes': { type: 'string', default: '2500000' },
    config: { type: 'string', default: '{}' },
  },
});

function numberOption(name: string, raw: string | undefined, rule: { min: number; integer?: boolean }): number {
  const n = Number(raw);
  const valid = raw !== undefined && raw.trim() !== '' && !Number.isNaN(n) && n >= rule.min && (!rule.integer || Number.isInteger(n));
  if (!valid) throw new Error(`--${name} must be ${rule.integer ? 'an integer' : 'a number'} >= ${rule.min} (got ${raw})`);
  return n;
}

function shoalConfigOption(raw: string | undefined): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw ?? '{}');
  } catch (error) {
    throw new Error(`--config must be JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`--config must be a JSON object (got ${raw})`);
  return parsed as Record<string, unknown>;
}

const runs = numberOption('runs', values.runs, { min: 1, integer: true });
const swarmViewers = numberOption('swarm', values.swarm, { min: 0, integer: true });
const stream = values.stream === 'vod' ? 'vod' : values.stream === 'live' ? 'live' : undefined;
if (!stream) throw new Error('--stream must be live or vod');
const ttfbMs = numberOption('ttfb-ms', values['ttfb-ms'], { min: 0 });
// Infinity is accepted: the origin then sends without pacing.
const rateBytesPerSec = numberOption('rate-bytes', values['rate-bytes'], { min: 1 });
const shoalConfig = shoalConfigOption(values.config);

/** Gap between background viewers joining, as a real audience arrives rather than all at once. */
const BACKGROUND_STAGGER_MS = 1500;
/** Pause after closing a measured viewer, so its teardown does not load the next one's startup. */
const SETTLE_MS = 1000;
/** How long any viewer gets to start playing before the run is declared broken. */
const PLAYING_WAIT_MS = 60_000;
/** The VOD fixture is 40 s; the stream is looped so the background viewers never reach its end. */
const FIXTURE_SECONDS = 40;
/** Generous estimates of the swarm setup and of one round (two startups and their pauses). */
const SETUP_ALLOWANCE_SEC = 90;
const ROUND_ALLOWANCE_SEC = 15;
const origin = {
  ttfbMs,
  rateBytesPerSec,
  vodLoops: Math.ceil((SETUP_ALLOWANCE_SEC + runs * ROUND_ALLOWANCE_SEC) / FIXTURE_SECONDS),
};

type Player = 'hls' | 'shoal';
const query = `stream=${stream}`;
const progress = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits for a condition evaluated in the page; a timeout names what was awaited. */
async function waitInPage(page: Page, what: string, timeoutMs: number, predicate: () => boolean): Promise<void> {
  try {
    await page.waitForFunction(predicate, { timeout: timeoutMs, polling: 100 });
  } catch (error) {
    throw new Error(`waiting for ${what}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Resolves once the demo page's video has played (startup is timed in the page, so polling adds no error); throws on a fatal hls.js error. */
async function untilPlaying(page: Page, what: string): Promise<void> {
  await waitInPage(page, `${what} playing`, PLAYING_WAIT_MS, () => {
    const demo = (window as any).demo;
    return demo !== undefined && (demo.fatalErrors.length > 0 || demo.playingAt !== undefined);
  });
  const fatalErrors = await page.evaluate(() => (window as any).demo.fatalErrors as string[]);
  if (fatalErrors.length > 0) throw new Error(`${what}: fatal errors ${fatalErrors.join(', ')}`);
}

/** Resolves once the page's Shoal engine holds at least one peer connection. */
async function untilPeered(page: Page, what: string): Promise<void> {
  await waitInPage(page, `${what} meeting a peer`, SDK_PAIRING_WAIT_MS, () => ((window as any).Shoal?.instances[0]?.stats().peers ?? 0) > 0);
}

/** Starts both stacks at once; if either fails, closes the other before rethrowing. */
async function startStacks(): Promise<Record<Player, Stack>> {
  const [hls, shoal] = await Promise.allSettled([startStack({ shoal: false, origin }), startStack({ shoal: true, origin })]);
  if (hls.status === 'fulfilled' && shoal.status === 'fulfilled') return { hls: hls.value, shoal: shoal.value };
  await Promise.allSettled([hls, shoal].flatMap((s) => (s.status === 'fulfilled' ? [s.value.close()] : [])));
  throw hls.status === 'rejected' ? hls.reason : (shoal as PromiseRejectedResult).reason;
}

/** Opens the background viewers of one player, then waits until all play and, under Shoal, each has a peer. */
async function startSwarm(player: Player, stack: Stack): Promise<void> {
  const pages: Page[] = [];
  for (let i = 0; i < swarmViewers; i++) {
    if (i > 0) await sleep(BACKGROUND_STAGGER_MS);
    pages.push(await openViewer(stack, query, shoalConfig));
  }
  await Promise.all(pages.map((page, i) => untilPlaying(page, `${player} background viewer ${i + 1}`)));
  // A lone background viewer has nobody to meet: there is no swarm to join, only the origin.
  if (player === 'shoal' && swarmViewers > 1) {
    await Promise.all(pages.map((page, i) => untilPeered(page, `shoal background viewer ${i + 1}`)));
  }
  progress(`${player}: ${swarmViewers} background viewers playing${player === 'shoal' && swarmViewers > 1 ? ', each with a peer' : ''}`);
}

interface Startup {
  startupMs: number;
  /** Where Shoal's first segment came from ('http', 'p2p' or 'cache'); undefined for plain hls.js. */
  firstSegmentSource: string | undefined;
}

/** One fresh viewer in its own browser context: waits until it plays, reads its startup, closes it. */
async function measureStartup(player: Player, stack: Stack, what: string): Promise<Startup> {
  const page = await openViewer(stack, query, shoalConfig);
  try {
    await untilPlaying(page, what);
    const viewer = await report(page);
    if (viewer.startupMs === undefined) throw new Error(`${what}: playing, but no startup time recorded`);
    if (player === 'hls') return { startupMs: viewer.startupMs, firstSegmentSource: undefined };
    const first = viewer.shoalLoads[0];
    if (!first) throw new Error(`${what}: playing, but Shoal recorded no segment load (is its script tag on the page?)`);
    return { startupMs: viewer.startupMs, firstSegmentSource: first.source };
  } finally {
    await page.browserContext().close();
  }
}

/** Linear interpolation between order statistics; q = 0.5 is the usual median. */
function percentile(sorted: number[], q: number): number {
  const position = (sorted.length - 1) * q;
  const below = sorted[Math.floor(position)] as number;
  const above = sorted[Math.ceil(position)] as number;
  return below + (above - below) * (position - Math.floor(position));
}

const round = (x: number, digits = 0) => Number(x.toFixed(digits));

function summarize(startups: number[]) {
  const sorted = [...startups].sort((a, b) => a - b);
  return {
    median: round(percentile(sorted, 0.5)),
    p25: round(percentile(sorted, 0.25)),
    p75: round(percentile(sorted, 0.75)),
    max: round(sorted[sorted.length - 1] as number),
    all: startups.map((x) => round(x)),
  };
}

async function main() {
  const stacks = await startStacks();
  try {
    await Promise.all((['hls', 'shoal'] as const).map((player) => startSwarm(player, stacks[player])));
    const startups: Record<Player, number[]> = { hls: [], shoal: [] };
    const firstSegmentSources: Record<string, number> = { http: 0, p2p: 0, cache: 0 };
    for (let r = 0; r < runs; r++) {
      const order: Player[] = r % 2 === 0 ? ['hls', 'shoal'] : ['shoal', 'hls'];
      for (const player of order) {
        const startup = await measureStartup(player, stacks[player], `round ${r + 1} ${player} viewer`);
        startups[player].push(startup.startupMs);
        if (startup.firstSegmentSource !== undefined) firstSegmentSources[startup.firstSegmentSource] = (firstSegmentSources[startup.firstSegmentSource] ?? 0) + 1;
        progress(`round ${r + 1}/${runs} ${player}: ${round(startup.startupMs)} ms${startup.firstSegmentSource ? ` (first segment: ${startup.firstSegmentSource})` : ''}`);
        await sleep(SETTLE_MS);
      }
    }
    const hls = summarize(startups.hls);
    const shoal = summarize(startups.shoal);
    const output = {
      benchmark: 'startup',
      stream,
      runs,
      swarmViewers,
      origin: { ttfbMs, rateBytesPerSec },
      hls: { startupMs: hls },
      shoal: { startupMs: shoal, firstSegmentSources },
      startupRatio: round(shoal.median / hls.median, 2),
      startupRatioP25: round(shoal.p25 / hls.p25, 2),
    };
    console.log(JSON.stringify(output, null, 2));
  } finally {
    await Promise.allSettled([stacks.hls.close(), stacks.shoal.close()]);
  }
}

try {
  await main();
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
