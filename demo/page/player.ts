/**
 * The demo page's player: plain hls.js, exactly what a site already has. Shoal's script tag
 * made `Hls` P2P-enabled before this runs. It also records what hls.js itself received, so
 * tests can measure offload and check bytes without trusting Shoal's own counters.
 */
interface FragmentRecord {
  url: string;
  bytes: number;
  sha256?: string;
}

interface DemoState {
  /** The current `Hls` instance (a new one after {@link DemoState.recreate}). */
  hls: any;
  fragments: FragmentRecord[];
  stalls: number;
  stallSeconds: number;
  /** Each stall: when it began (performance.now()), the playhead, and what was buffered then. */
  stallLog: { at: number; currentTime: number; buffered: string }[];
  playingAt?: number;
  startedAt: number;
  fatalErrors: string[];
  /** Distance from the live edge, sampled once a second while playing (live only). */
  latencySamples: number[];
  /**
   * Destroys the `Hls` instance and plays the same stream with a new one on the same video
   * element, as a site does when its player component remounts. Playback restarts, so startup
   * is measured again rather than counted as a stall.
   */
  recreate(): void;
}

declare const Hls: any;

const params = new URLSearchParams(location.search);
const stream = params.get('stream') === 'vod' ? 'vod' : 'live';
const verify = params.has('verify');
// `?level=N` pins rendition N (0 is the lowest bitrate) and turns ABR off.
const level = params.has('level') ? Number(params.get('level')) : undefined;
// `?maxBuffer=S` keeps at most S seconds buffered ahead. hls.js otherwise fills a low-bitrate
// VOD whole: up to 60 MB, at most 600 s.
const maxBuffer = params.has('maxBuffer') ? Number(params.get('maxBuffer')) : undefined;
const video = document.getElementById('video') as HTMLVideoElement;

async function sha256(data: ArrayBuffer): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', data);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function createHls(): any {
  // Verification hashes the payload hls.js receives; its transmux worker would take it first.
  const hls = new Hls({
    ...(verify ? { enableWorker: false } : {}),
    ...(level !== undefined ? { startLevel: level } : {}),
    ...(maxBuffer !== undefined ? { maxBufferLength: maxBuffer, maxMaxBufferLength: maxBuffer } : {}),
  });
  hls.on(Hls.Events.FRAG_LOADED, (_event: unknown, data: any) => {
    const record: FragmentRecord = { url: data.frag.url, bytes: data.frag.stats.total };
    demo.fragments.push(record);
    if (verify && data.payload instanceof ArrayBuffer && data.payload.byteLength > 0) {
      void sha256(data.payload.slice(0)).then((hash) => (record.sha256 = hash));
    }
  });
  hls.on(Hls.Events.ERROR, (_event: unknown, data: any) => {
    if (data.fatal) demo.fatalErrors.push(`${data.type}: ${data.details}`);
  });
  if (level !== undefined) hls.on(Hls.Events.MANIFEST_PARSED, () => (hls.loadLevel = level));
  hls.loadSource(`${(window as any).demoOriginUrl}/${stream}/master.m3u8`);
  hls.attachMedia(video);
  return hls;
}

const demo: DemoState = {
  hls: undefined,
  fragments: [],
  stalls: 0,
  stallSeconds: 0,
  stallLog: [],
  startedAt: performance.now(),
  fatalErrors: [],
  latencySamples: [],
  recreate() {
    demo.hls.destroy();
    demo.playingAt = undefined;
    demo.startedAt = performance.now();
    demo.hls = createHls();
    video.play().catch(() => {});
  },
};
(window as any).demo = demo;
demo.hls = createHls();

let stallStartedAt: number | undefined;
video.addEventListener('playing', () => {
  demo.playingAt ??= performance.now();
  if (stallStartedAt !== undefined) demo.stallSeconds += (performance.now() - stallStartedAt) / 1000;
  stallStartedAt = undefined;
});
video.addEventListener('waiting', () => {
  if (demo.playingAt === undefined || video.seeking) return;
  demo.stalls++;
  stallStartedAt = performance.now();
  const ranges = Array.from({ length: video.buffered.length }, (_, i) => `${video.buffered.start(i).toFixed(2)}-${video.buffered.end(i).toFixed(2)}`);
  demo.stallLog.push({ at: stallStartedAt, currentTime: video.currentTime, buffered: ranges.join(' ') });
});

setInterval(() => {
  const { latency } = demo.hls;
  if (!video.paused && Number.isFinite(latency) && latency > 0) demo.latencySamples.push(latency);
}, 1000);

video.play().catch(() => {});
