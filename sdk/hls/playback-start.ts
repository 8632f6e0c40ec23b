/** The part of a media element this needs. */
export interface StartingMedia {
  readonly paused: boolean;
  readonly readyState: number;
  addEventListener?(type: 'playing' | 'timeupdate', listener: () => void, options: { signal: AbortSignal }): void;
}

/** `HTMLMediaElement.HAVE_FUTURE_DATA`: enough is decoded to play on. */
const HAVE_FUTURE_DATA = 3;

export interface PlaybackStartGateOptions {
  /** Called once, in a task of its own, when the gate opens after having held something back. */
  onOpen: () => void;
  /** Longest the gate stays shut once something waits on it: a paused or autoplay-blocked player never plays. */
  maxWaitMs: number;
  /** Closes the gate for good: nothing held back runs after this aborts. */
  signal: AbortSignal;
}

/**
 * Holds back work that would compete with the player's startup until its media plays. Joining
 * a swarm (a WebSocket, a batch of WebRTC offers) takes the main thread for tens of ms, up to
 * 200 ms under load, and hls.js asks for its second fragment in the moments between buffering
 * the first and the media element's `playing`: a join made then delays playback by that much
 * (bench:startup, live, swarm of 3: Shoal started 120 ms after plain hls.js at the median, with
 * a 55 to 208 ms long task right before `playing` in each traced startup). The work runs in a
 * task of its own once the media plays (`playing`, or a `timeupdate` while playing, for a
 * player that played before anyone asked), or once `maxWaitMs` passed, whichever comes first.
 * Until that task has run the gate stays shut, so nothing joins inside the media's own events.
 * Without a media element that reports events, the gate is open.
 */
export class PlaybackStartGate {
  readonly #options: PlaybackStartGateOptions;
  #state: 'shut' | 'waiting' | 'open' = 'shut';

  constructor(options: PlaybackStartGateOptions) {
    this.#options = options;
  }

  /** True when the work may run now; otherwise false, and `onOpen` is called once it may. */
  isOpen(media: StartingMedia | null | undefined): boolean {
    if (this.#state !== 'shut') return this.#state === 'open';
    if (!media || typeof media.addEventListener !== 'function') {
      this.#state = 'open';
      return true;
    }
    this.#state = 'waiting';
    const { signal, maxWaitMs, onOpen } = this.#options;
    const watching = new AbortController();
    const stopWatching = () => {
      watching.abort();
      clearTimeout(timer);
    };
    signal.addEventListener('abort', stopWatching, { once: true, signal: watching.signal });
    const open = () => {
      stopWatching();
      // In a task of its own, so that what the page does on `playing` runs first.
      setTimeout(() => {
        if (signal.aborted) return;
        this.#state = 'open';
        onOpen();
      }, 0);
    };
    const timer = setTimeout(open, maxWaitMs);
    const openIfPlaying = () => !media.paused && media.readyState >= HAVE_FUTURE_DATA && open();
    media.addEventListener('playing', openIfPlaying, { signal: watching.signal });
    media.addEventListener('timeupdate', openIfPlaying, { signal: watching.signal });
    return false;
  }
}
