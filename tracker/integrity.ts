/**
 * The integrity service: `GET /integrity?id=<segment id>` answers the SHA-256 of a segment,
 * which the tracker gets once from the CDN itself. Viewers check segments that peers send
 * against it, so no peer can show them wrong video.
 *
 * An origin that publishes its files' digests (`Repr-Digest: sha-256=:...:`, RFC 9530) costs
 * a HEAD per segment instead of the segment's bytes: the CDN then sends each segment to the
 * swarm alone, which matters most to small swarms, where one more copy is a large share. An
 * origin whose answer to a HEAD carries no SHA-256 digest has its segments fetched from then on.
 *
 * The segment id is Shoal's default one: the segment URL without its query, plus `@start-end`
 * for a byte range (end exclusive). So that the tracker never becomes an open proxy, only URLs
 * under the allowlisted origins are fetched, nothing fetched is ever returned (only its hash),
 * segments larger than a cap are refused, fetches run a few at a time with a bounded queue,
 * and the hashes are kept in a bounded LRU.
 */
import { createHash } from 'node:crypto';

/** A URL prefix whose segments the service hashes, and where it fetches them from. */
export interface IntegrityOrigin {
  /** Segment URLs (the ids viewers ask about) under this prefix are hashed, e.g. `https://cdn.example.com/live/`. */
  prefix: string;
  /** The same files under another prefix, fetched instead (the site's origin behind its CDN, say); the prefix itself when unset. */
  fetchPrefix?: string;
}

/**
 * Reads `prefix` or `prefix=fetchPrefix` (both absolute http(s) URLs); throws a RangeError
 * naming `optionName` otherwise.
 */
export function parseIntegrityOrigin(entry: string, optionName: string): IntegrityOrigin {
  const invalid = () =>
    new RangeError(`invalid ${optionName}: ${JSON.stringify(entry)} is not a URL prefix, or prefix=fetch-prefix, like https://cdn.example.com/live/=http://origin.internal/live/`);
  const href = (text: string) => {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw invalid();
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid();
    return url.href;
  };
  const parts = entry.split('=');
  if (parts.length > 2) throw invalid();
  const [prefix, fetchPrefix] = parts as [string, string | undefined];
  return fetchPrefix === undefined ? { prefix: href(prefix) } : { prefix: href(prefix), fetchPrefix: href(fetchPrefix) };
}

export interface IntegrityOptions {
  /** Where segments may be fetched from. */
  origins: readonly IntegrityOrigin[];
  /** Hashes kept. */
  maxEntries: number;
  /** Largest segment hashed. */
  maxSegmentBytes: number;
  /** Fetches at once; more wait in a queue of `4 * maxConcurrentFetches`, beyond it 503. */
  maxConcurrentFetches: number;
  /** A fetch that takes longer fails. */
  fetchTimeoutMs: number;
}

export const defaultIntegrityOptions: Omit<IntegrityOptions, 'origins'> = {
  maxEntries: 50_000,
  maxSegmentBytes: 32 * 1024 * 1024,
  maxConcurrentFetches: 16,
  fetchTimeoutMs: 10_000,
};

/** An answer of the service: HTTP status and JSON body. */
export interface IntegrityAnswer {
  status: number;
  body: { sha256: string; bytes: number } | { error: string };
}

