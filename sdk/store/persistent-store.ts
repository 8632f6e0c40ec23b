/**
 * Segments of VOD streams kept in IndexedDB across page loads, under a byte quota, least
 * recently used out first. A viewer who reloads the page (or comes back later) can at once
 * serve the segments it already holds to its swarm, and replay them without the CDN.
 *
 * Storage in the browser is best effort: private mode, a full disk, the user clearing site
 * data or another tab deleting the database all surface as IndexedDB errors, some at open and
 * some on any later call. Every one is caught here: the store reports it once through
 * `onWarning` and turns itself off, and the engine carries on with its memory cache. No
 * IndexedDB error ever reaches the player as an exception.
 *
 * Layout: one object store, `segments`, in the database `dbName` (idb-keyval's `createStore`):
 *
 * - `"index"`: `{ version: 1, entries: [{ id, bytes, lastUsed, swarmId }, ...] }`, everything
 *   eviction and listing need, so neither reads a segment's bytes;
 * - `"segment:" + id`: the segment's bytes, an ArrayBuffer.
 *
 * Every change is one readwrite transaction that re-reads the index, then writes the segments
 * and the index together. IndexedDB runs readwrite transactions on one store one at a time,
 * across tabs too, so tabs of the same site sharing the database never lose each other's
 * changes, and a crash never leaves an index entry without its bytes. Each tab keeps a mirror
 * of the index, loaded at open and refreshed by every transaction it commits; ids that left
 * the index meanwhile (another tab's eviction) are reported as evicted then.
 *
 * Recency: a `get` stamps the entry in the mirror at once; the stamps reach the index with the
 * next write, within `TOUCH_FLUSH_MS`, or on `close()`, whichever comes first.
 */
import { createStore, get as idbGet, keys as idbKeys, clear as idbClear, promisifyRequest } from 'idb-keyval';
import type { UseStore } from 'idb-keyval';

/** Options of {@link PersistentSegmentStore.open}. */
export interface PersistentStoreOptions {
  /**
   * IndexedDB database holding the segments; tabs of the same site using the same name share
   * them.
   * @default "shoal-segments"
   */
  dbName?: string;
  /**
   * Most segment bytes kept (the index itself is not counted); the least recently used
   * segments are evicted to stay within it. Config option `persistentCacheBytes`.
   */
  quotaBytes: number;
  /**
   * Longest wait for IndexedDB to open; some browsers leave the request pending forever
   * instead of failing it.
   * @default 5000
   */
  openTimeoutMs?: number;
  /**
   * Called once, with a readable message, when IndexedDB is unavailable at open or when the
   * store turns itself off after an IndexedDB error.
   * @default no-op
   */
  onWarning?: (message: string) => void;
  /**
   * Called with the ids that left the store without `clear()` asking for it: pushed out by a
   * `put` (of this tab or another sharing the database), dropped as torn, or all of them when
   * the store turns itself off. The engine withdraws them from the have-map it announced.
   * @default no-op
   */
  onEvict?: (ids: string[]) => void;
}

/** What the index records of one segment. */
interface IndexEntry {
  bytes: number;
  /** Milliseconds since the epoch, strictly increasing within a tab. */
  lastUsed: number;
  swarmId: string;
}

type Index = Map<string, IndexEntry>;

/** The writes one transaction makes, decided from the index it read. */
interface Plan {
  write?: { id: string; data: ArrayBuffer };
  deleteKeys: IDBValidKey[];
}

const DEFAULT_DB_NAME = 'shoal-segments';
const STORE_NAME = 'segments';
const INDEX_KEY = 'index';
const INDEX_VERSION = 1;
const DATA_KEY_PREFIX = 'segment:';
const DEFAULT_OPEN_TIMEOUT_MS = 5000;
/** Longest time a `get`'s recency stamp stays only in memory. */
const TOUCH_FLUSH_MS = 2000;

/** localStorage key of the hint that the store `dbName` holds segments. */
const holdsHintKey = (dbName: string) => `${dbName}:holds-segments`;

/** Sets or clears the hint read by {@link PersistentSegmentStore.mayHoldSegments}; no localStorage, no hint. */
function setHoldsHint(dbName: string, holds: boolean): void {
  try {
    if (holds) localStorage.setItem(holdsHintKey(dbName), '1');
    else localStorage.removeItem(holdsHintKey(dbName));
  } catch {
    // Storage full or blocked: at worst a repeat visit's first segment comes over HTTP, not from the store.
  }
}

/**
 * A byte-capped, least-recently-used segment store in IndexedDB that survives page reloads and
 * degrades to "off" (with one warning) instead of throwing. Create it with
 * {@link PersistentSegmentStore.open}.
 */
