/**
 * Who may open a tracker connection: an `Origin` allowlist (browsers always send `Origin`, so
 * another site's pages cannot use a private tracker) and optional signed tokens for private
 * streams, passed as `?token=` in the tracker URL, which trystero and WebTorrent connect to
 * as given.
 *
 * A token is `<expiry>.<signature>`: the expiry in Unix seconds and the base64url HMAC-SHA256
 * of that number under the tracker's secret. The site's backend mints one per viewer session.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * True when `origin` matches an allowlist entry: an exact origin (`https://example.com`), or a
 * wildcard for subdomains (`https://*.example.com`, which does not match `https://example.com`).
 * An empty list allows every origin, and requests without `Origin` (non-browser clients).
 */
export function originAllowed(origin: string | undefined, allowlist: readonly string[]): boolean {
  if (allowlist.length === 0) return true;
  if (origin === undefined) return false;
  return allowlist.some((entry) => {
    const star = entry.indexOf('://*.');
    if (star < 0) return entry === origin;
    const scheme = entry.slice(0, star + 3);
    const suffix = entry.slice(star + 4); // '.example.com'
    return origin.startsWith(scheme) && origin.endsWith(suffix) && origin.length > scheme.length + suffix.length && !origin.slice(scheme.length, -suffix.length).includes('/');
  });
}

function sign(secret: string, expiresAtSec: number): string {
  return createHmac('sha256', secret).update(String(expiresAtSec)).digest('base64url');
}

/**
 * Mints a token valid until `expiresAt` (a Date or Unix seconds), for
 * `wss://tracker.example/?token=<token>`.
 */
export function createTrackerToken(secret: string, expiresAt: Date | number): string {
  const expiresAtSec = Math.floor(typeof expiresAt === 'number' ? expiresAt : expiresAt.getTime() / 1000);
  return `${expiresAtSec}.${sign(secret, expiresAtSec)}`;
}

/** Why a token is refused, or undefined when it is valid at `nowMs`. */
export function tokenProblem(token: string | null | undefined, secret: string, nowMs: number): string | undefined {
  if (!token) return 'missing token';
  const match = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(token);
  if (!match) return 'malformed token';
  const expiresAtSec = Number(match[1]);
  const expected = Buffer.from(sign(secret, expiresAtSec));
  if (!timingSafeEqual(expected, Buffer.from(match[2] as string))) return 'invalid token signature';
  if (expiresAtSec * 1000 <= nowMs) return 'expired token';
  return undefined;
}
