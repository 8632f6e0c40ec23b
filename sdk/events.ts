/**
 * Where a segment handed to hls.js came from. `p2p` includes a live segment fetched from a peer
 * ahead of the player (a prefetch) and handed over from the cache the first time; `cache` is a
 * segment handed over before, or kept from an earlier page load.
 */
export type SegmentSource = 'http' | 'p2p' | 'cache';

/** The events an engine emits, by name, with their payloads. */
export interface ShoalEventMap {
  /**
   * A segment was handed to hls.js, `bytes` long. A segment a peer sent in part before HTTP
   * fetched the rest is `http`, with the peer and the `peerBytes` it sent.
   */
  'segment-loaded': { segmentId: string; source: SegmentSource; bytes: number; durationMs: number; peerId?: string; peerBytes?: number };
  /** A peer attempt failed and the segment went to HTTP instead. */
  'peer-fallback': { segmentId: string; peerId: string; reason: string };
  /** Bytes served to a peer. */
  'segment-uploaded': { peerId: string; bytes: number };
  'peer-connected': { peerId: string; swarmId: string };
  'peer-disconnected': { peerId: string; swarmId: string };
  /** Something went wrong in the P2P layer; playback carries on over HTTP. */
  error: { message: string; error?: unknown };
}

export type ShoalEventName = keyof ShoalEventMap;
export type ShoalEventHandler<K extends ShoalEventName> = (event: ShoalEventMap[K]) => void;

/** A small typed emitter; a throwing handler is reported, never allowed to break a load. */
export class ShoalEvents {
  #handlers = new Map<ShoalEventName, Set<(event: never) => void>>();

  on<K extends ShoalEventName>(name: K, handler: ShoalEventHandler<K>): () => void {
    let set = this.#handlers.get(name);
    if (!set) this.#handlers.set(name, (set = new Set()));
    set.add(handler as (event: never) => void);
    return () => this.off(name, handler);
  }

  off<K extends ShoalEventName>(name: K, handler: ShoalEventHandler<K>): void {
    this.#handlers.get(name)?.delete(handler as (event: never) => void);
  }

  emit<K extends ShoalEventName>(name: K, event: ShoalEventMap[K]): void {
    for (const handler of this.#handlers.get(name) ?? []) {
      try {
        (handler as ShoalEventHandler<K>)(event);
      } catch (error) {
        if (name !== 'error') this.emit('error', { message: `handler for ${name} threw`, error });
      }
    }
  }

  clear(): void {
    this.#handlers.clear();
  }
}
