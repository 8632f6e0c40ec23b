// The persistent VOD store against Chromium's real IndexedDB; failures are injected by patching
// the IndexedDB prototypes for one call.
import { expect } from '@esm-bundle/chai';
import { createStore, del, entries, get, keys, set } from 'idb-keyval';
import type { UseStore } from 'idb-keyval';
import { PersistentSegmentStore } from '../../sdk/store/persistent-store.ts';
import type { PersistentStoreOptions } from '../../sdk/store/persistent-store.ts';

const KB = 1024;

/** A segment of `bytes` bytes, each byte `fill`. */
function segment(bytes: number, fill: number): ArrayBuffer {
  return new Uint8Array(bytes).fill(fill).buffer;
}

function deleteDatabase(name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.deleteDatabase(name);
    request.onsuccess = () => resolve();
    request.onerror = () => reject(request.error);
    request.onblocked = () => reject(new Error(`deleting ${name} is blocked by an open connection`));
  });
}

/** Runs `operation` on the store's raw object store (its layout is in persistent-store.ts), then closes the connection. */
async function withRawStore<T>(dbName: string, operation: (store: UseStore) => Promise<T>): Promise<T> {
  const store = createStore(dbName, 'segments');
  try {
    return await operation(store);
  } finally {
    await store('readonly', (objectStore) => objectStore.transaction.db.close());
  }
}

/** Replaces `target[name]` until the returned function is called. */
function patch<T extends object, K extends keyof T>(target: T, name: K, replacement: T[K]): () => void {
  const original = target[name];
  target[name] = replacement;
  return () => {
    target[name] = original;
  };
}

