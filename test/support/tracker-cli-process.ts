/**
 * The `shoal-tracker` CLI as a child process for tests, run from source; killed at the end of
 * the test that started it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** tsx start-up included; generous for loaded CI machines. */
export const WAIT_MS = 20_000;

export interface Cli {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or the signal name if killed). */
  exited: Promise<number | string>;
}

/** Runs `tracker/cli.ts` from source; the test's teardown kills it if it still runs. */
export function runCli(t: TestContext, args: string[], env: Record<string, string> = {}): Cli {
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
export async function exitOf(cli: Cli): Promise<number | string> {
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
export async function listening(cli: Cli): Promise<{ wsUrl: string; healthUrl: string }> {
  const match = await printed(cli, /^shoal-tracker listening on (ws:\/\/\S+) \(health: (http:\/\/\S+\/health)\)$/m, 'listening');
  return { wsUrl: match[1]!, healthUrl: match[2]! };
}

/** Waits until the CLI's stdout matches `pattern` (it writes asynchronously to what it answers). */
export async function printed(cli: Cli, pattern: RegExp, what: string): Promise<RegExpExecArray> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise((resolve, reject) => {
      const check = (): void => {
        const match = pattern.exec(cli.stdout());
        if (match) resolve(match);
      };
      cli.child.stdout!.on('data', check);
      void cli.exited.then((code) => reject(new Error(`CLI exited (${code}) before ${what}: ${cli.stderr()}`)));
      timer = setTimeout(() => reject(new Error(`CLI not ${what}; stdout: ${cli.stdout()}`)), WAIT_MS);
      check();
    });
  } finally {
    clearTimeout(timer);
  }
}

