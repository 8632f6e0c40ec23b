import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TestPeer, id } from '../support/tracker-peer.ts';
import { exitOf, listening, printed, runCli } from '../support/tracker-cli-process.ts';

describe('shoal-tracker CLI', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`listens with --port 0, serves /health, and on ${signal} closes its clients (1001) and exits 0`, async (t) => {
      const cli = runCli(t, ['--port', '0', '--host', '127.0.0.1', '--interval', '30']);
      const { wsUrl, healthUrl } = await listening(cli);
      assert.match(wsUrl, /^ws:\/\/127\.0\.0\.1:\d+$/);
      assert.notEqual(wsUrl, 'ws://127.0.0.1:0');
      const res = await fetch(healthUrl);
      assert.deepEqual(await res.json(), { status: 'ok' });
      const peer = await TestPeer.connect(wsUrl);

      cli.child.kill(signal);
      assert.equal((await peer.closed).code, 1001, 'clients are told the tracker is going away');
      assert.equal(await exitOf(cli), 0);
    });
  }

  it('takes the port from PORT when --port is absent', async (t) => {
    const cli = runCli(t, ['--host', '127.0.0.1'], { PORT: '0' });
    await listening(cli);
    cli.child.kill('SIGTERM');
    assert.equal(await exitOf(cli), 0);
  });

  const invalid: [string, string[], Record<string, string>, RegExp][] = [
    ['--port abc', ['--port', 'abc'], {}, /invalid --port "abc"/],
    ['--port 70000', ['--port', '70000'], {}, /invalid --port "70000"/],
    ['--port without a value', ['--port'], {}, /--port/],
    ['--interval 0', ['--interval', '0'], {}, /invalid --interval "0"/],
    ['--interval soon', ['--interval', 'soon'], {}, /invalid --interval "soon"/],
    ['PORT=abc', [], { PORT: 'abc' }, /invalid PORT "abc"/],
    ['a limit out of range', ['--max-peers-per-client', '0'], {}, /invalid --max-peers-per-client "0"/],
    ['a limit from the environment out of range', [], { SHOAL_TRACKER_MAX_PEERS: 'lots' }, /invalid SHOAL_TRACKER_MAX_PEERS "lots"/],
    ['an origin that is not one', ['--allowed-origins', 'https://ok.example,example.com/path'], {}, /"example.com\/path" is not an origin/],
    ['a short token secret', [], { SHOAL_TRACKER_TOKEN_SECRET: 'short' }, /at least 16 characters/],
    ['an unknown log level', ['--log-level', 'loud'], {}, /invalid --log-level "loud"/],
    ['token without a secret', ['token', '--ttl', '60'], {}, /SHOAL_TRACKER_TOKEN_SECRET/],
    ['an unknown flag', ['--verbose'], {}, /--verbose/],
    ['a positional argument', ['8000'], {}, /8000/],
  ];
  for (const [name, args, env, message] of invalid) {
    it(`rejects ${name} with exit code 2`, async (t) => {
      const cli = runCli(t, args, env);
      assert.equal(await exitOf(cli), 2);
      assert.match(cli.stderr(), message);
      assert.equal(cli.stdout(), '');
    });
  }

  it('prints usage on --help and exits 0', async (t) => {
    const cli = runCli(t, ['--help']);
    assert.equal(await exitOf(cli), 0);
    assert.match(cli.stdout(), /^Usage: shoal-tracker/);
    assert.match(cli.stdout(), /--port N/);
  });

  it('exits 1 when the port is taken', async (t) => {
    const first = runCli(t, ['--port', '0', '--host', '127.0.0.1']);
    const { wsUrl } = await listening(first);
    const port = new URL(wsUrl).port;
    const second = runCli(t, ['--port', port, '--host', '127.0.0.1']);
    assert.equal(await exitOf(second), 1);
    assert.match(second.stderr(), /cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
    first.child.kill('SIGTERM');
    assert.equal(await exitOf(first), 0);
  });

  it('takes limits from the environment, flags winning, and logs JSON lines at the chosen level', async (t) => {
    const cli = runCli(t, ['--port', '0', '--host', '127.0.0.1', '--max-swarms-per-connection', '1', '--log-level', 'debug'], {
      SHOAL_TRACKER_MAX_SWARMS_PER_CONNECTION: '5',
      SHOAL_TRACKER_MAX_OFFERS_PER_ANNOUNCE: '1',
    });
    const { wsUrl } = await listening(cli);
    const peer = await TestPeer.connect(wsUrl);
    t.after(() => peer.close());
    await peer.announce({ info_hash: id('S1'), peer_id: id('A') });
    const failure = await peer.expectFailure({ action: 'announce', info_hash: id('S2'), peer_id: id('A') });
    assert.match(String(failure['failure reason']), /the limit is 1/);
    await printed(cli, /"msg":"rejected a message"/, 'logging the rejection');
    const logLines = cli.stdout().split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.ok(logLines.some((l) => l.msg === 'tracker listening' && l.level === 30));
    assert.ok(logLines.some((l) => l.msg === 'rejected a message' && l.code === 'swarm-limit' && l.level === 20), cli.stdout());
  });

  it('mints tokens with `token --ttl` that a tracker with the same secret accepts', async (t) => {
    const secret = { SHOAL_TRACKER_TOKEN_SECRET: 'the shared secret of this test' };
    const minted = runCli(t, ['token', '--ttl', '600'], secret);
    assert.equal(await exitOf(minted), 0);
    const token = minted.stdout().trim();
    assert.match(token, /^\d+\.[\w-]{43}$/);
    const cli = runCli(t, ['--port', '0', '--host', '127.0.0.1'], secret);
    const { wsUrl } = await listening(cli);
    const peer = await TestPeer.connect(`${wsUrl}/?token=${token}`);
    t.after(() => peer.close());
    assert.ok((await peer.announce({ info_hash: id('S'), peer_id: id('A') })).interval);
  });
});
