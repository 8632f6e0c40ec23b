import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, it, type TestContext } from 'node:test';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** tsx start-up included; generous for loaded CI machines. */
const WAIT_MS = 20_000;

interface Cli {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or the signal name if killed). */
  exited: Promise<number | string>;
}

/** Runs `tracker/cli.ts` from source; the test's teardown kills it if it still runs. */
function runCli(t: TestContext, args: string[], env: Record<string, string> = {}): Cli {
  const childEnv = { ...process.env, ...env };
  if (!('PORT' in env)) delete childEnv.PORT;
  const child = spawn(process.execPath, ['--import', 'tsx', 'tracker/cli.ts', ...args], {
    cwd: ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(child, 'exit').then(([code, signal]) => (code as number | null) ?? (signal as string));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Waits for the process to exit, failing after a timeout. */
async function exitOf(cli: Cli): Promise<number | string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`CLI did not exit; stderr: ${cli.stderr()}`)), WAIT_MS);
  });
  try {
    return await Promise.race([cli.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits for the "listening" line and returns the URLs it names. */
async function listening(cli: Cli): Promise<{ wsUrl: string; healthUrl: string }> {
  const pattern = /^shoal-tracker listening on (ws:\/\/\S+) \(health: (http:\/\/\S+\/health)\)$/m;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise((resolve, reject) => {
      const check = (): void => {
        const match = pattern.exec(cli.stdout());
        if (match) resolve({ wsUrl: match[1]!, healthUrl: match[2]! });
      };
      cli.child.stdout!.on('data', check);
      void cli.exited.then((code) => reject(new Error(`CLI exited (${code}) before listening: ${cli.stderr()}`)));
      timer = setTimeout(() => reject(new Error(`CLI not listening; stdout: ${cli.stdout()}`)), WAIT_MS);
      check();
    });
  } finally {
    clearTimeout(timer);
  }
}

describe('shoal-tracker CLI', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`listens with --port 0, serves /health, and exits 0 on ${signal}`, async (t) => {
      const cli = runCli(t, ['--port', '0', '--host', '127.0.0.1', '--interval', '30']);
      const { wsUrl, healthUrl } = await listening(cli);
      assert.match(wsUrl, /^ws:\/\/127\.0\.0\.1:\d+$/);
      assert.notEqual(wsUrl, 'ws://127.0.0.1:0');
      const res = await fetch(healthUrl);
      assert.deepEqual(await res.json(), { status: 'ok' });

      cli.child.kill(signal);
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
});
