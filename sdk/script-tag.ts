import { optionsFromDataset, resolveConfig } from './config.ts';
import { Shoal, wrap, type HlsClass } from './shoal.ts';

declare global {
  interface Window {
    Hls?: HlsClass;
    Shoal?: typeof Shoal;
    /** Options for the script tag, set before it loads; `data-*` attributes win over them. */
    shoalConfig?: Record<string, unknown>;
  }
}

/**
 * The script-tag build: reads options from `window.shoalConfig` and the tag's `data-*`
 * attributes, then replaces `window.Hls` by a P2P-enabled subclass so the page's own
 * `new Hls()` needs no change. If hls.js loads after this tag, it is wrapped when it arrives.
 */
function install(): void {
  const script = document.currentScript as HTMLScriptElement | null;
  const options = resolveConfig(window.shoalConfig, optionsFromDataset({ ...(script?.dataset ?? {}) }));
  const present = window.Hls;
  if (present) {
    window.Hls = wrap(present, options);
    return;
  }
  let wrapped: HlsClass | undefined;
  Object.defineProperty(window, 'Hls', {
    configurable: true,
    enumerable: true,
    get: () => wrapped,
    set: (HlsClass: HlsClass | undefined) => {
      wrapped = HlsClass ? wrap(HlsClass, options) : undefined;
    },
  });
}

install();

export default Shoal;
