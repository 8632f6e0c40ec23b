// Browser tests: real Chromium, real hls.js, a real paced origin (started here, once).
import { esbuildPlugin } from '@web/dev-server-esbuild';
import { chromeLauncher } from '@web/test-runner-chrome';
import { chromiumArgs, findChromium } from './test/support/chromium-path.mjs';
import { startOrigin } from './demo/origin.ts';

let origin;

/** Serves `/__env.json` so tests know where the origin listens. */
const originPlugin = {
  name: 'shoal-test-origin',
  async serverStart() {
    origin = await startOrigin({ port: 0, host: '127.0.0.1', ttfbMs: 20, rateBytesPerSec: 10_000_000 });
  },
  async serverStop() {
    await origin?.close();
  },
  serve(context) {
    if (context.path === '/__env.json') return { body: JSON.stringify({ originUrl: origin.url }), type: 'json' };
  },
};

export default {
  files: ['test/browser/**/*.test.ts'],
  nodeResolve: { browser: true },
  plugins: [esbuildPlugin({ ts: true, target: 'es2022', tsconfig: 'tsconfig.json' }), originPlugin],
  browsers: [chromeLauncher({ launchOptions: { executablePath: findChromium(), headless: true, args: chromiumArgs } })],
  concurrency: 1,
  testFramework: { config: { timeout: 30000 } },
  testsFinishTimeout: 180000,
};