export class PersistentSegmentStore {
  /** Most segment bytes kept. */
  readonly quotaBytes: number;
  #useStore: UseStore;
  #db: IDBDatabase;
  #onWarning: (message: string) => void;
  #onEvict: (ids: string[]) => void;
  #mirror: Index = new Map();
  #bytes = 0;
  #state: 'open' | 'closed' | 'disabled' = 'open';
  #closing: Promise<void> | undefined;
  /** Recency stamps of `get`s not yet written to the index. */
  #touches = new Map<string, number>();
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #clock = 0;

  /**
   * Whether the store `dbName` may hold segments, answered at once from a hint in localStorage
   * that the store keeps up to date: a player starting with an empty buffer waits for
   * IndexedDB to open only if so, because opening can take hundreds of ms on a busy machine,
   * which a first visit would spend for nothing. True when localStorage cannot tell.
   */
  static mayHoldSegments(dbName: string = DEFAULT_DB_NAME): boolean {
    try {
      return typeof localStorage === 'undefined' || localStorage.getItem(holdsHintKey(dbName)) !== null;
    } catch {
      return true;
    }
  }

  /**
   * Opens (creating if needed) the store and loads its index. Returns undefined, after calling
   * `onWarning`, when IndexedDB is unavailable or fails to open.
   * @throws RangeError when `quotaBytes` is not a finite number >= 0 (a programming error).
   */
  static async open(options: PersistentStoreOptions): Promise<PersistentSegmentStore | undefined> {
    const { quotaBytes } = options;
    if (typeof quotaBytes !== 'number' || !Number.isFinite(quotaBytes) || quotaBytes < 0) {
      throw new RangeError(`persistentCacheBytes must be a finite number of bytes >= 0, got ${String(quotaBytes)}`);
    }
    const onWarning = options.onWarning ?? (() => {});
    if (typeof indexedDB === 'undefined' || !indexedDB) {
      onWarning('Persistent segment cache unavailable (no IndexedDB in this context); using the memory cache only');
      return undefined;
    }
    const useStore = createStore(options.dbName ?? DEFAULT_DB_NAME, STORE_NAME);
    let db: IDBDatabase | undefined;
    try {
      db = await openWithin(useStore, options.openTimeoutMs ?? DEFAULT_OPEN_TIMEOUT_MS);
      const storedKeys = await idbKeys(useStore);
      // Evict down to the quota (it may have shrunk since last time) and sweep bytes no index
      // entry describes, such as those of an older index version.
      const index = await transact(useStore, (index) => {
        const evicted = evictLeastRecentlyUsed(index, quotaBytes);
        const live = new Set([INDEX_KEY, ...[...index.keys()].map(dataKey)]);
        const orphans = storedKeys.filter((key) => typeof key !== 'string' || !live.has(key));
        return { deleteKeys: [...evicted.map(dataKey), ...orphans] };
      });
      return new PersistentSegmentStore(useStore, db, options.dbName ?? DEFAULT_DB_NAME, quotaBytes, onWarning, options.onEvict ?? (() => {}), index);
    } catch (error) {
      db?.close();
      onWarning(`Persistent segment cache unavailable (IndexedDB: ${describe(error)}); using the memory cache only`);
      return undefined;
    }
  }

  private constructor(
    useStore: UseStore,
    db: IDBDatabase,
    readonly dbName: string,
    quotaBytes: number,
    onWarning: (message: string) => void,
    onEvict: (ids: string[]) => void,
    index: Index,
  ) {
    this.#useStore = useStore;
    this.#db = db;
    this.quotaBytes = quotaBytes;
    this.#onWarning = onWarning;
    this.#onEvict = onEvict;
    this.#adopt(index);
    db.addEventListener('versionchange', () => {
      this.#disable('the database is being deleted or upgraded, by another tab or the browser');
    });
  }

  /** True once the store turned itself off after an IndexedDB error, or was closed. */
  get disabled(): boolean {
    return this.#state !== 'open';
  }

