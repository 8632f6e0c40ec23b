/**
 * `shoal-tracker`: runs the tracker from the command line until SIGINT or SIGTERM.
 * Exit codes: 0 after a signal-triggered shutdown or `--help`, 1 if the tracker cannot start,
 * 2 for invalid arguments.
 */
import { parseArgs } from 'node:util';
import { startTracker, type TrackerOptions } from './server.ts';

const USAGE = `Usage: shoal-tracker [--port N] [--host H] [--interval SEC]

Shoal tracker: WebTorrent-protocol signaling over WebSocket at /,
with GET /health, GET /stats (JSON) and GET /metrics (Prometheus text).

Options:
  --port N        TCP port, 0 for any free port (default: $PORT, else 8000)
  --host H        interface to listen on (default: 0.0.0.0)
  --interval SEC  announce interval sent to clients, in seconds (default: 120)
  -h, --help      show this help
`;

/** An argument error: reported with the usage hint and exit code 2. */
class UsageError extends Error {}

function integerArg(name: string, value: string, min: number, max: number): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) {
    throw new UsageError(`invalid ${name} ${JSON.stringify(value)}: expected an integer from ${min} to ${max}`);
  }
  return n;
}

function parseCli(argv: string[], env: NodeJS.ProcessEnv): TrackerOptions | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        interval: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  if (values.help) return 'help';

  const options: TrackerOptions = { port: 8000 };
  if (values.port !== undefined) options.port = integerArg('--port', values.port, 0, 65535);
  else if (env.PORT) options.port = integerArg('PORT', env.PORT, 0, 65535);
  if (values.host !== undefined) {
    if (values.host === '') throw new UsageError('invalid --host "": expected a host name or address');
    options.host = values.host;
  }
  if (values.interval !== undefined) {
    options.announceIntervalSec = integerArg('--interval', values.interval, 1, 86400);
  }
  return options;
}

let options: TrackerOptions | 'help';
try {
  options = parseCli(process.argv.slice(2), process.env);
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  process.stderr.write(`shoal-tracker: ${err.message}\nRun 'shoal-tracker --help' for usage.\n`);
  process.exit(2);
}

if (options === 'help') {
  process.stdout.write(USAGE);
  process.exit(0);
}

const tracker = await startTracker(options).catch((err: unknown) => {
  const reason = err instanceof Error ? err.message : String(err);
  process.stderr.write(`shoal-tracker: cannot listen on ${options.host ?? '0.0.0.0'}:${options.port}: ${reason}\n`);
  process.exit(1);
});

const shutdown = (): void => {
  tracker.close().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`shoal-tracker: error while closing: ${String(err)}\n`);
      process.exit(1);
    },
  );
};
// `once`: a second signal while closing gets the default behaviour and ends the process.
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);

// Printed last: whoever waits for this line may signal the process right away.
process.stdout.write(`shoal-tracker listening on ${tracker.url} (health: ${tracker.httpUrl}/health)\n`);
