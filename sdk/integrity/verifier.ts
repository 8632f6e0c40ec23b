/**
 * Integrity of segments that come from peers: nothing a peer sends reaches hls.js before it is
 * checked against a reference no peer controls. By default that reference is the SHA-256 the
 * tracker's integrity service publishes: it fetches each segment once from an allowlisted
 * origin and answers `GET /integrity?id=<segment id>` with its hash. Sites with their own
 * scheme give a `verifySegment` hook instead.
 */

/** What verification concluded: `unverifiable` means no reference could be had (not the peer's fault). */
export type Verdict = 'ok' | 'corrupt' | 'unverifiable';

export interface SegmentVerifier {
  /** Starts getting the reference for a segment a peer is about to send, so the check adds no wait. */
  expect(segmentId: string): void;
  verify(segmentId: string, data: ArrayBuffer): Promise<Verdict>;
}

/** What a `verifySegment` hook receives. */
export interface SegmentToVerify {
  segmentId: string;
  data: ArrayBuffer;
}

/** Trusts every peer: for trackers without an integrity service, at the site's own risk. */
export const trustingVerifier: SegmentVerifier = {
  expect() {},
  verify: async () => 'ok',
};

/** The site's own check; a hook that throws makes the segment unverifiable (HTTP then). */
export function hookVerifier(hook: (segment: SegmentToVerify) => boolean | Promise<boolean>): SegmentVerifier {
  return {
    expect() {},
    async verify(segmentId, data) {
      try {
        return (await hook({ segmentId, data })) ? 'ok' : 'corrupt';
      } catch {
        return 'unverifiable';
      }
    },
  };
}

/** The integrity service of a tracker URL: `wss://host/path` -> `https://host/integrity`. */
export function integrityUrlOf(trackerUrl: string): string {
  const url = new URL(trackerUrl);
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  url.pathname = '/integrity';
  url.search = '';
  url.hash = '';
  return url.toString();
}

/** Hashes remembered, so a segment's reference is fetched once per session. */
const REMEMBERED_HASHES = 512;
/** A reference that takes longer than this is given up on (the segment then comes over HTTP). */
const REFERENCE_TIMEOUT_MS = 5000;

/** Verifies against the SHA-256 published by a tracker's integrity service. */
export class TrackerHashVerifier implements SegmentVerifier {
  readonly #hashes = new Map<string, Promise<string | undefined>>();

  /**
   * @param serviceUrl the service, e.g. `https://tracker.example/integrity`.
   * @param onUnavailable told once per failure kind when the service gives no reference.
   */
  constructor(
    readonly serviceUrl: string,
    private readonly onUnavailable: (message: string) => void = () => {},
    private readonly fetchImpl: typeof fetch = (...args) => fetch(...args),
  ) {}

  expect(segmentId: string): void {
    void this.#reference(segmentId);
  }

  async verify(segmentId: string, data: ArrayBuffer): Promise<Verdict> {
    const [expected, actual] = await Promise.all([this.#reference(segmentId), sha256Hex(data)]);
    if (expected === undefined) return 'unverifiable';
    return expected === actual ? 'ok' : 'corrupt';
  }

  #reference(segmentId: string): Promise<string | undefined> {
    let hash = this.#hashes.get(segmentId);
    if (!hash) {
      hash = this.#fetchReference(segmentId);
      this.#hashes.set(segmentId, hash);
      // A failed lookup is forgotten, so a later segment load asks again.
      void hash.then((h) => h === undefined && this.#hashes.get(segmentId) === hash && this.#hashes.delete(segmentId));
      if (this.#hashes.size > REMEMBERED_HASHES) this.#hashes.delete(this.#hashes.keys().next().value as string);
    }
    return hash;
  }

  async #fetchReference(segmentId: string): Promise<string | undefined> {
    const url = `${this.serviceUrl}?id=${encodeURIComponent(segmentId)}`;
    try {
      const response = await this.fetchImpl(url, { signal: AbortSignal.timeout(REFERENCE_TIMEOUT_MS) });
      if (!response.ok) {
        this.#warn(`integrity service answered ${response.status} for ${segmentId}`);
        return undefined;
      }
      const body = (await response.json()) as { sha256?: unknown };
      if (typeof body.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(body.sha256)) {
        this.#warn('integrity service answered without a sha256');
        return undefined;
      }
      return body.sha256;
    } catch (error) {
      this.#warn(`integrity service unreachable: ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    }
  }

  #warned = new Set<string>();
  #warn(message: string): void {
    const kind = message.replace(/ for .*$/, '');
    if (this.#warned.has(kind)) return;
    this.#warned.add(kind);
    this.onUnavailable(message);
  }
}

export async function sha256Hex(data: ArrayBuffer): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', data));
  let hex = '';
  for (const byte of digest) hex += byte.toString(16).padStart(2, '0');
  return hex;
}