  /** Total bytes of the segments stored, as of the last transaction of this tab. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Ids of the segments stored (from the in-memory mirror of the index). */
  ids(): string[] {
    return [...this.#mirror.keys()];
  }

  /** Ids of the segments stored for one swarm: what to announce to its peers after a reload. */
  idsOfSwarm(swarmId: string): string[] {
    return [...this.#mirror].filter(([, entry]) => entry.swarmId === swarmId).map(([id]) => id);
  }

  /** Whether the segment is stored (from the in-memory mirror of the index). */
  has(id: string): boolean {
    return this.#mirror.has(id);
  }

  /**
   * Reads a segment and marks it most recently used. Undefined when it is not stored, when its
   * stored bytes do not match the index (a torn write: the entry is dropped and reported to
   * `onEvict`), or when the store is off.
   */
  async get(id: string): Promise<ArrayBuffer | undefined> {
    const entry = this.#mirror.get(id);
    if (!entry || this.#state !== 'open') return undefined;
    const data = await this.#guard('reading a segment', () => idbGet<unknown>(dataKey(id), this.#useStore));
    if (this.#state !== 'open') return undefined;
    if (data instanceof ArrayBuffer && data.byteLength === entry.bytes) {
      this.#touch(id);
      return data;
    }
    await this.#commit('dropping a torn segment', (index) => {
      index.delete(id);
      return { deleteKeys: [dataKey(id)] };
    });
    return undefined;
  }

  /**
   * Stores a segment as the most recently used, replacing one of the same id, and evicts the
   * least recently used ones until the total is within the quota (reported to `onEvict`).
   * Returns false, storing nothing, when the segment is empty (or detached), larger than the
   * whole quota, the write failed, or the store is off.
   */
  async put(id: string, data: ArrayBuffer, meta: { swarmId: string }): Promise<boolean> {
    const bytes = data.byteLength;
    if (this.#state !== 'open' || bytes === 0 || bytes > this.quotaBytes) return false;
    return this.#commit('writing a segment', (index) => {
      index.set(id, { bytes, lastUsed: this.#now(), swarmId: meta.swarmId });
      const evicted = evictLeastRecentlyUsed(index, this.quotaBytes, id);
      return { write: { id, data }, deleteKeys: evicted.map(dataKey) };
    });
  }

  /** Deletes every stored segment (not reported to `onEvict`: the caller asked for it). */
  async clear(): Promise<void> {
    if (this.#state !== 'open') return;
    this.#touches.clear();
    await this.#guard('clearing', () => idbClear(this.#useStore));
    if (this.#state !== 'open') return;
    this.#mirror.clear();
    this.#bytes = 0;
    setHoldsHint(this.dbName, false);
  }

  /** Writes pending recency stamps, then closes the database; later calls are no-ops. */
  close(): Promise<void> {
    this.#closing ??= this.#shutDown();
    return this.#closing;
  }

  async #shutDown(): Promise<void> {
    clearTimeout(this.#flushTimer);
    if (this.#touches.size > 0) await this.#commit('saving recency', () => ({ deleteKeys: [] }));
    if (this.#state !== 'open') return;
    this.#state = 'closed';
    this.#mirror.clear();
    this.#bytes = 0;
    this.#db.close();
  }

  #now(): number {
    this.#clock = Math.max(Date.now(), this.#clock + 1);
    return this.#clock;
  }

  #touch(id: string): void {
    const entry = this.#mirror.get(id);
    if (!entry) return;
    entry.lastUsed = this.#now();
    this.#touches.set(id, entry.lastUsed);
    this.#flushTimer ??= setTimeout(() => {
      this.#flushTimer = undefined;
      if (this.#touches.size > 0) void this.#commit('saving recency', () => ({ deleteKeys: [] }));
    }, TOUCH_FLUSH_MS);
  }

  /**
   * Runs one transaction: pending recency stamps, then `plan`, applied to the index as stored.
   * Returns false when it failed (the store is then off).
   */
  async #commit(what: string, plan: (index: Index) => Plan): Promise<boolean> {
    const index = await this.#guard(what, () =>
      transact(this.#useStore, (index) => {
        for (const [id, lastUsed] of this.#touches) {
          const entry = index.get(id);
          if (entry && entry.lastUsed < lastUsed) entry.lastUsed = lastUsed;
        }
        this.#touches.clear();
        return plan(index);
      }),
    );
    if (!index || this.#state !== 'open') return false;
    this.#adopt(index);
    return true;
  }

  /** Makes `index`, as just committed, the mirror; reports the ids that left it. */
  #adopt(index: Index): void {
    const gone = [...this.#mirror.keys()].filter((id) => !index.has(id));
    for (const [id, lastUsed] of this.#touches) {
      const entry = index.get(id);
      if (entry && entry.lastUsed < lastUsed) entry.lastUsed = lastUsed;
    }
    this.#mirror = index;
    this.#bytes = totalBytes(index);
    setHoldsHint(this.dbName, index.size > 0);
    for (const entry of index.values()) this.#clock = Math.max(this.#clock, entry.lastUsed);
    if (gone.length > 0) this.#onEvict(gone);
  }

  /** Runs one IndexedDB operation; on any error turns the store off and returns undefined. */
  async #guard<T>(what: string, operation: () => Promise<T>): Promise<T | undefined> {
    if (this.#state !== 'open') return undefined;
    try {
      return await operation();
    } catch (error) {
      this.#disable(`${what} failed (${describe(error)})`);
      return undefined;
    }
  }

  /** Turns the store off for good: one warning, and every id it held reported as evicted. */
  #disable(reason: string): void {
    if (this.#state !== 'open') return;
    this.#state = 'disabled';
    clearTimeout(this.#flushTimer);
    this.#touches.clear();
    const held = this.ids();
    this.#mirror.clear();
    this.#bytes = 0;
    this.#db.close();
    this.#onWarning(`Persistent segment cache turned off: ${reason}; using the memory cache only`);
    if (held.length > 0) this.#onEvict(held);
  }
}

function dataKey(id: string): string {
  return DATA_KEY_PREFIX + id;
}

function totalBytes(index: Index): number {
  let total = 0;
  for (const entry of index.values()) total += entry.bytes;
  return total;
}

/**
 * Removes the least recently used entries (never `keep`) from `index` until its total is within
 * `quotaBytes`; returns their ids.
 */
function evictLeastRecentlyUsed(index: Index, quotaBytes: number, keep?: string): string[] {
  let total = totalBytes(index);
  if (total <= quotaBytes) return [];
  const oldestFirst = [...index].filter(([id]) => id !== keep).sort(([, a], [, b]) => a.lastUsed - b.lastUsed);
  const evicted: string[] = [];
  for (const [id, entry] of oldestFirst) {
    if (total <= quotaBytes) break;
    index.delete(id);
    total -= entry.bytes;
    evicted.push(id);
  }
  return evicted;
}

/** The index as stored; anything malformed or of another version reads as absent. */
function parseIndex(value: unknown): Index {
  const index: Index = new Map();
  const stored = value as { version?: unknown; entries?: unknown } | undefined;
  if (typeof stored !== 'object' || stored === null || stored.version !== INDEX_VERSION || !Array.isArray(stored.entries)) {
    return index;
  }
  for (const item of stored.entries as unknown[]) {
    const entry = item as { id?: unknown; bytes?: unknown; lastUsed?: unknown; swarmId?: unknown } | null;
    if (
      typeof entry === 'object' && entry !== null &&
      typeof entry.id === 'string' && typeof entry.swarmId === 'string' &&
      typeof entry.bytes === 'number' && Number.isSafeInteger(entry.bytes) && entry.bytes > 0 &&
      typeof entry.lastUsed === 'number' && Number.isFinite(entry.lastUsed)
    ) {
      index.set(entry.id, { bytes: entry.bytes, lastUsed: entry.lastUsed, swarmId: entry.swarmId });
    }
  }
  return index;
}

function serializeIndex(index: Index): { version: number; entries: Array<IndexEntry & { id: string }> } {
  return { version: INDEX_VERSION, entries: [...index].map(([id, entry]) => ({ id, ...entry })) };
}

/**
 * One readwrite transaction: reads the index, lets `plan` change it, then writes the segment,
 * deletes keys and writes the index. All or nothing: an error aborts the whole transaction.
 * Resolves with the index as committed.
 */
function transact(useStore: UseStore, plan: (index: Index) => Plan): Promise<Index> {
  return useStore('readwrite', (store) =>
    new Promise<Index>((resolve, reject) => {
      const read = store.get(INDEX_KEY);
      read.onerror = () => reject(read.error);
      read.onsuccess = () => {
        try {
          const index = parseIndex(read.result);
          const { write, deleteKeys } = plan(index);
          for (const key of deleteKeys) store.delete(key);
          if (write) store.put(write.data, dataKey(write.id));
          store.put(serializeIndex(index), INDEX_KEY);
          promisifyRequest(store.transaction).then(() => resolve(index), reject);
        } catch (error) {
          try {
            store.transaction.abort();
          } catch {
            // Already finished: nothing left to undo.
          }
          reject(error);
        }
      };
    }),
  );
}

/** Opens the database (the first transaction does), giving up after `timeoutMs`. */
function openWithin(useStore: UseStore, timeoutMs: number): Promise<IDBDatabase> {
  const opening = useStore('readonly', (store) => store.transaction.db);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new DOMException(`opening took longer than ${timeoutMs} ms`, 'TimeoutError'));
      opening.then((db) => db.close(), () => {});
    }, timeoutMs);
    opening.then(
      (db) => {
        clearTimeout(timer);
        resolve(db);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** A readable cause for a warning; an aborted transaction rejects with null. */
function describe(error: unknown): string {
  if (error === null || error === undefined) return 'AbortError: the transaction was aborted';
  if (error instanceof Error || error instanceof DOMException) return `${error.name}: ${error.message}`;
  return String(error);
}
