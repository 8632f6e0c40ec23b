import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { PeerCandidate } from '../../sdk/scheduler/plan.ts';
import { SegmentScheduler, type PeerSource, type SchedulerDeps } from '../../sdk/scheduler/segment-scheduler.ts';
import { PartialSegment } from '../../sdk/store/partial-segment.ts';
import { PeerRequestError } from '../../sdk/swarm/swarm.ts';

const segment = { segmentId: 'seg-1', swarmId: 'swarm', sn: 1, live: false };

function deps(overrides: Partial<SchedulerDeps>): SchedulerDeps & { failures: string[]; transfers: string[]; dropped: string[] } {
  const failures: string[] = [];
  const dropped: string[] = [];
  const transfers: string[] = [];
  return {
    config: { bufferSafetyMarginSec: 4, minPeerTimeoutMs: 1500, maxPeerTimeoutMs: 8000, peerFirstByteTimeoutMs: 500, liveWaitMaxMs: 2000, extraLiveLatencySec: 0 },
    cached: () => undefined,
    stored: async () => undefined,
    peers: () => undefined,
    openTransfer: () => ({ sink: new PartialSegment(), complete: () => transfers.push('complete'), fail: () => transfers.push('fail') }),
    transfers,
    bufferAheadSec: () => 10,
    slowestHttpLoadSec: () => undefined,
    now: () => 0,
    random: () => 0,
    peerFailed: (_s, peerId, reason) => failures.push(`${peerId}: ${reason}`),
    failures,
    expectFromPeer: () => {},
    verify: async () => 'ok',
    peerCorrupt: (_s, peerId) => dropped.push(peerId),
    dropped,
    ...overrides,
  };
}

function source(
  holders: PeerCandidate[],
  answer: (peerId: string, timeoutMs: number) => Promise<ArrayBuffer>,
  waitForHolder: PeerSource['waitForHolder'] = async () => false,
): PeerSource & { asked: Array<[string, number]> } {
  const asked: Array<[string, number]> = [];
  return {
    asked,
    peerCount: holders.length,
    joinedAt: -60_000,
    waitForPeer: async () => true,
    waitForHolder,
    holdersOf: () => holders,
    isFlowing: () => false,
    offersFrom: () => 0,
    request: async (peerId, _id, options) => {
      asked.push([peerId, options.timeoutMs]);
      return { data: await answer(peerId, options.timeoutMs), startedAt: 0, firstByteAt: 1, endedAt: 2 };
    },
    receiveOffer: async () => {
      throw new Error('no offers in these tests');
    },
  };
}

/** Gives `d` transfers with real sinks, listed as they are opened; settling them is recorded in `d.transfers`. */
function recordSinks(d: ReturnType<typeof deps>): PartialSegment[] {
  const sinks: PartialSegment[] = [];
  d.openTransfer = () => {
    const sink = new PartialSegment();
    sinks.push(sink);
    return { sink, complete: () => d.transfers.push('complete'), fail: () => d.transfers.push('fail') };
  };
  return sinks;
}

const holder = (id: string, throughput?: number): PeerCandidate => ({ id, whole: true, throughputBytesPerSec: throughput, activeRequests: 0 });

