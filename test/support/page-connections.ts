/**
 * The WebRTC peer connections and WebSockets a page opens, tracked from before its first script
 * runs, so that a test can tell what is still open once the page's player is gone.
 *
 * `trackConnections(page)` replaces `window.RTCPeerConnection` and `window.WebSocket` by
 * subclasses that record every instance (and count what each WebSocket sends); code that
 * constructs them through the globals, as trystero does, cannot tell the difference.
 */
import type { Page } from 'puppeteer-core';

/** One connection the page created, as it is now. */
export interface TrackedConnection {
  kind: 'RTCPeerConnection' | 'WebSocket';
  /** Creation order on the page, per kind, from 0. */
  index: number;
  /** The page's `performance.now()` at creation. */
  createdAt: number;
  /** `connectionState/signalingState` of a peer connection; `readyState` name of a WebSocket. */
  state: string;
  /** A peer connection not closed (`close()` not called), a WebSocket CONNECTING or OPEN. */
  open: boolean;
  /** Peer connection only: it reached `connected` at some point, so it carried a peer. */
  everConnected?: boolean;
  /** WebSocket only: its URL and the messages sent on it. */
  url?: string;
  sent?: number;
}

/** Starts tracking on every document the page loads from now on (reloads included). */
export async function trackConnections(page: Page): Promise<void> {
  // tsx compiles with esbuild's keepNames, which wraps named functions and classes in calls to a
  // `__name` helper that only exists in Node: give the page one.
  await page.evaluateOnNewDocument('globalThis.__name ??= (fn) => fn;');
  await page.evaluateOnNewDocument(() => {
    const w = window as any;
    const peerConnections: Array<{ pc: RTCPeerConnection; createdAt: number; everConnected: boolean }> = [];
    const webSockets: Array<{ ws: WebSocket; createdAt: number; sent: number }> = [];
    w.trackedConnections = { peerConnections, webSockets };
    const NativePeerConnection = window.RTCPeerConnection;
    if (NativePeerConnection) {
      window.RTCPeerConnection = class extends NativePeerConnection {
        constructor(...args: ConstructorParameters<typeof RTCPeerConnection>) {
          super(...args);
          const record = { pc: this as RTCPeerConnection, createdAt: performance.now(), everConnected: false };
          peerConnections.push(record);
          this.addEventListener('connectionstatechange', () => {
            if (this.connectionState === 'connected') record.everConnected = true;
          });
        }
      };
    }
    const NativeWebSocket = window.WebSocket;
    window.WebSocket = class extends NativeWebSocket {
      constructor(...args: ConstructorParameters<typeof WebSocket>) {
        super(...args);
        const record = { ws: this as WebSocket, createdAt: performance.now(), sent: 0 };
        webSockets.push(record);
        const send = this.send.bind(this);
        this.send = (data) => {
          record.sent++;
          send(data);
        };
      }
    };
  });
}

/** Every connection the current document of the page created, open or not. */
export function connectionsOf(page: Page): Promise<TrackedConnection[]> {
  return page.evaluate(() => {
    const tracked = (window as any).trackedConnections as
      | { peerConnections: Array<{ pc: RTCPeerConnection; createdAt: number; everConnected: boolean }>; webSockets: Array<{ ws: WebSocket; createdAt: number; sent: number }> }
      | undefined;
    if (!tracked) throw new Error('connections are not tracked on this page: call trackConnections(page) before it loads');
    const readyStates = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'];
    return [
      ...tracked.peerConnections.map(({ pc, createdAt, everConnected }, index) => ({
        kind: 'RTCPeerConnection' as const,
        index,
        createdAt,
        state: `${pc.connectionState}/${pc.signalingState}`,
        open: pc.connectionState !== 'closed' && pc.signalingState !== 'closed',
        everConnected,
      })),
      ...tracked.webSockets.map(({ ws, createdAt, sent }, index) => ({
        kind: 'WebSocket' as const,
        index,
        createdAt,
        state: readyStates[ws.readyState] ?? String(ws.readyState),
        open: ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN,
        url: ws.url,
        sent,
      })),
    ];
  });
}

/** Connections listed in full per group by {@link describeConnections}; the rest are counted. */
const LISTED_PER_GROUP = 6;

/**
 * The connections grouped by kind and state, for assertion messages:
 * `RTCPeerConnection new/have-local-offer x3 (#40 at 1.4 s, ...); WebSocket OPEN x1 (...)`.
 */
export function describeConnections(connections: TrackedConnection[]): string {
  const groups = new Map<string, TrackedConnection[]>();
  for (const c of connections) {
    const key = `${c.kind} ${c.state}`;
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  return [...groups]
    .map(([key, group]) => {
      const each = group.map((c) => `#${c.index} at ${(c.createdAt / 1000).toFixed(1)} s${c.url ? ` to ${c.url}, ${c.sent} sent` : ''}`);
      const shown = each.length > LISTED_PER_GROUP ? [...each.slice(0, LISTED_PER_GROUP), '...'] : each;
      return `${key} x${group.length} (${shown.join(', ')})`;
    })
    .join('; ');
}
