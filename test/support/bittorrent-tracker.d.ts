/**
 * The parts of bittorrent-tracker (v11, untyped JavaScript) that Shoal's tests use: the server,
 * as the reference WebTorrent tracker, and the client's tracker messaging. The client's WebRTC
 * is stubbed in this repository (see package.json `overrides`), so tests use it with
 * `numwant: 0`: it then announces and scrapes without ever creating a peer connection.
 */
declare module 'bittorrent-tracker' {
  import { EventEmitter } from 'node:events';
  import type { Server as HttpServer } from 'node:http';

  export interface ServerOptions {
    /** Milliseconds; WebSocket clients are told a fifth of it as `interval`. @default 600000 */
    interval?: number;
    http?: boolean | object;
    udp?: boolean | object;
    ws?: boolean | object;
    stats?: boolean;
    trustProxy?: boolean;
  }

  export class Server extends EventEmitter {
    constructor(options?: ServerOptions);
    /** The HTTP server the WebSocket server is attached to (present when `ws` is on). */
    readonly http: HttpServer | null;
    listen(port: number, hostname?: string, onListening?: () => void): void;
    close(callback?: (err?: Error | null) => void): void;
  }

  /** Options of {@link Client}: ids are 40 hex characters (or bytes). */
  export interface ClientOptions {
    infoHash: string | Uint8Array;
    peerId: string | Uint8Array;
    announce: string | string[];
    port: number;
    /** Truthy enables `ws:` trackers; `{}` with `numwant: 0` never creates a peer. */
    wrtc?: object | false;
    getAnnounceOpts?: () => Record<string, unknown>;
  }

  export interface AnnounceOptions {
    numwant?: number;
    uploaded?: number;
    downloaded?: number;
    left?: number;
  }

  /** `update` event: the announce reply with `announce` (tracker URL) and `infoHash` (hex) added. */
  export interface UpdateEvent extends Record<string, unknown> {
    announce: string;
    infoHash: string;
    complete: number;
    incomplete: number;
  }

  /** `scrape` event: one `files` entry with `announce` and `infoHash` (hex) added. */
  export interface ScrapeEvent extends Record<string, unknown> {
    announce: string;
    infoHash: string;
    complete: number;
    incomplete: number;
    downloaded: number;
  }

  export default class Client extends EventEmitter {
    constructor(options: ClientOptions);
    start(options?: AnnounceOptions): void;
    complete(options?: AnnounceOptions): void;
    update(options?: AnnounceOptions): void;
    stop(options?: AnnounceOptions): void;
    scrape(options?: { infoHash?: string | string[] }): void;
    destroy(callback?: (err?: Error | null) => void): void;
  }
}
