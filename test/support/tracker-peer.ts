/**
 * A WebSocket client of the tracker for tests: records what the tracker sends and awaits
 * expected messages; plus a tracker started per test and torn down with its clients.
 */
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import { WebSocket, type ClientOptions } from 'ws';
import { startTracker, type RunningTracker, type TrackerOptions } from '../../tracker/server.ts';

export type Message = Record<string, unknown>;
type Predicate = (message: Message) => boolean;

export const WAIT_MS = 3000;

/** A 20-character id, readable in failures. */
export const id = (label: string): string => label.padEnd(20, '.').slice(0, 20);
export const randomId = (): string => randomBytes(10).toString('hex');

/** A WebSocket client that records what the tracker sends and waits for expected messages. */
export class TestPeer {
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

  static async connect(url: string, options?: ClientOptions): Promise<TestPeer> {
    const peer = new TestPeer(new WebSocket(url, options));
    await once(peer.ws, 'open');
    return peer;
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

  /** Announces and returns the tracker's announce reply. */
  async announce(fields: Message): Promise<Message> {
    this.send({ action: 'announce', ...fields });
    return this.next(
      (m) => m.action === 'announce' && m.info_hash === fields.info_hash && 'interval' in m,
      `announce reply for ${String(fields.info_hash)}`,
    );
  }

  /** Scrapes and returns the reply's `files`. */
  async scrape(infoHash?: string | string[]): Promise<Record<string, unknown>> {
    this.send(infoHash === undefined ? { action: 'scrape' } : { action: 'scrape', info_hash: infoHash });
    const reply = await this.next((m) => m.action === 'scrape', 'scrape reply');
    return reply.files as Record<string, unknown>;
  }

  /** Sends a message and returns the failure reply. */
  async expectFailure(message: unknown): Promise<Message> {
    this.send(message);
    return this.next((m) => typeof m['failure reason'] === 'string', 'failure reason');
  }

  /**
   * Round trip through the tracker: resolves once every message the tracker sent to this peer
   * before handling this one has arrived (one socket delivers in order).
   */
  async sync(): Promise<void> {
    const marker = randomId();
    this.send({ action: 'scrape', info_hash: marker });
    await this.next((m) => m.action === 'scrape' && typeof m.files === 'object' && marker in (m.files as object), 'sync');
  }

  /** Messages carrying a relayed offer. */
  offers(): Message[] {
    return this.received.filter((m) => 'offer' in m);
  }

  async close(): Promise<void> {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.close();
    await this.closed;
  }
}

/**
 * Resolves once `condition` holds, checked at each turn of the event loop. Only for state the
 * tracker changes on its own socket events, which it exposes no event for.
 */
export async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Starts a tracker on a free port; the test's teardown closes it and every peer connected. */
export async function setup(
  t: TestContext,
  options: TrackerOptions = {},
): Promise<{ tracker: RunningTracker; connect: (options?: ClientOptions) => Promise<TestPeer> }> {
  const tracker = await startTracker({ port: 0, host: '127.0.0.1', ...options });
  const peers: TestPeer[] = [];
  t.after(async () => {
    await Promise.all(peers.map((p) => p.close()));
    await tracker.close();
  });
  return {
    tracker,
    connect: async (clientOptions) => {
      const peer = await TestPeer.connect(tracker.url, clientOptions);
      peers.push(peer);
      return peer;
    },
  };
}

export const offersOf = (...offerIds: string[]) =>
  offerIds.map((offer_id) => ({ offer_id, offer: { type: 'offer', sdp: `sdp of ${offer_id}` } }));

