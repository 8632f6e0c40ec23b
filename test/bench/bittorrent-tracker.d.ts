/**
 * What the tracker benchmark reads of bittorrent-tracker's server beyond the shared declaration
 * (test/support/bittorrent-tracker.d.ts): its swarms, public per its README.
 */
declare module 'bittorrent-tracker' {
  interface Server {
    /** Swarms by hex info hash; `peers` is an LRU cache whose `length` is its size. */
    readonly torrents: Record<string, { peers: { length: number } }>;
  }
}
