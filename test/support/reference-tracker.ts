/**
 * The reference WebTorrent tracker: bittorrent-tracker's `Server` (the tracker WebTorrent
 * itself runs), WebSocket only. It knows nothing of Shoal; tests run Shoal's SDK and raw
 * client messages against it to show that Shoal speaks the standard protocol both ways.
 */
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { Server } from 'bittorrent-tracker';

export interface ReferenceTracker {
  port: number;
  /** WebSocket URL for clients, `ws://127.0.0.1:port`. */
  url: string;
  close(): Promise<void>;
}

/**
 * Starts bittorrent-tracker's server (WebSocket only, no UDP, HTTP tracker or stats page) on a
 * free port. `intervalMs` is its `interval` option (default 10 min; WebSocket clients are told a
 * fifth of it).
 */
export async function startReferenceTracker(options: { intervalMs?: number } = {}): Promise<ReferenceTracker> {
  const server = new Server({ udp: false, http: false, ws: true, stats: false, ...(options.intervalMs ? { interval: options.intervalMs } : {}) });
  // The server emits 'warning' for every bad request it answers; without a listener nothing happens.
  server.on('error', (err: Error) => console.error('reference tracker error', err));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const http = server.http;
  if (http === null) throw new Error('bittorrent-tracker started without its HTTP server');
  const { port } = http.address() as AddressInfo;
  // Its WebSocket server keeps no list of clients (clientTracking: false) and closing it leaves
  // them open, so the TCP sockets are tracked here to end them on close().
  const sockets = new Set<Socket>();
  http.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  let closing: Promise<void> | undefined;
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      })),
  };
}
