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
  /** Messages answered with a `failure reason`. */
  rejected: number;
}

/** What `GET /stats` returns. */
export interface TrackerStats extends TrackerGauges, TrackerCounters {
  /** Whole seconds since the tracker started. */
  uptimeSec: number;
}

const COUNTER_METRICS: Record<keyof TrackerCounters, { name: string; help: string }> = {
  announces: { name: 'shoal_tracker_announces_total', help: 'Valid announce messages received.' },
  offersRelayed: { name: 'shoal_tracker_offers_relayed_total', help: 'WebRTC offers forwarded to a peer.' },
  answersRelayed: { name: 'shoal_tracker_answers_relayed_total', help: 'WebRTC answers forwarded to a peer.' },
  rejected: { name: 'shoal_tracker_rejected_total', help: 'Messages answered with a failure reason.' },
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
  readonly #counters = new Map<keyof TrackerCounters, Counter>();

  constructor(readGauges: () => TrackerGauges) {
    this.#readGauges = readGauges;
    for (const [key, { name, help }] of entries(COUNTER_METRICS)) {
      this.#counters.set(key, new Counter({ name, help, registers: [this.registry] }));
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

  /** Adds `n` to a counter. */
  count(key: keyof TrackerCounters, n = 1): void {
    if (n <= 0) return;
    this.#totals[key] += n;
    this.#counters.get(key)?.inc(n);
  }

  /** Gauges, counters and uptime, as served on `/stats`. */
  stats(): TrackerStats {
    return {
      ...this.#readGauges(),
      ...this.#totals,
      uptimeSec: Math.floor((Date.now() - this.#startedAt) / 1000),
    };
  }
}

function entries<K extends string, V>(record: Record<K, V>): [K, V][] {
  return Object.entries(record) as [K, V][];
}
