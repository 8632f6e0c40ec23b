/**
 * `shoal-tracker`: runs the tracker from the command line until SIGINT or SIGTERM.
 * Exit codes: 0 after a signal-triggered shutdown or `--help`, 1 if the tracker cannot start,
 * 2 for invalid arguments.
 */
import { parseArgs } from 'node:util';
import { createTrackerToken } from './access.ts';
import { parseIntegrityOrigin } from './integrity.ts';
import { startTracker, type TrackerOptions } from './server.ts';

/** Numeric options: flag, environment variable, option, allowed range, default shown in help. */
const NUMERIC_FLAGS = [
  ['interval', 'SHOAL_TRACKER_INTERVAL', 'announceIntervalSec', 1, 86_400, '120', 'announce interval sent to clients, seconds'],
  ['lonely-interval', 'SHOAL_TRACKER_LONELY_INTERVAL', 'lonelyAnnounceIntervalSec', 1, 86_400, '15', 'interval sent to a client short of partners, seconds'],
  ['max-peers-per-client', 'SHOAL_TRACKER_MAX_PEERS_PER_CLIENT', 'maxPeersPerClient', 1, 1000, '8', 'WebRTC connections handed to one client (set to the SDK maxPeers)'],
  ['max-offers-per-announce', 'SHOAL_TRACKER_MAX_OFFERS_PER_ANNOUNCE', 'maxOffersPerAnnounce', 1, 100, '10', 'offers relayed from one announce'],
  ['max-announces-per-sec', 'SHOAL_TRACKER_MAX_ANNOUNCES_PER_SEC', 'maxAnnouncesPerSec', 1, 100_000, '10', 'messages per second per connection (bursts of 2x)'],
  ['max-swarms-per-connection', 'SHOAL_TRACKER_MAX_SWARMS_PER_CONNECTION', 'maxSwarmsPerConnection', 1, 100_000, '32', 'swarms one connection may be in'],
  ['max-peers', 'SHOAL_TRACKER_MAX_PEERS', 'maxPeers', 1, 100_000_000, '100000', 'swarm memberships in the whole tracker'],
  ['max-connections', 'SHOAL_TRACKER_MAX_CONNECTIONS', 'maxConnections', 1, 100_000_000, '100000', 'open WebSocket connections'],
  ['max-message-bytes', 'SHOAL_TRACKER_MAX_MESSAGE_BYTES', 'maxMessageBytes', 1024, 16_777_216, '65536', 'largest message processed'],
  ['idle-timeout', 'SHOAL_TRACKER_IDLE_TIMEOUT', 'idleTimeoutSec', 1, 86_400, '60', 'close a connection in no swarm after this many seconds'],
  ['peer-timeout', 'SHOAL_TRACKER_PEER_TIMEOUT', 'peerTimeoutSec', 1, 86_400, 'max(2*interval, 300)', 'drop a peer that stopped announcing, seconds'],
  ['heartbeat-interval', 'SHOAL_TRACKER_HEARTBEAT_INTERVAL', 'heartbeatIntervalSec', 1, 86_400, '30', 'ping period; no pong by the next ping closes, seconds'],
] as const satisfies ReadonlyArray<readonly [string, string, keyof TrackerOptions, number, number, string, string]>;

