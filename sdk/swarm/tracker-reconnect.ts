/**
 * Reconnecting to the trackers while a swarm stays without peers.
 *
 * A tracker pairs viewers by relaying offers and answers, and counts each answered pair as
 * connected: trystero never tells it otherwise. When the WebRTC connection of an answered pair
 * fails, or drops while both stay, the tracker keeps counting them as partners and relays
 * nothing more between them, and neither may announce again for minutes. A new WebSocket
 * starts afresh at the tracker: its pairs of the old connection are forgotten, and trystero
 * announces every swarm again on it.
 */
import { getRelaySockets } from '@trystero-p2p/torrent';

/**
 * Which swarms are without peers and since when, and so when to reconnect: once one has been
 * alone `firstMs`, then again after twice as long each time (at most `maxMs`) while one stays
 * alone. Pure state; the caller owns the clock and the timer.
 */
export class LonelySwarms {
  /** Swarms without peers, and since when (or since the last reconnect). */
  readonly #since = new Map<string, number>();
  #delayMs: number;

  /**
   * @param firstMs how long a swarm is alone before the first reconnect, and again once every
   *   swarm has had peers.
   * @param maxMs longest wait between reconnects: a viewer alone watching reconnects this seldom.
   */
  constructor(
    readonly firstMs: number,
    readonly maxMs: number,
  ) {
    this.#delayMs = firstMs;
  }

  /** The swarm has no peer from `now` on (joined, or its last peer left); no change if it had none already. */
  alone(swarmId: string, now: number): void {
    if (!this.#since.has(swarmId)) this.#since.set(swarmId, now);
  }

  /** The swarm has a peer. */
  joined(swarmId: string): void {
    this.#since.delete(swarmId);
  }

  /** When to check next, in ms from `now`; undefined while every swarm has peers. */
  nextCheckInMs(now: number): number | undefined {
    if (this.#since.size === 0) {
      this.#delayMs = this.firstMs;
      return undefined;
    }
    return Math.max(0, Math.ceil(Math.min(...this.#since.values()) + this.#delayMs - now));
  }

  /**
   * Whether to reconnect now: a swarm has been alone long enough. If so, the next reconnect
   * waits twice as long, counted from now.
   */
  reconnectDue(now: number): boolean {
    // A microsecond's slack: a check timed by nextCheckInMs must find the reconnect due, whatever
    // the rounding of fractional clock readings (one found early would be rescheduled in 0 ms).
    if (this.#since.size === 0 || now - Math.min(...this.#since.values()) < this.#delayMs - 0.001) return false;
    this.#delayMs = Math.min(this.maxMs, this.#delayMs * 2);
    for (const swarmId of this.#since.keys()) this.#since.set(swarmId, now);
    return true;
  }
}

/**
 * Closes trystero's open WebSockets to these trackers; trystero reconnects within a few
 * seconds and announces again. A socket not open is left to trystero's own retries.
 */
export function reconnectTorrentTrackers(urls: readonly string[]): void {
  const sockets = getRelaySockets() as Record<string, WebSocket | undefined>;
  for (const url of urls) {
    const socket = sockets[url];
    if (socket !== undefined && socket.readyState === socket.OPEN) socket.close();
  }
}