describe('persistent segment store (IndexedDB)', () => {
  let dbName: string;
  let warnings: string[];
  let evicted: string[];
  const opened: PersistentSegmentStore[] = [];

  beforeEach(() => {
    dbName = `shoal-test-${Math.random().toString(36).slice(2)}`;
    warnings = [];
    evicted = [];
  });

  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    await deleteDatabase(dbName);
    localStorage.removeItem(`${dbName}:holds-segments`);
  });

  async function open(options: Partial<PersistentStoreOptions> = {}): Promise<PersistentSegmentStore> {
    const store = await PersistentSegmentStore.open({
      dbName,
      quotaBytes: 1024 * KB,
      onWarning: (message) => warnings.push(message),
      onEvict: (ids) => evicted.push(...ids),
      ...options,
    });
    expect(store, `store opened (warnings: ${warnings.join(' | ')})`).to.exist;
    opened.push(store!);
    return store!;
  }

  it('keeps segments across a reload: close, reopen, same ids, swarms and bytes', async () => {
    const first = await open();
    expect(await first.put('a', segment(10 * KB, 1), { swarmId: 's1' })).to.equal(true);
    expect(await first.put('b', segment(20 * KB, 2), { swarmId: 's1' })).to.equal(true);
    expect(await first.put('c', segment(30 * KB, 3), { swarmId: 's2' })).to.equal(true);
    expect(first.bytes).to.equal(60 * KB);
    await first.close();
    expect(first.disabled).to.equal(true);
    expect(await first.get('a')).to.equal(undefined);

    const second = await open();
    expect(second.ids().sort()).to.deep.equal(['a', 'b', 'c']);
    expect(second.has('b')).to.equal(true);
    expect(second.bytes).to.equal(60 * KB);
    expect(second.idsOfSwarm('s1').sort()).to.deep.equal(['a', 'b']);
    expect(second.idsOfSwarm('s2')).to.deep.equal(['c']);
    expect(second.idsOfSwarm('nope')).to.deep.equal([]);
    const c = await second.get('c');
    expect(c?.byteLength).to.equal(30 * KB);
    expect(new Uint8Array(c!).every((byte) => byte === 3)).to.equal(true);
    expect(await second.get('missing')).to.equal(undefined);
    expect(warnings).to.deep.equal([]);
    expect(evicted).to.deep.equal([]);
  });

  it('evicts the least recently used under the quota, reports them, and keeps the one just read', async () => {
    const store = await open({ quotaBytes: 300 * KB });
    for (const id of ['a', 'b', 'c']) expect(await store.put(id, segment(100 * KB, 1), { swarmId: 's' })).to.equal(true);
    expect(await store.get('a')).to.exist;
    expect(await store.put('d', segment(100 * KB, 2), { swarmId: 's' })).to.equal(true);
    expect(evicted).to.deep.equal(['b']);
    expect(store.ids().sort()).to.deep.equal(['a', 'c', 'd']);
    expect(await store.put('e', segment(150 * KB, 3), { swarmId: 's' })).to.equal(true);
    expect(evicted.slice(1).sort()).to.deep.equal(['a', 'c']);
    expect(store.ids().sort()).to.deep.equal(['d', 'e']);
    expect(store.bytes).to.equal(250 * KB);
    expect(store.bytes).to.be.at.most(store.quotaBytes);
  });

  it('remembers what was read before a reload when evicting after it', async () => {
    const first = await open({ quotaBytes: 200 * KB });
    await first.put('a', segment(100 * KB, 1), { swarmId: 's' });
    await first.put('b', segment(100 * KB, 2), { swarmId: 's' });
    expect(await first.get('a')).to.exist;
    await first.close();
    const second = await open({ quotaBytes: 200 * KB });
    await second.put('c', segment(100 * KB, 3), { swarmId: 's' });
    expect(evicted).to.deep.equal(['b']);
    expect(second.ids().sort()).to.deep.equal(['a', 'c']);
  });

  it('writes what was read to the database within 2 s, for another tab evicting', async () => {
    const first = await open({ quotaBytes: 200 * KB });
    await first.put('a', segment(100 * KB, 1), { swarmId: 's' });
    await first.put('b', segment(100 * KB, 2), { swarmId: 's' });
    expect(await first.get('a')).to.exist;
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const other = await open({ quotaBytes: 200 * KB, onEvict: () => {} });
    await other.put('c', segment(100 * KB, 3), { swarmId: 's' });
    expect(other.ids().sort()).to.deep.equal(['a', 'c']);
  });

  it('evicts down to a quota lowered since the last session', async () => {
    const first = await open({ quotaBytes: 300 * KB });
    for (const id of ['a', 'b', 'c']) await first.put(id, segment(100 * KB, 1), { swarmId: 's' });
    await first.close();
    const second = await open({ quotaBytes: 150 * KB });
    expect(second.ids()).to.deep.equal(['c']);
    expect(second.bytes).to.equal(100 * KB);
    const stored = await withRawStore(dbName, (raw) => keys(raw));
    expect(stored.sort()).to.deep.equal(['index', 'segment:c']);
  });

  it('refuses a segment larger than the whole quota, and an empty one, keeping the rest', async () => {
    const store = await open({ quotaBytes: 100 * KB });
    expect(await store.put('small', segment(60 * KB, 1), { swarmId: 's' })).to.equal(true);
    expect(await store.put('huge', segment(100 * KB + 1, 2), { swarmId: 's' })).to.equal(false);
    expect(await store.put('empty', new ArrayBuffer(0), { swarmId: 's' })).to.equal(false);
    expect(store.ids()).to.deep.equal(['small']);
    expect(evicted).to.deep.equal([]);
    expect(store.disabled).to.equal(false);
    expect(warnings).to.deep.equal([]);
  });

  it('replaces a segment put again under the same id without counting it twice', async () => {
    const store = await open();
    await store.put('a', segment(10 * KB, 1), { swarmId: 's' });
    await store.put('a', segment(10 * KB, 1), { swarmId: 's' });
    expect(store.ids()).to.deep.equal(['a']);
    expect(store.bytes).to.equal(10 * KB);
  });

  it('drops a torn entry whose stored bytes do not match the index', async () => {
    const first = await open();
    await first.put('torn', segment(50 * KB, 1), { swarmId: 's' });
    await first.put('whole', segment(50 * KB, 2), { swarmId: 's' });
    await first.close();
    await withRawStore(dbName, (raw) => set('segment:torn', segment(12 * KB, 1), raw));

    const second = await open();
    expect(second.has('torn')).to.equal(true);
    expect(await second.get('torn')).to.equal(undefined);
    expect(second.has('torn')).to.equal(false);
    expect(evicted).to.deep.equal(['torn']);
    expect(second.bytes).to.equal(50 * KB);
    expect((await second.get('whole'))?.byteLength).to.equal(50 * KB);
    await second.close();
    expect(await withRawStore(dbName, (raw) => get('segment:torn', raw))).to.equal(undefined);
    expect((await open()).ids()).to.deep.equal(['whole']);
    expect(warnings).to.deep.equal([]);
  });

  it('drops an entry whose bytes another tab removed', async () => {
    const store = await open();
    await store.put('a', segment(KB, 1), { swarmId: 's' });
    await withRawStore(dbName, (raw) => del('segment:a', raw));
    expect(await store.get('a')).to.equal(undefined);
    expect(store.ids()).to.deep.equal([]);
    expect(evicted).to.deep.equal(['a']);
  });

  it('sweeps stored bytes that no index entry describes at open', async () => {
    await withRawStore(dbName, async (raw) => {
      await set('index', { version: 0, entries: 'from an older version' }, raw);
      await set('segment:old', segment(KB, 1), raw);
    });
    const store = await open();
    expect(store.ids()).to.deep.equal([]);
    const stored = await withRawStore(dbName, (raw) => keys(raw));
    expect(stored).to.deep.equal(['index']);
  });

  it('clear() empties the store, and a reload finds it empty', async () => {
    const store = await open();
    await store.put('a', segment(KB, 1), { swarmId: 's' });
    await store.clear();
    expect(store.ids()).to.deep.equal([]);
    expect(store.bytes).to.equal(0);
    expect(evicted).to.deep.equal([]);
    await store.close();
    expect((await open()).ids()).to.deep.equal([]);
  });

  it('tells at once, before opening, whether it may hold segments: none yet, some, none after clear()', async () => {
    expect(PersistentSegmentStore.mayHoldSegments(dbName)).to.equal(false);
    const store = await open();
    expect(PersistentSegmentStore.mayHoldSegments(dbName)).to.equal(false);
    await store.put('a', segment(KB, 1), { swarmId: 's' });
    expect(PersistentSegmentStore.mayHoldSegments(dbName)).to.equal(true);
    await store.close();
    expect(PersistentSegmentStore.mayHoldSegments(dbName)).to.equal(true, 'after a reload');
    await (await open()).clear();
    expect(PersistentSegmentStore.mayHoldSegments(dbName)).to.equal(false);
  });

  it('without IndexedDB, open gives undefined and one warning', async () => {
    const own = Object.getOwnPropertyDescriptor(globalThis, 'indexedDB');
    Object.defineProperty(globalThis, 'indexedDB', { value: undefined, configurable: true, writable: true });
    try {
      const store = await PersistentSegmentStore.open({ dbName, quotaBytes: KB, onWarning: (message) => warnings.push(message) });
      expect(store).to.equal(undefined);
    } finally {
      if (own) Object.defineProperty(globalThis, 'indexedDB', own);
      else delete (globalThis as { indexedDB?: IDBFactory }).indexedDB;
    }
    expect(globalThis.indexedDB).to.be.instanceOf(IDBFactory);
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.match(/no IndexedDB/);
  });

  it('when opening throws (private mode, SecurityError), open gives undefined and one warning', async () => {
    const restore = patch(IDBFactory.prototype, 'open', () => {
      throw new DOMException('access to the Indexed Database API is denied in this context', 'SecurityError');
    });
    try {
      expect(await PersistentSegmentStore.open({ dbName, quotaBytes: KB, onWarning: (message) => warnings.push(message) })).to.equal(undefined);
    } finally {
      restore();
    }
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.match(/SecurityError/);
  });

  it('when opening never completes, open gives up after openTimeoutMs with a warning', async () => {
    const restore = patch(IDBFactory.prototype, 'open', () => ({}) as IDBOpenDBRequest);
    try {
      const started = performance.now();
      const store = await PersistentSegmentStore.open({ dbName, quotaBytes: KB, openTimeoutMs: 100, onWarning: (message) => warnings.push(message) });
      expect(store).to.equal(undefined);
      expect(performance.now() - started).to.be.below(2000);
    } finally {
      restore();
    }
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.match(/TimeoutError/);
  });

  it('rejects a negative or non-finite quota with a RangeError naming persistentCacheBytes', async () => {
    for (const quotaBytes of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      let caught: unknown;
      try {
        await PersistentSegmentStore.open({ dbName, quotaBytes });
      } catch (error) {
        caught = error;
      }
      expect(caught).to.be.instanceOf(RangeError);
      expect((caught as Error).message).to.match(/persistentCacheBytes/);
    }
  });

  it('a write failing with QuotaExceededError turns the store off with one warning, no exception', async () => {
    const store = await open();
    await store.put('kept', segment(10 * KB, 1), { swarmId: 's' });
    const originalPut = IDBObjectStore.prototype.put;
    const restore = patch(IDBObjectStore.prototype, 'put', function (this: IDBObjectStore, value: unknown, key?: IDBValidKey) {
      if (value instanceof ArrayBuffer) throw new DOMException('the quota has been exceeded', 'QuotaExceededError');
      return originalPut.call(this, value, key);
    });
    try {
      expect(await store.put('too-much', segment(10 * KB, 2), { swarmId: 's' })).to.equal(false);
    } finally {
      restore();
    }
    expect(store.disabled).to.equal(true);
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.match(/QuotaExceededError/);
    expect(evicted).to.deep.equal(['kept']);
    expect(store.ids()).to.deep.equal([]);
    expect(store.has('kept')).to.equal(false);
    expect(store.idsOfSwarm('s')).to.deep.equal([]);
    expect(await store.get('kept')).to.equal(undefined);
    expect(await store.put('later', segment(KB, 3), { swarmId: 's' })).to.equal(false);
    await store.clear();
    await store.close();
    expect(warnings).to.have.length(1);

    // The failed transaction was rolled back whole: the next session finds the previous state.
    const next = await open();
    expect(next.ids()).to.deep.equal(['kept']);
    expect((await next.get('kept'))?.byteLength).to.equal(10 * KB);
  });

  it('a transaction aborted under it turns the store off with one warning', async () => {
    const store = await open();
    const originalPut = IDBObjectStore.prototype.put;
    const restore = patch(IDBObjectStore.prototype, 'put', function (this: IDBObjectStore, value: unknown, key?: IDBValidKey) {
      const request = originalPut.call(this, value, key);
      if (key === 'index') this.transaction.abort();
      return request;
    });
    try {
      expect(await store.put('a', segment(KB, 1), { swarmId: 's' })).to.equal(false);
    } finally {
      restore();
    }
    expect(store.disabled).to.equal(true);
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.match(/AbortError/);
  });

  it('deleting the database under it (another tab, clearing site data) turns it off, without blocking the delete', async () => {
    const store = await open();
    await store.put('a', segment(KB, 1), { swarmId: 's' });
    await deleteDatabase(dbName);
    expect(store.disabled).to.equal(true);
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.match(/deleted/);
    expect(evicted).to.deep.equal(['a']);
    expect(await store.put('b', segment(KB, 2), { swarmId: 's' })).to.equal(false);
    expect(await store.get('a')).to.equal(undefined);
    expect(warnings).to.have.length(1);
  });

  it('two tabs writing at once lose nothing and stay within the quota together', async () => {
    const tabs = await Promise.all([open({ quotaBytes: 400 * KB }), open({ quotaBytes: 400 * KB })]);
    await Promise.all(
      tabs.flatMap((tab, t) => Array.from({ length: 6 }, (_, i) => tab.put(`t${t}-${i}`, segment(50 * KB, i), { swarmId: `s${t}` }))),
    );
    for (const tab of tabs) expect(tab.bytes).to.be.at.most(400 * KB);
    await Promise.all(tabs.map((tab) => tab.close()));

    const after = await open({ quotaBytes: 400 * KB });
    expect(after.ids()).to.have.length(8);
    expect(after.bytes).to.equal(400 * KB);
    const stored = await withRawStore(dbName, (raw) => entries<string, unknown>(raw));
    const segments = stored.filter(([key]) => key !== 'index');
    expect(segments.map(([key]) => key).sort()).to.deep.equal(after.ids().map((id) => `segment:${id}`).sort());
    expect(segments.reduce((sum, [, value]) => sum + (value as ArrayBuffer).byteLength, 0)).to.equal(400 * KB);
    expect(warnings).to.deep.equal([]);
  });

  it('a long session, 300 puts of 100 KB under 2 MB, never exceeds the quota', async function () {
    this.timeout(60000);
    const quotaBytes = 2048 * KB;
    const store = await open({ quotaBytes });
    for (let i = 0; i < 300; i++) {
      expect(await store.put(`seg-${i}`, segment(100 * KB, i % 256), { swarmId: 'vod' })).to.equal(true);
      expect(store.bytes).to.be.at.most(quotaBytes);
      if (i % 7 === 0) expect(await store.get(`seg-${i - 3 < 0 ? 0 : i - 3}`)).to.exist;
    }
    expect(store.ids()).to.have.length(20);
    expect(evicted).to.have.length(280);
    expect(new Set(evicted).size).to.equal(280);
    await store.close();
    const stored = await withRawStore(dbName, (raw) => entries<string, unknown>(raw));
    const bytesOnDisk = stored.filter(([key]) => key !== 'index').reduce((sum, [, value]) => sum + (value as ArrayBuffer).byteLength, 0);
    expect(stored).to.have.length(21);
    expect(bytesOnDisk).to.be.at.most(quotaBytes);
    expect(warnings).to.deep.equal([]);
  });
});
