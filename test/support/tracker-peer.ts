/**
 * A tracker started per test and torn down with its clients, and small helpers for tracker
 * tests; the client itself is {@link TrackerTestClient}, re-exported as `TestPeer`.
 */
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import type { ClientOptions } from 'ws';
import { TrackerTestClient as TestPeer, WAIT_MS } from './tracker-test-client.ts';
import { startTracker, type RunningTracker, type TrackerOptions } from '../../tracker/server.ts';

export { TrackerTestClient as TestPeer, WAIT_MS, type Message } from './tracker-test-client.ts';

/** A 20-character id, readable in failures. */
export const id = (label: string): string => label.padEnd(20, '.').slice(0, 20);
export const randomId = (): string => randomBytes(10).toString('hex');

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

