/**
 * Serves the demo page the way a video site would: the HTML with Shoal's script tag pointing at
 * the tracker, the page's own scripts, the built SDK and hls.js. Media comes from the origin,
 * a separate server, as from a CDN.
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';
import express from 'express';

export interface PageServerOptions {
  /** @default 8080 */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** WebSocket URL written into the script tag's `data-tracker`. */
  trackerUrl: string;
  /** Base URL of the media origin. */
  originUrl: string;
  /**
   * Include Shoal's script tag. `false` serves the same page as plain hls.js, the baseline
   * benchmarks compare against.
   * @default true
   */
  shoal?: boolean;
}

export interface RunningPageServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

const root = (path: string) => fileURLToPath(new URL(`../${path}`, import.meta.url));

export async function startPageServer(options: PageServerOptions): Promise<RunningPageServer> {
  const { port = 8080, host = '127.0.0.1' } = options;
  const app = express();
  const template = await readFile(root('demo/page/index.html'), 'utf8');
  const filled = template.replaceAll('{{TRACKER_URL}}', options.trackerUrl).replaceAll('{{ORIGIN_URL}}', options.originUrl);
  const page = options.shoal === false ? filled.replace(/^.*<script src="\/dist\/shoal\.min\.js".*$\n/m, '') : filled;
  app.get('/', (_request, response) => {
    response.type('html').set('Cache-Control', 'no-store').send(page);
  });
  app.get('/app/:name.js', async (request, response, next) => {
    const name = request.params.name;
    if (!/^[a-z-]+$/.test(name)) return next();
    try {
      const source = await readFile(root(`demo/page/${name}.ts`), 'utf8');
      const { code } = await transform(source, { loader: 'ts', target: 'es2020' });
      response.type('js').set('Cache-Control', 'no-store').send(code);
    } catch {
      next();
    }
  });
  app.use('/app', express.static(root('demo/page')));
  app.use('/dist', express.static(root('dist')));
  app.use('/vendor/hls', express.static(root('node_modules/hls.js/dist')));

  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    port: bound,
    url: `http://${host}:${bound}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
