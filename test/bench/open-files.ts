/**
 * This process's open-files limit and usage, read from Linux's /proc (undefined elsewhere).
 * Every socket is a file: the limit caps how many WebSocket connections one process can hold,
 * and an unprivileged process cannot raise it above the hard limit.
 */
import { readFileSync, readdirSync } from 'node:fs';

/** The soft `ulimit -n` of this process. */
export function openFilesLimit(): number | undefined {
  try {
    const match = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return match?.[1] === undefined ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}

/** Files (sockets, pipes, ...) this process has open now. */
export function openFileCount(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return undefined;
  }
}
