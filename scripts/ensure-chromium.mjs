#!/usr/bin/env node
// Finds a Chromium for the browser tests, installing Debian's package when running as root and
// none is there. Prints the path; exits non-zero, saying why, when there is none to be had.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { findChromium } from '../test/support/chromium-path.mjs';

let path = findChromium();
if (!path && process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
  console.log('ensure-chromium: no Chromium found, installing Debian package "chromium"...');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: 'inherit', env });
  path = findChromium();
}
if (!path) {
  console.error('ensure-chromium: no Chromium found. Install one (Debian: apt-get install chromium) or set CHROME_PATH.');
  process.exit(1);
}
console.log(`ensure-chromium: using ${path}`);
