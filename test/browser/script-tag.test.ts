import { expect } from '@esm-bundle/chai';
import Hls from 'hls.js';

type ShoalGlobal = { instances: Array<{ config: { trackers: string[]; maxPeers: number; appId: string }; destroy(): Promise<void> }> };

function loadScriptTag(attributes: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = `/dist/shoal.min.js?${Math.random()}`;
    for (const [name, value] of Object.entries(attributes)) script.setAttribute(name, value);
    script.onload = () => resolve();
    script.onerror = () => reject(new Error('script failed to load'));
    document.head.append(script);
  });
}

describe('script tag (dist/shoal.min.js)', () => {
  it('wraps window.Hls so a plain `new Hls()` is P2P-enabled with the data-* options', async () => {
    const page = window as unknown as { Hls: typeof Hls; Shoal: ShoalGlobal; shoalConfig?: unknown };
    page.Hls = Hls;
    page.shoalConfig = { appId: 'from-window-config', maxPeers: 2 };
    await loadScriptTag({ 'data-tracker': 'ws://127.0.0.1:9, ws://127.0.0.1:10', 'data-max-peers': '5' });
    expect(page.Hls).not.to.equal(Hls);
    const hls = new page.Hls();
    const engine = page.Shoal.instances.at(-1)!;
    expect(engine.config.trackers).to.deep.equal(['ws://127.0.0.1:9', 'ws://127.0.0.1:10']);
    expect(engine.config.maxPeers, 'data-* wins over window.shoalConfig').to.equal(5);
    expect(engine.config.appId).to.equal('from-window-config');
    hls.destroy();
    expect(page.Shoal.instances).not.to.include(engine);
  });
});