const LOG_LEVELS = ['silent', 'fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

const USAGE = `Usage: shoal-tracker [options]
       shoal-tracker token --ttl SEC     print a token valid SEC seconds (secret from SHOAL_TRACKER_TOKEN_SECRET)

Shoal tracker: WebTorrent-protocol signaling over WebSocket at /,
with GET /health, GET /stats (JSON) and GET /metrics (Prometheus text).
Every option can also be set by the environment variable shown; the flag wins.

Options:
  --port N                  TCP port, 0 for any free port (PORT, SHOAL_TRACKER_PORT; default 8000)
  --host H                  interface to listen on (SHOAL_TRACKER_HOST; default 0.0.0.0)
${NUMERIC_FLAGS.map(([flag, env, , , , fallback, help]) => `  --${flag} N\n${' '.repeat(28)}${help} (${env}; default ${fallback})`).join('\n')}
  --allowed-origins LIST    comma-separated page origins allowed to connect, e.g.
                            https://example.com,https://*.example.com (SHOAL_TRACKER_ALLOWED_ORIGINS; default any)
  --integrity-origins LIST  comma-separated URL prefixes of the CDN whose segments the integrity
                            service hashes for viewers (from a HEAD's Repr-Digest header where the origin
                            sends one); prefix=fetch-prefix fetches them from elsewhere,
                            e.g. https://cdn.example.com/live/=http://origin.internal/live/
                            (SHOAL_TRACKER_INTEGRITY_ORIGINS; default none: service off)
  --token-secret S          require ?token= signed with S in the tracker URL; prefer the environment
                            variable, which ps does not show (SHOAL_TRACKER_TOKEN_SECRET; default none)
  --log-level L             ${LOG_LEVELS.join('|')} (LOG_LEVEL, SHOAL_TRACKER_LOG_LEVEL; default info)
  -h, --help                show this help
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

/** The flag's value, else the first environment variable set, with the name to report. */
function pick(flagValue: string | undefined, flag: string, env: NodeJS.ProcessEnv, ...envNames: string[]): [string, string] | undefined {
  if (flagValue !== undefined) return [`--${flag}`, flagValue];
  const envName = envNames.find((name) => env[name]);
  return envName === undefined ? undefined : [envName, env[envName] as string];
}

type Command = { kind: 'serve'; options: TrackerOptions } | { kind: 'token'; token: string } | { kind: 'help' };

function parseCli(argv: string[], env: NodeJS.ProcessEnv): Command {
  const isToken = argv[0] === 'token';
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: isToken ? argv.slice(1) : argv,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        ...Object.fromEntries(NUMERIC_FLAGS.map(([flag]) => [flag, { type: 'string' as const }])),
        'allowed-origins': { type: 'string' },
        'integrity-origins': { type: 'string' },
        'token-secret': { type: 'string' },
        'log-level': { type: 'string' },
        ttl: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const str = (name: string) => values[name] as string | undefined;
  if (values.help) return { kind: 'help' };

  const secret = pick(str('token-secret'), 'token-secret', env, 'SHOAL_TRACKER_TOKEN_SECRET');
  if (secret && secret[1].length < 16) throw new UsageError(`invalid ${secret[0]}: a token secret needs at least 16 characters`);
  if (isToken) {
    if (!secret) throw new UsageError('token: set SHOAL_TRACKER_TOKEN_SECRET (or --token-secret)');
    const ttl = integerArg('--ttl', str('ttl') ?? '', 1, 366 * 86_400);
    return { kind: 'token', token: createTrackerToken(secret[1], Math.floor(Date.now() / 1000) + ttl) };
  }
  if (str('ttl') !== undefined) throw new UsageError('--ttl only goes with the token command');

  const options: TrackerOptions = { port: 8000, logLevel: 'info' };
  const port = pick(str('port'), 'port', env, 'PORT', 'SHOAL_TRACKER_PORT');
  if (port) options.port = integerArg(...port, 0, 65535);
  const host = pick(str('host'), 'host', env, 'SHOAL_TRACKER_HOST');
  if (host) {
    if (host[1] === '') throw new UsageError(`invalid ${host[0]} "": expected a host name or address`);
    options.host = host[1];
  }
  for (const [flag, envName, key, min, max] of NUMERIC_FLAGS) {
    const value = pick(str(flag), flag, env, envName);
    if (value) options[key] = integerArg(...value, min, max);
  }
  const origins = pick(str('allowed-origins'), 'allowed-origins', env, 'SHOAL_TRACKER_ALLOWED_ORIGINS');
  if (origins) {
    const list = origins[1].split(',').map((o) => o.trim()).filter(Boolean);
    const bad = list.find((o) => !/^https?:\/\/(\*\.)?[^/*]+$/.test(o));
    if (bad !== undefined) throw new UsageError(`invalid ${origins[0]}: ${JSON.stringify(bad)} is not an origin like https://example.com or https://*.example.com`);
    options.allowedOrigins = list;
  }
  const integrity = pick(str('integrity-origins'), 'integrity-origins', env, 'SHOAL_TRACKER_INTEGRITY_ORIGINS');
  if (integrity) {
    const list = integrity[1].split(',').map((o) => o.trim()).filter(Boolean);
    for (const entry of list) {
      try {
        parseIntegrityOrigin(entry, integrity[0]);
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
    }
    options.integrityOrigins = list;
  }
  if (secret) options.tokenSecret = secret[1];
  const level = pick(str('log-level'), 'log-level', env, 'LOG_LEVEL', 'SHOAL_TRACKER_LOG_LEVEL');
  if (level) {
    const known = LOG_LEVELS.find((l) => l === level[1]);
    if (!known) throw new UsageError(`invalid ${level[0]} ${JSON.stringify(level[1])}: expected one of ${LOG_LEVELS.join(', ')}`);
    options.logLevel = known;
  }
  return { kind: 'serve', options };
}

let command: Command;
try {
  command = parseCli(process.argv.slice(2), process.env);
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  process.stderr.write(`shoal-tracker: ${err.message}\nRun 'shoal-tracker --help' for usage.\n`);
  process.exit(2);
}

if (command.kind === 'help') {
  process.stdout.write(USAGE);
  process.exit(0);
}
if (command.kind === 'token') {
  process.stdout.write(`${command.token}\n`);
  process.exit(0);
}
const { options } = command;

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
