import { defaultConfig, resolveConfig, ShoalConfigError, type ShoalOptions } from './config.ts';
import { liveEngines, ShoalEngine, type HlsLike } from './engine.ts';

/** An `Hls` class, or anything constructed like one. */
export type HlsClass = new (...args: any[]) => HlsLike;

/**
 * Enables peer-assisted delivery on an existing `Hls` instance, before or after
 * `loadSource`: its next fragment loads go through Shoal.
 * @returns the engine, for `stats()`, events and `destroy()`; it is destroyed with the instance.
 */
export function enable(hls: HlsLike, options: ShoalOptions = {}): ShoalEngine {
  return new ShoalEngine(options).attach(hls);
}

/**
 * Returns a subclass of `HlsClass` whose every instance is P2P-enabled with `options`. Static
 * members (`isSupported`, `Events`, ...) are inherited, so it is a drop-in replacement.
 */
export function wrap<C extends HlsClass>(HlsClass: C, options: ShoalOptions = {}): C {
  // Fails now, naming the option, rather than at the first `new Hls()`.
  resolveConfig(options as Record<string, unknown>);
  return class ShoalHls extends HlsClass {
    constructor(...args: any[]) {
      super(...args);
      new ShoalEngine(options).attach(this);
    }
  };
}

/** The `Shoal` namespace: the global of the script tag, and the default export of the ESM build. */
export const Shoal = {
  enable,
  wrap,
  Engine: ShoalEngine,
  ConfigError: ShoalConfigError,
  defaultConfig,
  /** The engines alive on this page. */
  get instances(): ShoalEngine[] {
    return liveEngines();
  },
};
