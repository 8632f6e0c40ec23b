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

/** How long to wait before checking again whether a swarm still has no peer. */
export class LonelySwarmBackoff {
  #delayMs: number;

  /**
   * @param firstMs delay of the first check, and after every swarm found peers again.
   * @param maxMs longest delay between checks: a viewer alone in its swarm reconnects this seldom.
   */
  constructor(
    readonly firstMs: number,
    readonly maxMs: number,
  ) {
    this.#delayMs = firstMs;
  }

  get delayMs(): number {
    return this.#delayMs;
  }

  /** A check reconnected: the next waits twice as long. */
  backOff(): void {
    this.#delayMs = Math.min(this.maxMs, this.#delayMs * 2);
  }

  /** Every swarm has peers. */
  reset(): void {
    this.#delayMs = this.firstMs;
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
