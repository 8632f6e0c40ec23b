/**
 * Shoal for bundler users:
 *
 * ```ts
 * import Hls from 'hls.js';
 * import { Shoal } from 'shoal';
 * const P2PHls = Shoal.wrap(Hls, { trackers: ['wss://tracker.example.com'] });
 * // or, on an instance: const engine = Shoal.enable(new Hls(), { trackers: [...] });
 * ```
 */
export { Shoal, enable, wrap, type HlsClass } from './shoal.ts';
export { ShoalEngine, type ShoalStats, type HlsLike } from './engine.ts';
export { defaultConfig, resolveConfig, ShoalConfigError, type ShoalConfig, type ShoalOptions } from './config.ts';
export type { ShoalEventMap, ShoalEventName, ShoalEventHandler, SegmentSource } from './events.ts';
export type { SwarmIdentity, SegmentIdentity } from './hls/identity.ts';
