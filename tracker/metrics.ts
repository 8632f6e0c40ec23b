/**
 * The tracker's counters and gauges, readable as JSON (`/stats`) and as Prometheus text
 * (`/metrics`). Each instance has its own prom-client `Registry`, so several trackers can run
 * in one process.
 */
import { Counter, Gauge, Registry } from 'prom-client';

/** Current sizes, read when stats or metrics are asked for. */
export interface TrackerGauges {
  /** Swarms with at least one peer. */
  swarms: number;
  /** Swarm memberships: a connection in two swarms counts twice. */
  peers: number;
  /** Open WebSocket connections. */
  connections: number;
}

/** Totals since the tracker started. */
export interface TrackerCounters {
  /** Valid announces received. */
  announces: number;
  /** Offers forwarded to a peer. */
  offersRelayed: number;
  /** Answers forwarded to a peer. */
  answersRelayed: number;
  /** Messages answered with a `failure reason`, and connections refused. */
  rejected: number;
}

/** Why a message or connection was refused; each is a label of the rejections metric. */
export type RejectionReason =
  | 'malformed'
  | 'too-large'
  | 'rate-limited'
  | 'swarm-limit'
  | 'tracker-full'
  | 'unknown-peer'
  | 'peer-at-cap'
  | 'origin'
  | 'token'
  | 'internal';

export const REJECTION_REASONS: readonly RejectionReason[] = [
  'malformed',
  'too-large',
  'rate-limited',
  'swarm-limit',
  'tracker-full',
  'unknown-peer',
  'peer-at-cap',
  'origin',
  'token',
  'internal',
];

/** What `GET /stats` returns. */
export interface TrackerStats extends TrackerGauges, TrackerCounters {
  /** Announces per second over the last {@link RATE_WINDOW_SEC} seconds. */
  announcesPerSec: number;
  /** {@link TrackerCounters.rejected}, by reason. */
  rejectedByReason: Record<RejectionReason, number>;
  /** Whole seconds since the tracker started. */
  uptimeSec: number;
}

/** Seconds over which `announcesPerSec` is averaged. */
export const RATE_WINDOW_SEC = 10;

const COUNTER_METRICS: Record<keyof TrackerCounters, { name: string; help: string }> = {
  announces: { name: 'shoal_tracker_announces_total', help: 'Valid announce messages received.' },
  offersRelayed: { name: 'shoal_tracker_offers_relayed_total', help: 'WebRTC offers forwarded to a peer.' },
  answersRelayed: { name: 'shoal_tracker_answers_relayed_total', help: 'WebRTC answers forwarded to a peer.' },
  rejected: { name: 'shoal_tracker_rejected_total', help: 'Messages answered with a failure reason, and connections refused, by reason.' },
};

const GAUGE_METRICS: Record<keyof TrackerGauges, { name: string; help: string }> = {
  swarms: { name: 'shoal_tracker_swarms', help: 'Swarms with at least one peer.' },
  peers: { name: 'shoal_tracker_peers', help: 'Swarm memberships (a connection in two swarms counts twice).' },
  connections: { name: 'shoal_tracker_connections', help: 'Open WebSocket connections.' },
};

/** Counters kept both as plain numbers and as Prometheus metrics; gauges read on demand. */
export class TrackerMetrics {
  /** The Prometheus registry of this tracker only. */
  readonly registry = new Registry();
  readonly #startedAt = Date.now();
  readonly #readGauges: () => TrackerGauges;
  readonly #totals: TrackerCounters = { announces: 0, offersRelayed: 0, answersRelayed: 0, rejected: 0 };
  readonly #rejectedByReason = Object.fromEntries(REJECTION_REASONS.map((r) => [r, 0])) as Record<RejectionReason, number>;
  /** Announces per whole second, for the last RATE_WINDOW_SEC seconds: [second, count]. */
  readonly #announceSeconds: Array<[number, number]> = [];

  constructor(readGauges: () => TrackerGauges) {
    this.#readGauges = readGauges;
    const totals = this.#totals;
    const byReason = this.#rejectedByReason;
    for (const [key, { name, help }] of entries(COUNTER_METRICS)) {
      // Counted as plain numbers on the hot path; handed to prom-client only when scraped.
      let reported = 0;
      const reportedByReason = Object.fromEntries(REJECTION_REASONS.map((r) => [r, 0])) as Record<RejectionReason, number>;
      const counter: Counter = new Counter({
        name,
        help,
        labelNames: key === 'rejected' ? ['reason'] : [],
        registers: [this.registry],
        collect() {
          if (key !== 'rejected') {
            counter.inc(totals[key] - reported);
            reported = totals[key];
            return;
          }
          for (const reason of REJECTION_REASONS) {
            counter.inc({ reason }, byReason[reason] - reportedByReason[reason]);
            reportedByReason[reason] = byReason[reason];
          }
        },
      });
    }
    for (const [key, { name, help }] of entries(GAUGE_METRICS)) {
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(readGauges()[key]);
        },
      });
    }
  }

  /** Adds `n` to a counter (other than `rejected`: see {@link reject}). */
  count(key: Exclude<keyof TrackerCounters, 'rejected'>, n = 1): void {
    if (n <= 0) return;
    this.#totals[key] += n;
    if (key === 'announces') this.#countAnnounceRate(n);
  }

  /** Counts one rejection. */
  reject(reason: RejectionReason): void {
    this.#totals.rejected++;
    this.#rejectedByReason[reason]++;
  }

  /** Gauges, counters and uptime, as served on `/stats`. */
  stats(): TrackerStats {
    const nowSec = Math.floor(Date.now() / 1000);
    // Whole seconds only: the current one is still filling up.
    const recent = this.#announceSeconds.filter(([second]) => second < nowSec && second >= nowSec - RATE_WINDOW_SEC);
    const window = Math.min(RATE_WINDOW_SEC, Math.max(1, nowSec - Math.floor(this.#startedAt / 1000)));
    return {
      ...this.#readGauges(),
      ...this.#totals,
      announcesPerSec: Math.round(recent.reduce((sum, [, n]) => sum + n, 0) / window),
      rejectedByReason: { ...this.#rejectedByReason },
      uptimeSec: Math.floor((Date.now() - this.#startedAt) / 1000),
    };
  }

  #countAnnounceRate(n: number): void {
    const second = Math.floor(Date.now() / 1000);
    const last = this.#announceSeconds.at(-1);
    if (last && last[0] === second) last[1] += n;
    else this.#announceSeconds.push([second, n]);
    if (this.#announceSeconds.length > RATE_WINDOW_SEC + 1) this.#announceSeconds.shift();
  }
}

function entries<K extends string, V>(record: Record<K, V>): [K, V][] {
  return Object.entries(record) as [K, V][];
}