describe('segment scheduler', () => {
  it('serves from the cache first', async () => {
    const data = new ArrayBuffer(5);
    const result = await new SegmentScheduler(deps({ cached: () => data })).fetchWithoutHttp(segment, new AbortController().signal);
    assert.equal(result?.source, 'cache');
    assert.equal(result?.data, data);
  });

  it('asks the best holder with the time the buffer can spare', async () => {
    const peers = source([holder('slow', 1e5), holder('fast', 1e7)], async () => new ArrayBuffer(9));
    const d = deps({ peers: () => peers });
    const result = await new SegmentScheduler(d).fetchWithoutHttp(segment, new AbortController().signal);
    assert.equal(result?.source, 'p2p');
    assert.equal(result?.peerId, 'fast');
    assert.deepEqual(peers.asked, [['fast', 6000]]);
    assert.deepEqual(d.transfers, ['complete'], 'the segment was announced while arriving, then settled');
  });

  it('gives peers a live segment for little more than its duration, however long the buffer: the player loads one after another', async () => {
    const peers = source([holder('fast', 1e7)], async () => new ArrayBuffer(9));
    await new SegmentScheduler(deps({ peers: () => peers })).fetchWithoutHttp({ ...segment, live: true, durationSec: 2 }, new AbortController().signal);
    assert.deepEqual(peers.asked, [['fast', 2300]], '1.15 segment durations, not the 6 s the buffer spares');
    const later = source([holder('fast', 1e7)], async () => new ArrayBuffer(9));
    const withExtraLatency = deps({ peers: () => later });
    withExtraLatency.config = { ...withExtraLatency.config, extraLiveLatencySec: 1 };
    await new SegmentScheduler(withExtraLatency).fetchWithoutHttp({ ...segment, live: true, durationSec: 2 }, new AbortController().signal);
    assert.deepEqual(later.asked, [['fast', 2600]], 'plus 0.3 of the extra live latency');
    const vod = source([holder('fast', 1e7)], async () => new ArrayBuffer(9));
    await new SegmentScheduler(deps({ peers: () => vod })).fetchWithoutHttp({ ...segment, durationSec: 2 }, new AbortController().signal);
    assert.deepEqual(vod.asked, [['fast', 6000]], 'VOD keeps what the buffer spares');
  });

  it('holds back more of the buffer when recent HTTP loads were slow, so the fallback still fits', async () => {
    const peers = source([holder('fast', 1e7)], async () => new ArrayBuffer(9));
    // 10 s buffered, a 4 s floor: 6 s for the peer; a 5 s HTTP load lately keeps 7.5 s back.
    const d = deps({ peers: () => peers, slowestHttpLoadSec: () => 5 });
    await new SegmentScheduler(d).fetchWithoutHttp(segment, new AbortController().signal);
    assert.deepEqual(peers.asked, [['fast', 2500]]);
  });

  it('tries a second holder after a failure, then gives up to HTTP', async () => {
    const peers = source([holder('a', 2e6), holder('b', 1e6)], async (peerId) => {
      throw new Error(`${peerId} timed out`);
    });
    const d = deps({ peers: () => peers });
    const result = await new SegmentScheduler(d).fetchWithoutHttp(segment, new AbortController().signal);
    assert.equal(result, undefined);
    assert.deepEqual(peers.asked.map(([id]) => id), ['a', 'b']);
    assert.equal(d.failures.length, 2);
    assert.deepEqual(d.transfers, ['fail', 'fail']);
  });

  it('keeps what a late peer sent: the transfer stays open for HTTP to fetch only the rest', async () => {
    const d = deps({});
    const sinks = recordSinks(d);
    const peers = source([holder('slow', 1e6), holder('other', 1e5)], async (peerId) => {
      sinks.at(-1)!.start(8);
      sinks.at(-1)!.append(new Uint8Array([1, 2, 3]));
      throw new PeerRequestError('timeout', peerId);
    });
    d.peers = () => peers;
    const scheduler = new SegmentScheduler(d);
    const result = await scheduler.fetchWithoutHttp(segment, new AbortController().signal);
    assert.equal(result?.source, 'http-rest');
    assert.ok(result?.source === 'http-rest');
    assert.equal(result.peerId, 'slow');
    assert.equal(result.fromPeer, 3);
    assert.deepEqual(peers.asked.map(([id]) => id), ['slow'], 'no other peer starts it over from the first byte');
    assert.deepEqual(d.transfers, [], 'the transfer is neither failed nor completed: peers relaying it read on');
    assert.match(d.failures[0] ?? '', /slow: .*timeout/);

    assert.equal(await scheduler.completeRemainder(segment, result, new ArrayBuffer(8)), true);
    assert.deepEqual(d.transfers, ['complete']);
  });

  it('checks a segment completed over HTTP after a peer part: a corrupt part drops the peer and it is fetched again whole', async () => {
    const d = deps({ verify: async () => 'corrupt' });
    const transfer = { sink: new PartialSegment(), complete: () => d.transfers.push('complete'), fail: () => d.transfers.push('fail') };
    const ok = await new SegmentScheduler(d).completeRemainder(segment, { source: 'http-rest', transfer, peerId: 'liar', fromPeer: 3 }, new ArrayBuffer(8));
    assert.equal(ok, false);
    assert.deepEqual(d.dropped, ['liar']);
    assert.deepEqual(d.transfers, ['fail']);
  });

  it('does not keep the bytes of a peer that sent them out of order', async () => {
    const d = deps({});
    const sinks = recordSinks(d);
    d.peers = () =>
      source([holder('bad', 1e6)], async (peerId) => {
        sinks.at(-1)!.start(8);
        sinks.at(-1)!.append(new Uint8Array([1, 2, 3]));
        throw new PeerRequestError('corrupt', peerId);
      });
    assert.equal(await new SegmentScheduler(d).fetchWithoutHttp(segment, new AbortController().signal), undefined);
    assert.deepEqual(d.transfers, ['fail']);
  });

  it('takes over a prefetch still arriving at the deadline: its bytes are kept and only the rest comes over HTTP', async () => {
    let now = 0;
    let sink: PartialSegment | undefined;
    let prefetchSignal: AbortSignal | undefined;
    const d = deps({ now: () => now, bufferAheadSec: () => 0 });
    d.openTransfer = () => {
      sink = new PartialSegment();
      return { sink, complete: () => d.transfers.push('complete'), fail: () => d.transfers.push('fail') };
    };
    const peers = source([holder('a', 1e6)], () => new Promise<ArrayBuffer>(() => {}));
    peers.request = (peerId, _id, options) => {
      peers.asked.push([peerId, options.timeoutMs]);
      prefetchSignal = options.signal;
      return new Promise((_resolve, reject) => options.signal.addEventListener('abort', () => reject(new PeerRequestError('aborted', peerId))));
    };
    d.peers = () => peers;
    const scheduler = new SegmentScheduler(d);
    const prefetch = scheduler.prefetch({ ...segment, live: true }, 'a', new AbortController().signal);
    sink!.start(10);
    sink!.append(new Uint8Array(4));
    // An empty buffer gives the peer the minimum time (1500 ms); it is over by the time the player asks.
    now = 2000;
    const result = await scheduler.fetchWithoutHttp({ ...segment, live: true }, new AbortController().signal);
    await prefetch;
    assert.ok(result?.source === 'http-rest');
    assert.equal(result.fromPeer, 4);
    assert.equal(prefetchSignal?.aborted, true, 'the prefetch request was cancelled');
    assert.deepEqual(d.transfers, [], 'and its transfer handed over, not failed');
    assert.equal(peers.asked.length, 1);
  });

  /**
   * A live prefetch with `receivedOf100` of its 100 bytes in when the player asks, on a clock
   * the test drives; the player's deadline (2 s: 6 s of buffer less the 4 s margin) passes, then
   * the rest arrives 100 ms later.
   */
  async function prefetchLateAtDeadline(t: TestContext, receivedOf100: number) {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const flush = async () => {
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    };
    let now = 0;
    let cachedData: ArrayBuffer | undefined;
    let sink = new PartialSegment();
    const d = deps({ now: () => now, bufferAheadSec: () => 6, cached: () => cachedData });
    d.openTransfer = () => {
      sink = new PartialSegment();
      return {
        sink,
        complete: (data) => {
          sink.complete();
          cachedData = data;
          d.transfers.push('complete');
        },
        fail: () => d.transfers.push('fail'),
      };
    };
    let deliver: (data: ArrayBuffer) => void = () => {};
    const peers = source([holder('a', 1e6)], () => new Promise<ArrayBuffer>(() => {}));
    peers.request = (peerId, _id, options) =>
      new Promise((resolve, reject) => {
        deliver = (data) => resolve({ data, startedAt: 0, firstByteAt: 1, endedAt: 2 });
        options.signal.addEventListener('abort', () => reject(new PeerRequestError('aborted', peerId)));
      });
    d.peers = () => peers;
    const scheduler = new SegmentScheduler(d);
    const live = { ...segment, live: true };
    const prefetch = scheduler.prefetch(live, 'a', new AbortController().signal);
    sink.start(100);
    sink.append(new Uint8Array(receivedOf100));
    const result = scheduler.fetchWithoutHttp(live, new AbortController().signal);
    await flush();
    now = 2000;
    t.mock.timers.tick(2000);
    await flush();
    now = 2100;
    t.mock.timers.tick(100);
    sink.append(new Uint8Array(100 - receivedOf100));
    deliver(new ArrayBuffer(100));
    await prefetch;
    return { result: await result, transfers: d.transfers };
  }

  it('lets a prefetch nearly whole at the deadline finish when the buffer has time for its rest', async (t) => {
    // 90 bytes in 2 s: the last 10 need about 280 ms, and the buffer spares 2 s more (half the margin).
    const { result, transfers } = await prefetchLateAtDeadline(t, 90);
    assert.equal(result?.source, 'p2p');
    assert.deepEqual(transfers, ['complete']);
  });

  it('takes over a prefetch far from whole at the deadline, though its rest comes soon after', async (t) => {
    // 40 bytes in 2 s: the rest would need about 3.75 s at that rate, more than the buffer spares.
    const { result, transfers } = await prefetchLateAtDeadline(t, 40);
    assert.ok(result?.source === 'http-rest');
    assert.equal(result.fromPeer, 40);
    assert.deepEqual(transfers, [], 'handed over, not failed');
  });

  /**
   * A live prefetch from 'a' with 40 of its 100 bytes in and a player request waiting on it,
   * then 'a' fails with `failure`; `holders` are the other peers that announced the segment.
   * Returns once the prefetch settled, with the player's request still to be awaited.
   */
  async function prefetchLosingItsSource(t: TestContext, failure: 'absent' | 'corrupt', holders: PeerCandidate[] = []) {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const d = deps({ bufferAheadSec: () => 6 });
    const sinks = recordSinks(d);
    const openRecorded = d.openTransfer;
    // As the engine's transfers do: failing one fails its sink, which wakes whoever waits on it.
    d.openTransfer = (...args) => {
      const transfer = openRecorded(...args);
      return { ...transfer, fail: () => (transfer.sink.fail(), transfer.fail()) };
    };
    let loseSource: (error: Error) => void = () => {};
    const peers = source(holders, async () => new ArrayBuffer(100));
    const request = peers.request;
    peers.request = (peerId, id, options) => (peerId === 'a' ? new Promise((_resolve, reject) => (loseSource = reject)) : request(peerId, id, options));
    d.peers = () => peers;
    const scheduler = new SegmentScheduler(d);
    const live = { ...segment, live: true };
    const prefetch = scheduler.prefetch(live, 'a', new AbortController().signal);
    sinks[0]!.start(100);
    sinks[0]!.append(new Uint8Array(40));
    const result = scheduler.fetchWithoutHttp(live, new AbortController().signal);
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    loseSource(new PeerRequestError(failure, 'a'));
    await prefetch;
    return { d, sinks, result };
  }

  it('hands a prefetch whose source is lost while the player waits on it to that request: its bytes are kept, only the rest comes over HTTP', async (t) => {
    // Nobody else holds the segment: without the handover, the player's request would fetch it whole.
    const { d, sinks, result } = await prefetchLosingItsSource(t, 'absent');
    const delivered = await result;
    assert.ok(delivered?.source === 'http-rest', `got ${delivered?.source}`);
    assert.equal(delivered.fromPeer, 40);
    assert.equal(delivered.transfer.sink, sinks[0], 'the same transfer, which peers relaying it keep reading');
    t.mock.timers.tick(0);
    assert.deepEqual(d.transfers, [], 'handed over, not failed');
    assert.deepEqual(d.failures, ['a: source lost: the rest comes over HTTP']);
  });

  it('asks another holder instead, when a prefetch loses its source with time left for a whole segment from a peer', async (t) => {
    const { d, result } = await prefetchLosingItsSource(t, 'absent', [holder('b', 1e6)]);
    const delivered = await result;
    assert.equal(delivered?.source, 'p2p');
    assert.equal(delivered.peerId, 'b');
    t.mock.timers.tick(0);
    assert.deepEqual(d.transfers, ['complete', 'fail'], "b's transfer completed; the prefetch's, let go, failed");
  });

  it('hands a prefetch losing its source over all the same when the only other holder already answered this request busy', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const d = deps({ bufferAheadSec: () => 6 });
    const sinks = recordSinks(d);
    let loseSource: (error: Error) => void = () => {};
    let answerFromB: (error: Error) => void = () => {};
    const peers = source([holder('b', 1e6)], async () => new ArrayBuffer(100));
    peers.request = (peerId) => new Promise((_resolve, reject) => (peerId === 'a' ? (loseSource = reject) : (answerFromB = reject)));
    d.peers = () => peers;
    const scheduler = new SegmentScheduler(d);
    const live = { ...segment, live: true };
    const result = scheduler.fetchWithoutHttp(live, new AbortController().signal);
    await new Promise((resolve) => setImmediate(resolve));
    const prefetch = scheduler.prefetch(live, 'a', new AbortController().signal);
    sinks[1]!.start(100);
    sinks[1]!.append(new Uint8Array(40));
    answerFromB(new PeerRequestError('busy', 'b'));
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    loseSource(new PeerRequestError('absent', 'a'));
    await prefetch;
    const delivered = await result;
    assert.ok(delivered?.source === 'http-rest', `'b' is not asked again: the prefetch's 40 bytes are kept, got ${delivered?.source}`);
    assert.equal(delivered.fromPeer, 40);
    assert.equal(delivered.transfer.sink, sinks[1]);
  });

  it('does not hand over what a prefetch received from a peer whose data turned out corrupt', async (t) => {
    const { d, result } = await prefetchLosingItsSource(t, 'corrupt');
    assert.deepEqual(d.transfers, ['fail']);
    t.mock.timers.tick(10_000);
    const delivered = await result;
    assert.equal(delivered, undefined, `the whole segment over HTTP, got ${JSON.stringify(delivered)}`);
  });

  it('fails a prefetch whose source is lost while no player request waits on it', async () => {
    const d = deps({ bufferAheadSec: () => 6 });
    const sinks = recordSinks(d);
    const peers = source([], () => new Promise<ArrayBuffer>(() => {}));
    let loseSource: (error: Error) => void = () => {};
    peers.request = () => new Promise((_resolve, reject) => (loseSource = reject));
    d.peers = () => peers;
    const prefetch = new SegmentScheduler(d).prefetch({ ...segment, live: true }, 'a', new AbortController().signal);
    sinks[0]!.start(100);
    sinks[0]!.append(new Uint8Array(40));
    loseSource(new PeerRequestError('absent', 'a'));
    await prefetch;
    assert.deepEqual(d.transfers, ['fail']);
  });

  it('goes to HTTP at once when nobody holds the segment or P2P is off', async () => {
    assert.equal(await new SegmentScheduler(deps({ peers: () => source([], async () => new ArrayBuffer(1)) })).fetchWithoutHttp(segment, new AbortController().signal), undefined);
    assert.equal(await new SegmentScheduler(deps({})).fetchWithoutHttp(segment, new AbortController().signal), undefined);
  });

  it('does not start a second attempt without time left for a first byte', async () => {
    let now = 0;
    const peers = source([holder('a', 2e6), holder('b', 1e6)], async () => {
      now = 5800;
      throw new Error('timeout');
    });
    await new SegmentScheduler(deps({ peers: () => peers, now: () => now })).fetchWithoutHttp(segment, new AbortController().signal);
    assert.deepEqual(peers.asked.map(([id]) => id), ['a']);
  });

  it('for a live segment nobody announced, waits for a peer to start receiving it, at most its random wait, and asks that peer at once', async () => {
    const holders: PeerCandidate[] = [];
    const waits: number[] = [];
    const peers = source(holders, async () => new ArrayBuffer(3), async (_id, timeoutMs) => {
      waits.push(timeoutMs);
      holders.push(holder('first'));
      return true;
    });
    const d = deps({ peers: () => peers, bufferAheadSec: () => 8, random: () => 0.5 });
    const result = await new SegmentScheduler(d).fetchWithoutHttp({ ...segment, live: true }, new AbortController().signal);
    assert.deepEqual(waits, [1000], 'random (0.5) times half of what the buffer spares beyond the margin');
    assert.equal(result?.peerId, 'first');
  });

  /** Fetches `live` segments with nobody ever announcing them; the waits made before HTTP. */
  async function waitsWithNoHolder(live: boolean[], overrides: Partial<SchedulerDeps>, config: Partial<SchedulerDeps['config']> = {}) {
    const waits: number[] = [];
    const peers = source([], async () => new ArrayBuffer(3), async (_id, timeoutMs) => {
      waits.push(timeoutMs);
      return false;
    });
    const d = deps({ peers: () => peers, ...overrides });
    d.config = { ...d.config, ...config };
    const results = [];
    for (const isLive of live) results.push(await new SegmentScheduler(d).fetchWithoutHttp({ ...segment, live: isLive }, new AbortController().signal));
    return { waits, results };
  }

  it('goes to HTTP when the live wait ends with nobody announcing', async () => {
    const { waits, results } = await waitsWithNoHolder([true], { bufferAheadSec: () => 8, random: () => 0.5 });
    assert.deepEqual(results, [undefined]);
    assert.deepEqual(waits, [1000]);
  });

  it('waits up to 2 s for a VOD segment nobody announced once the buffer is long, whatever the short live wait', async () => {
    const { waits } = await waitsWithNoHolder([false, true], { bufferAheadSec: () => 20, random: () => 1 }, { liveWaitMaxMs: 150 });
    assert.deepEqual(waits, [2000, 150], 'VOD: 2 s; live: liveWaitMaxMs');
  });

  it('asks a holder that answered busy again once it has offered the segment since (a slot of its freed), and not before', async () => {
    let offers = 0;
    const seen: boolean[] = [];
    const answers = ['busy', 'data'];
    const peers = source(
      [holder('a', 1e6)],
      async () => {
        if (answers.shift() === 'busy') throw new PeerRequestError('busy', 'a');
        return new ArrayBuffer(4);
      },
      async (_id, _timeoutMs, _signal, exclude) => {
        seen.push(exclude.has('a'));
        offers++;
        seen.push(exclude.has('a'));
        return !exclude.has('a');
      },
    );
    peers.offersFrom = () => offers;
    const result = await new SegmentScheduler(deps({ peers: () => peers })).fetchWithoutHttp(segment, new AbortController().signal);
    assert.equal(result?.peerId, 'a');
    assert.deepEqual(peers.asked.map(([id]) => id), ['a', 'a']);
    assert.deepEqual(seen, [true, false], 'excluded after the busy answer, eligible once it offered');
  });

  it('does not ask a holder that answered busy again without an offer from it, nor one that failed otherwise', async () => {
    for (const failure of ['busy', 'timeout'] as const) {
      let offers = 0;
      const peers = source(
        [holder('a', 1e6)],
        async () => {
          throw new PeerRequestError(failure, 'a');
        },
        async (_id, _timeoutMs, _signal, exclude) => {
          if (failure === 'timeout') offers++;
          return !exclude.has('a');
        },
      );
      peers.offersFrom = () => offers;
      const result = await new SegmentScheduler(deps({ peers: () => peers })).fetchWithoutHttp(segment, new AbortController().signal);
      assert.equal(result, undefined, failure);
      assert.deepEqual(peers.asked.map(([id]) => id), ['a'], failure);
    }
  });

  it('joins a prefetch of the segment already under way instead of asking again', async () => {
    const data = new ArrayBuffer(7);
    let cached: ArrayBuffer | undefined;
    let answer: (data: ArrayBuffer) => void = () => {};
    const peers = source([holder('a', 1e6)], () => new Promise<ArrayBuffer>((resolve) => (answer = resolve)));
    const scheduler = new SegmentScheduler(
      deps({
        peers: () => peers,
        cached: () => cached,
        openTransfer: () => {
          const sink = new PartialSegment();
          return { sink, complete: (whole) => ((cached = whole), sink.complete()), fail: () => sink.fail() };
        },
      }),
    );
    const prefetch = scheduler.prefetch({ ...segment, live: true }, 'a', new AbortController().signal);
    const result = scheduler.fetchWithoutHttp({ ...segment, live: true }, new AbortController().signal);
    await new Promise((resolve) => setImmediate(resolve));
    answer(data);
    await prefetch;
    const delivery = await result;
    assert.equal(delivery?.source, 'p2p');
    assert.equal(delivery.source === 'p2p' && delivery.data, data);
    assert.equal(peers.asked.length, 1, 'only the prefetch asked the peer');
  });

  it("hands over a segment prefetched from a peer as that peer's delivery the first time, as a cache hit after", async () => {
    let cached: ArrayBuffer | undefined;
    const peers = source([holder('a', 1e6)], async () => new ArrayBuffer(4));
    const scheduler = new SegmentScheduler(
      deps({
        peers: () => peers,
        cached: () => cached,
        openTransfer: () => ({ sink: new PartialSegment(), complete: (data) => (cached = data), fail: () => {} }),
      }),
    );
    await scheduler.prefetch({ ...segment, live: true }, 'a', new AbortController().signal);
    assert.ok(cached, 'the prefetch landed in the cache');
    const first = await scheduler.fetchWithoutHttp({ ...segment, live: true }, new AbortController().signal);
    assert.equal(first?.source, 'p2p');
    assert.equal(first?.peerId, 'a');
    const again = await scheduler.fetchWithoutHttp({ ...segment, live: true }, new AbortController().signal);
    assert.equal(again?.source, 'cache');
    assert.equal(peers.asked.length, 1, 'the peer was asked once, by the prefetch');
  });

  it('verifies a peer segment: a corrupt one is never returned, its sender is dropped, and the next holder is asked', async () => {
    const d = deps({ verify: async (_id, data) => (new Uint8Array(data)[0] === 66 ? 'corrupt' : 'ok') });
    const peers = source([holder('bad', 1000), holder('good', 10)], async (peerId) => new Uint8Array([peerId === 'bad' ? 66 : 71]).buffer);
    d.peers = () => peers;
    const result = await new SegmentScheduler(d).fetchWithoutHttp(segment, new AbortController().signal);
    assert.equal(result?.peerId, 'good');
    assert.ok(result && result.source !== 'http-rest');
    assert.deepEqual(new Uint8Array(result.data), new Uint8Array([71]));
    assert.deepEqual(d.dropped, ['bad']);
    assert.deepEqual(d.transfers, ['fail', 'complete'], 'the corrupt copy is withdrawn, never cached');
  });

  it('goes to HTTP when a peer segment cannot be verified, without blaming the peer', async () => {
    const d = deps({ verify: async () => 'unverifiable' });
    const peers = source([holder('a', 1000), holder('b', 10)], async () => new ArrayBuffer(3));
    d.peers = () => peers;
    assert.equal(await new SegmentScheduler(d).fetchWithoutHttp(segment, new AbortController().signal), undefined);
    assert.deepEqual(peers.asked.map(([id]) => id), ['a'], 'no other peer is asked: no reference for anyone');
    assert.deepEqual(d.dropped, []);
    assert.match(d.failures[0] ?? '', /unverifiable/);
  });
});
