import { expect } from '@esm-bundle/chai';
import Hls from 'hls.js';
import type { FragmentLoaderContext, LoaderStats } from 'hls.js';
import { Shoal, ShoalConfigError } from '../../sdk/index.ts';
import type { SegmentSource } from '../../sdk/index.ts';
import { testEnv } from './env.ts';

async function originMediaBytes(originUrl: string): Promise<number> {
  const response = await fetch(`${originUrl}/origin/stats`);
  return (await response.json()).mediaBytesSent;
}

/** Plays `url` until `count` fragments have loaded; returns what hls.js received. */
function playFragments(hls: Hls, url: string, count: number): Promise<{ bytes: number; urls: string[] }> {
  const video = document.createElement('video');
  video.muted = true;
  document.body.append(video);
  return new Promise((resolve, reject) => {
    let bytes = 0;
    const urls: string[] = [];
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (data.fatal) reject(new Error(`fatal hls.js error: ${data.details}`));
    });
    hls.on(Hls.Events.FRAG_LOADED, (_event, data) => {
      bytes += data.frag.stats.total;
      urls.push(data.frag.url);
      if (urls.length === count) resolve({ bytes, urls });
    });
    hls.loadSource(url);
    hls.attachMedia(video);
    video.play().catch(() => {});
  });
}

describe('fragment loader with real hls.js', () => {
  afterEach(async () => {
    for (const engine of Shoal.instances) await engine.destroy();
    document.querySelectorAll('video').forEach((v) => v.remove());
  });

  it('loads every fragment over HTTP when there are no trackers, with honest byte counts', async () => {
    const { originUrl } = await testEnv();
    const hls = new Hls();
    const engine = Shoal.enable(hls, { trackers: [] });
    const sources: SegmentSource[] = [];
    engine.on('segment-loaded', (event) => sources.push(event.source));
    const { bytes } = await playFragments(hls, `${originUrl}/vod/master.m3u8`, 3);
    const stats = engine.stats();
    expect(stats.p2p).to.equal('no-trackers');
    expect(stats.httpBytes).to.equal(bytes);
    expect(stats.p2pBytes).to.equal(0);
    expect(sources.slice(0, 3)).to.deep.equal(['http', 'http', 'http']);
    hls.destroy();
  });

  it('serves a repeated load of the same segment from its cache, not the origin', async () => {
    const { originUrl } = await testEnv();
    const hls = new Hls();
    const engine = Shoal.enable(hls, { trackers: [] });
    const { urls } = await playFragments(hls, `${originUrl}/vod/master.m3u8`, 1);
    hls.stopLoad();
    const before = await originMediaBytes(originUrl);
    const frag = hls.levels[hls.currentLevel >= 0 ? hls.currentLevel : 0]?.details?.fragments.find((f) => f.url === urls[0]);
    expect(frag, 'the fragment hls.js loaded').to.exist;
    const context = { url: frag!.url, responseType: 'arraybuffer', type: 'media-fragment', frag, part: null } as unknown as FragmentLoaderContext;
    const loader = new engine.loaderClass(hls.config);
    const loaded = await new Promise<{ data: ArrayBuffer; stats: LoaderStats }>((resolve, reject) => {
      loader.load(context, { loadPolicy: hls.config.fragLoadPolicy.default, timeout: 10000, maxRetry: 0, retryDelay: 0, maxRetryDelay: 0 }, {
        onSuccess: (response, stats) => resolve({ data: response.data as ArrayBuffer, stats }),
        onError: (error) => reject(new Error(error.text)),
        onTimeout: () => reject(new Error('timeout')),
      });
    });
    expect(loaded.data.byteLength).to.be.greaterThan(1000);
    expect(loaded.stats.total).to.equal(loaded.data.byteLength);
    expect(engine.stats().segments.cache).to.equal(1);
    expect(await originMediaBytes(originUrl)).to.equal(before);
    hls.destroy();
  });

  it('joins its swarm only once the player plays, not while it starts up', async () => {
    const { originUrl } = await testEnv();
    // A tracker address no other test used: trystero keeps one socket per address per page.
    const tracker = `ws://127.0.0.1:9/join-after-playing-${Math.random().toString(36).slice(2)}`;
    let socketOpened: (at: number) => void = () => {};
    const joinedAt = new Promise<number>((resolve) => (socketOpened = resolve));
    const RealWebSocket = window.WebSocket;
    window.WebSocket = class extends RealWebSocket {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols);
        if (String(url) === tracker) socketOpened(performance.now());
      }
    };
    try {
      const hls = new Hls();
      Shoal.enable(hls, { trackers: [tracker], persistentCacheBytes: 0 });
      const video = document.createElement('video');
      video.muted = true;
      document.body.append(video);
      let firstBufferedAt: number | undefined;
      let bufferedCount = 0;
      const buffered = new Promise<void>((resolve) =>
        hls.on(Hls.Events.FRAG_BUFFERED, () => {
          firstBufferedAt ??= performance.now();
          // By the third fragment, hls.js has asked for two with media buffered: a join would have happened.
          if (++bufferedCount === 3) resolve();
        }),
      );
      hls.loadSource(`${originUrl}/vod/master.m3u8`);
      hls.attachMedia(video);
      await buffered;
      const playing = new Promise<number>((resolve) => video.addEventListener('playing', () => resolve(performance.now()), { once: true }));
      await video.play();
      const playingAt = await playing;
      const joined = await joinedAt;
      // The engine joins after `playing`, or after its wait for playback ran out (1 s after the
      // first media was buffered, for a paused player): never at the second fragment's load.
      const afterWaitRanOut = joined - (firstBufferedAt as number) >= 900;
      expect(joined >= playingAt || afterWaitRanOut, `joined ${Math.round(joined - (firstBufferedAt as number))} ms after the first fragment was buffered, playing at ${Math.round(playingAt - (firstBufferedAt as number))} ms`).to.equal(true);
      hls.destroy();
    } finally {
      window.WebSocket = RealWebSocket;
    }
  });

  it('destroys the engine with the Hls instance and hands loading back', async () => {
    const hls = new Hls();
    const engine = Shoal.enable(hls, { trackers: ['ws://127.0.0.1:9'] });
    expect(Shoal.instances).to.include(engine);
    expect(hls.config.fLoader).to.equal(engine.loaderClass);
    hls.destroy();
    expect(Shoal.instances).not.to.include(engine);
    expect(engine.stats().p2p).to.equal('destroyed');
  });

  it('rejects a bad option by name', () => {
    expect(() => Shoal.enable(new Hls(), { maxPeers: 0 })).to.throw(ShoalConfigError, /maxPeers/);
    expect(() => Shoal.wrap(Hls, { trackers: ['http://not-a-websocket'] })).to.throw(ShoalConfigError, /trackers/);
    expect(() => Shoal.enable(new Hls(), { cacheBytes: -1 } as never)).to.throw(/cacheBytes/);
  });

  it('wraps an Hls class: every instance gets an engine, statics are kept', () => {
    const P2PHls = Shoal.wrap(Hls, { trackers: ['ws://127.0.0.1:9'], maxPeers: 3 });
    expect(P2PHls.isSupported()).to.equal(true);
    expect(P2PHls.Events).to.equal(Hls.Events);
    const hls = new P2PHls();
    const engine = Shoal.instances.at(-1)!;
    expect(engine.config.maxPeers).to.equal(3);
    expect(hls.config.fLoader).to.equal(engine.loaderClass);
    hls.destroy();
  });
});
