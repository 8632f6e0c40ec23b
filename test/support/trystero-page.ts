/**
 * Stock trystero in a browser page: `@trystero-p2p/torrent` bundled as is (esbuild, at test
 * time) and served on a blank page, so tests can drive trystero without any of Shoal's code.
 * The page is served over http://127.0.0.1, a secure context, as trystero's crypto requires.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export interface TrysteroPageServer {
  /** The blank page; `window.trystero` is `{ joinRoom, selfId }` of `@trystero-p2p/torrent`. */
  url: string;
  close(): Promise<void>;
}

/** Bundles trystero's torrent strategy and serves it on a blank page at a free port. */
export async function startTrysteroPageServer(): Promise<TrysteroPageServer> {
  const bundle = await build({
    stdin: {
      contents: "export { joinRoom, selfId } from '@trystero-p2p/torrent';",
      resolveDir: fileURLToPath(new URL('../..', import.meta.url)),
    },
    bundle: true,
    format: 'iife',
    globalName: 'trystero',
    target: 'es2022',
    write: false,
  });
  const script = bundle.outputFiles[0]?.text ?? '';
  const page = '<!doctype html><meta charset="utf-8"><title>trystero</title><script src="/trystero.js"></script>';
  const server = createServer((request, response) => {
    const [type, body] = request.url === '/trystero.js' ? ['text/javascript', script] : ['text/html', page];
    response.writeHead(200, { 'Content-Type': type, 'Cache-Control': 'no-store' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
