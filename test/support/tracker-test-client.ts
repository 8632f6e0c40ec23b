/**
 * A raw WebTorrent-tracker client for tests: one WebSocket, JSON messages in and out, and waits
 * for expected messages. It speaks to any WebTorrent tracker (Shoal's or bittorrent-tracker's).
 */
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { WebSocket, type ClientOptions } from 'ws';

export type Message = Record<string, unknown>;
type Predicate = (message: Message) => boolean;

/** Longest wait for one expected message. */
export const WAIT_MS = 3000;

export class TrackerTestClient {
  /** Every message received, in order. */
  readonly received: Message[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly #unclaimed: Message[] = [];
  readonly #waiters = new Set<{ predicate: Predicate; resolve: (m: Message) => void }>();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as Message;
      this.received.push(message);
      const waiter = [...this.#waiters].find((w) => w.predicate(message));
      if (waiter === undefined) {
        this.#unclaimed.push(message);
        return;
      }
      this.#waiters.delete(waiter);
      waiter.resolve(message);
    });
    this.closed = once(ws, 'close').then(([code, reason]) => ({ code: code as number, reason: String(reason) }));
  }

  static async connect(url: string, options?: ClientOptions): Promise<TrackerTestClient> {
    const client = new TrackerTestClient(new WebSocket(url, options));
    await once(client.ws, 'open');
    return client;
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** The next message (received earlier and not yet claimed, or to come) matching `predicate`. */
  next(predicate: Predicate, what: string): Promise<Message> {
    const index = this.#unclaimed.findIndex(predicate);
    if (index !== -1) return Promise.resolve(this.#unclaimed.splice(index, 1)[0]!);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`timed out waiting for ${what}; received ${JSON.stringify(this.received)}`));
      }, WAIT_MS);
      const waiter = {
        predicate,
        resolve: (m: Message) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      this.#waiters.add(waiter);
    });
  }

  /** Announces and returns the tracker's announce reply (the message with `interval`). */
  async announce(fields: Message): Promise<Message> {
    this.send({ action: 'announce', ...fields });
    return this.next(
      (m) => m.action === 'announce' && m.info_hash === fields.info_hash && 'interval' in m,
      `announce reply for ${JSON.stringify(fields.info_hash)}`,
    );
  }

  /** Scrapes and returns the whole reply. */
  async scrape(infoHash?: string | string[]): Promise<Message> {
    this.send(infoHash === undefined ? { action: 'scrape' } : { action: 'scrape', info_hash: infoHash });
    return this.next((m) => m.action === 'scrape' && 'files' in m, 'scrape reply');
  }

  /**
   * Round trip through the tracker: resolves once every message the tracker sent to this client
   * before handling this one has arrived (one socket delivers in order).
   */
  async sync(): Promise<void> {
    const marker = randomBytes(10).toString('hex');
    this.send({ action: 'scrape', info_hash: marker });
    await this.next((m) => m.action === 'scrape' && typeof m.files === 'object' && m.files !== null && marker in m.files, 'sync');
  }

  /** Sends a message and returns the failure reply. */
  async expectFailure(message: unknown): Promise<Message> {
    this.send(message);
    return this.next((m) => typeof m['failure reason'] === 'string', 'failure reason');
  }

  /** Messages carrying a relayed offer. */
  offers(): Message[] {
    return this.received.filter((m) => 'offer' in m);
  }

  /** Claims and returns every message not yet claimed by {@link next}, in order of arrival. */
  drain(): Message[] {
    return this.#unclaimed.splice(0);
  }

  async close(): Promise<void> {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.close();
    await this.closed;
  }
}