/** Splits a segment id into URL and byte range; undefined when it is not an http(s) URL. */
export function parseSegmentId(id: string): { url: URL; range: [number, number] | undefined } | undefined {
  const match = /^(.*)@(\d+)-(\d+)$/.exec(id);
  const urlText = match ? (match[1] as string) : id;
  let url: URL;
  try {
    url = new URL(urlText);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (!match) return { url, range: undefined };
  const [start, end] = [Number(match[2]), Number(match[3])];
  return end > start ? { url, range: [start, end] } : undefined;
}

/**
 * User-Agent of the integrity service's segment fetches, so that a CDN's logs (and a site's
 * routing, to an origin shield say) can tell them from viewers': each is one fetch per segment
 * per rendition, the price of hashes no peer controls.
 */
export const INTEGRITY_USER_AGENT = 'shoal-tracker-integrity';

export class SegmentHasher {
  readonly #hashes = new Map<string, { sha256: string; bytes: number }>();
  readonly #inFlight = new Map<string, Promise<IntegrityAnswer>>();
  readonly #queue: Array<() => void> = [];
  /** Origins whose answer to a HEAD carried no SHA-256 `Repr-Digest`: their segments are fetched. */
  readonly #withoutDigests = new Set<IntegrityOrigin>();
  #running = 0;
  /** Segments (or byte ranges) fetched to be hashed. */
  fetches = 0;
  /** Hashes read from an origin's `Repr-Digest` instead of fetching the segment. */
  digestsRead = 0;

  constructor(
    readonly options: IntegrityOptions,
    private readonly fetchImpl: typeof fetch = (...args) => fetch(...args),
  ) {}

  get size(): number {
    return this.#hashes.size;
  }

  /** The answer for a segment id: from the cache, or after fetching it once. Never rejects. */
  async lookup(id: string): Promise<IntegrityAnswer> {
    if (this.options.origins.length === 0) return { status: 404, body: { error: 'integrity service disabled: start the tracker with --integrity-origins' } };
    const known = this.#hashes.get(id);
    if (known) {
      this.#hashes.delete(id);
      this.#hashes.set(id, known);
      return { status: 200, body: known };
    }
    const parsed = parseSegmentId(id);
    if (!parsed) return { status: 400, body: { error: 'invalid id: expected a segment URL, optionally with @start-end' } };
    const href = parsed.url.href;
    const origin = this.options.origins.find(({ prefix }) => href.startsWith(prefix));
    if (!origin) return { status: 403, body: { error: 'segment URL not under an allowed origin' } };
    const fetchUrl = origin.fetchPrefix === undefined ? parsed.url : new URL(origin.fetchPrefix + href.slice(origin.prefix.length));
    let answer = this.#inFlight.get(id);
    if (!answer) {
      if (this.#queue.length >= 4 * this.options.maxConcurrentFetches) return { status: 503, body: { error: 'busy: try again later' } };
      answer = this.#queued(() => this.#hash(id, fetchUrl, parsed.range, origin)).finally(() => this.#inFlight.delete(id));
      this.#inFlight.set(id, answer);
    }
    return answer;
  }

  async #queued<T>(task: () => Promise<T>): Promise<T> {
    if (this.#running >= this.options.maxConcurrentFetches) await new Promise<void>((resolve) => this.#queue.push(resolve));
    this.#running++;
    try {
      return await task();
    } finally {
      this.#running--;
      this.#queue.shift()?.();
    }
  }

  async #hash(id: string, url: URL, range: [number, number] | undefined, origin: IntegrityOrigin): Promise<IntegrityAnswer> {
    try {
      // A published digest is of the whole file: a byte range is always fetched and hashed.
      const published = range || this.#withoutDigests.has(origin) ? undefined : await this.#publishedDigest(url, origin);
      const answer = published ?? (await this.#fetchAndHash(url, range));
      if (answer.status !== 200) return answer;
      this.#hashes.set(id, answer.body as { sha256: string; bytes: number });
      if (this.#hashes.size > this.options.maxEntries) this.#hashes.delete(this.#hashes.keys().next().value as string);
      return answer;
    } catch (error) {
      return { status: 502, body: { error: `origin fetch failed: ${error instanceof Error ? error.message : String(error)}` } };
    }
  }

  /**
   * The SHA-256 and length the origin publishes for a whole segment, read from a HEAD; undefined
   * when it publishes none (the origin is then remembered as without digests) or the HEAD failed.
   */
  async #publishedDigest(url: URL, origin: IntegrityOrigin): Promise<IntegrityAnswer | undefined> {
    const response = await this.fetchImpl(url, {
      method: 'HEAD',
      // The digest must be of the bytes viewers get: the file as is, not a compressed copy.
      headers: { 'user-agent': INTEGRITY_USER_AGENT, 'want-repr-digest': 'sha-256=10', 'accept-encoding': 'identity' },
      redirect: 'error',
      signal: AbortSignal.timeout(this.options.fetchTimeoutMs),
    }).catch(() => undefined);
    if (!response?.ok) return undefined;
    const sha256 = sha256OfReprDigest(response.headers.get('repr-digest'));
    const length = response.headers.get('content-length') ?? '';
    const bytes = Number(length);
    const encoding = response.headers.get('content-encoding') ?? 'identity';
    if (sha256 === undefined || !/^\d+$/.test(length) || !Number.isSafeInteger(bytes) || encoding !== 'identity') {
      this.#withoutDigests.add(origin);
      return undefined;
    }
    if (bytes > this.options.maxSegmentBytes) return { status: 413, body: { error: 'segment larger than the integrity service hashes' } };
    this.digestsRead++;
    return { status: 200, body: { sha256, bytes } };
  }

  async #fetchAndHash(url: URL, range: [number, number] | undefined): Promise<IntegrityAnswer> {
    this.fetches++;
    const headers: Record<string, string> = { 'user-agent': INTEGRITY_USER_AGENT, ...(range ? { range: `bytes=${range[0]}-${range[1] - 1}` } : {}) };
    const response = await this.fetchImpl(url, { headers, redirect: 'error', signal: AbortSignal.timeout(this.options.fetchTimeoutMs) });
    if (!response.ok) return { status: 502, body: { error: `origin answered ${response.status}` } };
    if (range && response.status !== 206) return { status: 502, body: { error: 'origin ignored the byte range' } };
    const declared = Number(response.headers.get('content-length'));
    if (declared > this.options.maxSegmentBytes) {
      await response.body?.cancel();
      return { status: 413, body: { error: 'segment larger than the integrity service hashes' } };
    }
    const data = await readCapped(response, this.options.maxSegmentBytes);
    if (!data) return { status: 413, body: { error: 'segment larger than the integrity service hashes' } };
    return { status: 200, body: { sha256: createHash('sha256').update(data).digest('hex'), bytes: data.byteLength } };
  }
}

/**
 * The SHA-256 in a `Repr-Digest` field value (RFC 9530, a structured-field dictionary such as
 * `sha-256=:<base64>:, sha-512=:<base64>:`), as hex; undefined when it has none or a malformed one.
 */
export function sha256OfReprDigest(value: string | null): string | undefined {
  if (!value) return undefined;
  for (const member of value.split(',')) {
    const match = /^\s*sha-256\s*=\s*:([A-Za-z0-9+/]*={0,2}):\s*$/.exec(member);
    if (!match) continue;
    const digest = Buffer.from(match[1] as string, 'base64');
    return digest.byteLength === 32 ? digest.toString('hex') : undefined;
  }
  return undefined;
}

/** The body, or undefined as soon as it exceeds `cap` bytes. */
async function readCapped(response: Response, cap: number): Promise<Uint8Array | undefined> {
  const reader = response.body?.getReader();
  if (!reader) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > cap) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  const data = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    data.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return data;
}
