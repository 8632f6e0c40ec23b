/**
 * A load generator of the tracker benchmark (test/bench/tracker.ts), run as a child process so
 * that it shares an event loop neither with the tracker under test nor with other generators,
 * and so that the sockets of many clients can be spread over several processes' open-files
 * limits. It holds a share of the benchmark's WebSocket clients and does what the parent asks
 * over IPC ({@link LoadApi}).
 *
 * Each client behaves like a WebTorrent or trystero peer with fake SDP of realistic size: it
 * joins one swarm and answers every offer relayed to it. Under load it repeats a cycle: leave
 * the swarm (`event: 'stopped'`), then join it again with an announce carrying offers, as a
 * viewer arriving does. Leaving first matters: Shoal's tracker never relays an offer to a peer
 * already paired with the offerer, and pairs end only when one of the two leaves, so a client
 * that re-announced without leaving would soon have no one left to offer to. The reference
 * relays regardless; both get the same messages.
 *
 * The send time travels in the `offer_id` (microseconds since the epoch, hex, then a sequence
 * number), so the peer receiving an offer measures its relay latency and the offerer, when the
 * answer comes back with the same `offer_id`, the offer -> answer round trip. Processes on one
 * machine share the clock.
 *
 * A generator must outrun the tracker it loads, so messages are built from pre-serialized
 * parts and read by looking for their few fields in the text rather than by parsing them: the
 * trackers' JSON is plain and every id is hex.
 *
 * Announce replies name no request. A tracker handles one connection's messages in order, so
 * each client keeps the kinds of its requests still waiting for a reply, oldest first, and
 * takes every reply (or `failure reason`) as the oldest one's. Whether an announce carrying an
 * answer gets a reply differs between trackers (bittorrent-tracker sends none, Shoal does):
 * `probe` finds out, and the clients expect replies accordingly. A tracker that replies to an
 * answer and then fails to relay it (Shoal, when the offerer has just left) sends a failure
 * right after that reply: such a failure is about the answer, not a response to the next
 * request.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { WebSocket, type RawData } from 'ws';
import { LatencyHistogram, type HistogramBuckets } from './latency-histogram.ts';
import { serveRpc } from './tracker-ipc.ts';

/** What a load generator process answers. */
export type LoadApi = {
  /** Checks with two clients that the tracker relays offers and answers; see the file comment. */
  probe: { params: { url: string }; result: { repliesToAnswers: boolean } };
  /** Opens clients `firstClient` to `firstClient + count - 1`; client i belongs to swarm i mod `swarms`. */
  connect: { params: ConnectParams; result: { connected: number; failed: number; firstError?: string } };
  /** Every client announces once (`started`, no offers, numwant 0); resolves when all got a reply. */
  join: { params: undefined; result: { joined: number } };
  run: { params: RunParams; result: RunResult };
  /** Drops every connection. */
  close: { params: undefined; result: undefined };
};

export interface ConnectParams {
  url: string;
  firstClient: number;
  count: number;
  swarms: number;
  /** From `probe`: whether the tracker replies to an announce that carries an answer. */
  repliesToAnswers: boolean;
}

export interface RunParams {
  /**
   * `closed`: each client keeps `inFlightPerClient` leave-and-rejoin cycles outstanding,
   * starting the next as soon as the announce with offers gets its reply (the tracker's
   * throughput bounds the rate).
   * `open`: `cyclesPerSec` cycles in all from this process, round-robin over its clients,
   * whatever the replies.
   */
  load: { mode: 'closed'; inFlightPerClient: number } | { mode: 'open'; cyclesPerSec: number };
  offersPerAnnounce: number;
  /** Load runs this long before counting starts, so that JIT and queues settle. */
  warmupMs: number;
  /** Length of the window in which replies, offers, answers and latencies are counted. */
  measureMs: number;
}

export interface RunResult {
  /** Actual window length (timers run late on a busy event loop). */
  windowMs: number;
  /** Replies to announces with offers (one per cycle), received in the window. */
  offerAnnounceReplies: number;
  offersReceived: number;
  answersReceived: number;
  /** Time from sending an announce to one of its offers reaching another client. */
  offerRelayMs: HistogramBuckets;
  /** Time from sending an announce to the answer to one of its offers coming back. */
  offerAnswerRoundTripMs: HistogramBuckets;
  /** This process's CPU time over the window, in percent of one core. */
  cpuPercent: number;
  /** `failure reason`s received during the whole run, by reason. */
  failures: Record<string, number>;
  /** Replies that came when no request was waiting for one. */
  unexpectedReplies: number;
  /** Clients still waiting for a reply when the run gave up waiting after the window. */
  clientsNotDrained: number;
}

/** Length of `info_hash`, `peer_id` and `offer_id`, as trystero sends them: hex characters. */
const ID_LENGTH = 20;
/** Hex digits of the send time at the start of an `offer_id`, enough for epoch microseconds. */
const OFFER_ID_TIME_DIGITS = 13;
const PROBE_INFO_HASH = 'f'.repeat(ID_LENGTH);
/** WebSocket handshakes in progress at once per process, so the tracker's backlog never overflows. */
const CONNECT_CONCURRENCY = 200;
const HANDSHAKE_TIMEOUT_MS = 30_000;
const JOIN_TIMEOUT_MS = 60_000;
const PROBE_STEP_TIMEOUT_MS = 5_000;
/** How long a run waits, after its window, for the replies to what it already sent. */
const DRAIN_TIMEOUT_MS = 5_000;
/** Tick of the open-loop sender; short, so that announces go out evenly rather than in bursts. */
const OPEN_LOOP_TICK_MS = 2;

const hexId = (n: number) => n.toString(16).padStart(ID_LENGTH, '0');
const epochMs = () => performance.timeOrigin + performance.now();

/**
 * A fake session description shaped like Chromium's for one data channel (about 590 bytes):
 * trackers relay SDP without reading it, so only its size matters.
 */
function fakeSdp(type: 'offer' | 'answer'): string {
  const hex = (bytes: number) => randomBytes(bytes).toString('hex');
  const fingerprint = hex(32).toUpperCase().match(/../g)?.join(':');
  return [
    'v=0',
    `o=- ${BigInt(`0x${hex(8)}`).toString().slice(0, 19)} 2 IN IP4 127.0.0.1`,
    's=-',
    't=0 0',
    'a=group:BUNDLE 0',
    'a=extmap-allow-mixed',
    'a=msid-semantic: WMS',
    'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
    'c=IN IP4 0.0.0.0',
    `a=candidate:${parseInt(hex(4), 16)} 1 udp 2113937151 ${randomUUID()}.local 54321 typ host generation 0 network-cost 999`,
    `a=ice-ufrag:${hex(2)}`,
    `a=ice-pwd:${hex(12)}`,
    'a=ice-options:trickle',
    `a=fingerprint:sha-256 ${fingerprint}`,
    `a=setup:${type === 'offer' ? 'actpass' : 'active'}`,
    'a=mid:0',
    'a=sctp-port:5000',
    'a=max-message-size:262144',
    '',
  ].join('\r\n');
}

const OFFER = { type: 'offer', sdp: fakeSdp('offer') } as const;
const ANSWER = { type: 'answer', sdp: fakeSdp('answer') } as const;
const OFFER_JSON = JSON.stringify(OFFER);
const ANSWER_JSON = JSON.stringify(ANSWER);

let offerSequence = 0;
function newOfferId(): string {
  offerSequence = (offerSequence + 1) % 16 ** (ID_LENGTH - OFFER_ID_TIME_DIGITS);
  const sentAtMicros = Math.round(epochMs() * 1000);
  return sentAtMicros.toString(16).padStart(OFFER_ID_TIME_DIGITS, '0') + offerSequence.toString(16).padStart(ID_LENGTH - OFFER_ID_TIME_DIGITS, '0');
}

const sentAtMs = (offerId: string) => parseInt(offerId.slice(0, OFFER_ID_TIME_DIGITS), 16) / 1000;

/** The value of a string field of a tracker message, found in its JSON text. */
function stringField(text: string, name: string): string | undefined {
  const key = `"${name}":"`;
  const at = text.indexOf(key);
  if (at < 0) return undefined;
  const start = at + key.length;
  return text.slice(start, text.indexOf('"', start));
}

/** The fields read from tracker messages parsed whole: the probe's, and failures. */
interface TrackerMessage {
  action?: string;
  'failure reason'?: string;
  info_hash?: string;
  peer_id?: string;
  offer_id?: string;
  offer?: unknown;
  answer?: unknown;
  interval?: number;
}

type RequestKind = 'join' | 'leave' | 'offers' | 'answer';

interface BenchClient {
  socket: WebSocket;
  peerId: string;
  infoHash: string;
  /** `"info_hash":…,"peer_id":…,` of every announce this client sends. */
  idsJson: string;
  /** Requests that will get a reply and have not yet, oldest first. */
  awaitingReply: RequestKind[];
  /** The kind of request the last reply was for. */
  lastReplied: RequestKind | undefined;
}

/** Counts of the current run; replies and latencies only while its window is open. */
class RunCounters {
  inWindow = false;
  offerAnnounceReplies = 0;
  offersReceived = 0;
  answersReceived = 0;
  readonly offerRelay = new LatencyHistogram();
  readonly offerAnswerRoundTrip = new LatencyHistogram();
  readonly failures: Record<string, number> = {};
  unexpectedReplies = 0;
}

let clients: BenchClient[] = [];
let repliesToAnswers = false;
let counters = new RunCounters();
/** Closed loop: starts a client's next cycle when its announce with offers got its reply. */
let onOfferAnnounceReplied: ((client: BenchClient) => void) | undefined;
let joinsAwaited = 0;
let onAllJoined: (() => void) | undefined;

/** Sends an announce with the client's ids and `fieldsJson` (JSON members, comma-separated). */
function announce(client: BenchClient, kind: RequestKind | undefined, fieldsJson: string): void {
  if (client.socket.readyState !== WebSocket.OPEN) return;
  if (kind !== undefined) client.awaitingReply.push(kind);
  client.socket.send(`{"action":"announce",${client.idsJson}${fieldsJson}}`);
}

const join = (client: BenchClient) => announce(client, 'join', '"event":"started","numwant":0,"uploaded":0,"downloaded":0,"left":1');

/** Leaves the swarm and joins it again with offers: one cycle of the load. */
function leaveAndRejoinWithOffers(client: BenchClient, offersPerAnnounce: number): void {
  announce(client, 'leave', '"event":"stopped","numwant":0,"uploaded":0,"downloaded":0,"left":1');
  const offers = Array.from({ length: offersPerAnnounce }, () => `{"offer_id":"${newOfferId()}","offer":${OFFER_JSON}}`);
  announce(client, 'offers', `"event":"started","numwant":${offersPerAnnounce},"uploaded":0,"downloaded":0,"left":1,"offers":[${offers.join(',')}]`);
}

/** The tracker has responded to the client's oldest request, with a reply or a failure. */
function onResponse(client: BenchClient, succeeded: boolean): void {
  const kind = client.awaitingReply.shift();
  client.lastReplied = kind;
  if (kind === undefined) {
    counters.unexpectedReplies++;
  } else if (kind === 'join') {
    if (--joinsAwaited === 0) onAllJoined?.();
  } else if (kind === 'offers') {
    if (succeeded && counters.inWindow) counters.offerAnnounceReplies++;
    onOfferAnnounceReplied?.(client);
  }
}

function onTrackerMessage(client: BenchClient, data: RawData): void {
  const receivedAtMs = epochMs();
  const text = data.toString();
  if (text.includes('"failure reason"')) {
    const failure = (JSON.parse(text) as TrackerMessage)['failure reason'] ?? '';
    counters.failures[failure] = (counters.failures[failure] ?? 0) + 1;
    if (client.lastReplied === 'answer') client.lastReplied = undefined;
    else onResponse(client, false);
  } else if (text.includes('"offer":')) {
    const offerId = stringField(text, 'offer_id');
    const offererId = stringField(text, 'peer_id');
    if (offerId === undefined || offererId === undefined) return;
    if (counters.inWindow) {
      counters.offersReceived++;
      counters.offerRelay.record(receivedAtMs - sentAtMs(offerId));
    }
    announce(client, repliesToAnswers ? 'answer' : undefined, `"to_peer_id":"${offererId}","offer_id":"${offerId}","answer":${ANSWER_JSON}`);
  } else if (text.includes('"answer":')) {
    const offerId = stringField(text, 'offer_id');
    if (offerId !== undefined && counters.inWindow) {
      counters.answersReceived++;
      counters.offerAnswerRoundTrip.record(receivedAtMs - sentAtMs(offerId));
    }
  } else if (text.includes('"interval"')) {
    onResponse(client, true);
  }
}

function openSocket(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: HANDSHAKE_TIMEOUT_MS });
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

async function connect({ url, firstClient, count, swarms, repliesToAnswers: replies }: ConnectParams): Promise<LoadApi['connect']['result']> {
  repliesToAnswers = replies;
  let failed = 0;
  let firstError: string | undefined;
  let next = 0;
  const openOne = async (index: number) => {
    const socket = await openSocket(url);
    const peerId = hexId(index);
    const infoHash = hexId(index % swarms);
    const client: BenchClient = { socket, peerId, infoHash, idsJson: `"info_hash":"${infoHash}","peer_id":"${peerId}",`, awaitingReply: [], lastReplied: undefined };
    socket.on('message', (data) => onTrackerMessage(client, data));
    // A socket error closes the socket; the clients' counts of replies show the loss.
    socket.on('error', () => {});
    clients.push(client);
  };
  const opener = async () => {
    while (next < count) {
      const index = firstClient + next++;
      await openOne(index).catch((err: unknown) => {
        failed++;
        firstError ??= err instanceof Error ? err.message : String(err);
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONNECT_CONCURRENCY, count) }, opener));
  return { connected: count - failed, failed, ...(firstError === undefined ? {} : { firstError }) };
}

async function joinAll(): Promise<LoadApi['join']['result']> {
  const joining = clients.filter((client) => client.socket.readyState === WebSocket.OPEN);
  joinsAwaited = joining.length;
  if (joinsAwaited === 0) return { joined: 0 };
  const allJoined = new Promise<void>((resolve) => (onAllJoined = resolve));
  joining.forEach(join);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, JOIN_TIMEOUT_MS)));
  await Promise.race([allJoined, timedOut]);
  clearTimeout(timer);
  onAllJoined = undefined;
  return { joined: joining.length - joinsAwaited };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `cyclesPerSec` cycles in all, spread evenly over time and round-robin over the clients. */
function startOpenLoop(cyclesPerSec: number, offersPerAnnounce: number): () => void {
  const startedAt = performance.now();
  let sent = 0;
  let nextClient = 0;
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - startedAt) / 1000) * cyclesPerSec) - sent;
    for (let i = 0; i < due; i++) {
      const client = clients[nextClient];
      nextClient = (nextClient + 1) % clients.length;
      if (client !== undefined) leaveAndRejoinWithOffers(client, offersPerAnnounce);
    }
    sent += Math.max(due, 0);
  }, OPEN_LOOP_TICK_MS);
  return () => clearInterval(timer);
}

async function run({ load, offersPerAnnounce, warmupMs, measureMs }: RunParams): Promise<RunResult> {
  counters = new RunCounters();
  let stopOpenLoop = () => {};
  if (load.mode === 'closed') {
    onOfferAnnounceReplied = (client) => leaveAndRejoinWithOffers(client, offersPerAnnounce);
    for (const client of clients) {
      for (let i = 0; i < load.inFlightPerClient; i++) leaveAndRejoinWithOffers(client, offersPerAnnounce);
    }
  } else {
    onOfferAnnounceReplied = undefined;
    stopOpenLoop = startOpenLoop(load.cyclesPerSec, offersPerAnnounce);
  }

  await sleep(warmupMs);
  const cpuAtStart = process.cpuUsage();
  const windowStart = performance.now();
  counters.inWindow = true;
  await sleep(measureMs);
  counters.inWindow = false;
  const windowMs = performance.now() - windowStart;
  const cpu = process.cpuUsage(cpuAtStart);

  onOfferAnnounceReplied = undefined;
  stopOpenLoop();
  const drainDeadline = performance.now() + DRAIN_TIMEOUT_MS;
  const notDrained = () => clients.filter((client) => client.awaitingReply.length > 0 && client.socket.readyState === WebSocket.OPEN).length;
  while (notDrained() > 0 && performance.now() < drainDeadline) await sleep(20);

  return {
    windowMs,
    offerAnnounceReplies: counters.offerAnnounceReplies,
    offersReceived: counters.offersReceived,
    answersReceived: counters.answersReceived,
    offerRelayMs: counters.offerRelay.buckets(),
    offerAnswerRoundTripMs: counters.offerAnswerRoundTrip.buckets(),
    cpuPercent: ((cpu.user + cpu.system) / 1000 / windowMs) * 100,
    failures: counters.failures,
    unexpectedReplies: counters.unexpectedReplies,
    clientsNotDrained: notDrained(),
  };
}

/** One raw client for the probe: its messages are awaited one by one. */
async function probeClient(url: string, peerId: string) {
  const socket = await openSocket(url);
  const inbox: TrackerMessage[] = [];
  let wake: (() => void) | undefined;
  socket.on('message', (data) => {
    inbox.push(JSON.parse(data.toString()) as TrackerMessage);
    wake?.();
  });
  const announce = (fields: object) => socket.send(JSON.stringify({ action: 'announce', info_hash: PROBE_INFO_HASH, peer_id: peerId, uploaded: 0, downloaded: 0, left: 1, ...fields }));
  const next = async (expecting: string): Promise<TrackerMessage> => {
    const deadline = performance.now() + PROBE_STEP_TIMEOUT_MS;
    while (inbox.length === 0) {
      const remaining = deadline - performance.now();
      if (remaining <= 0) throw new Error(`probe: peer ${peerId} got no message, expecting ${expecting}`);
      await Promise.race([new Promise<void>((resolve) => (wake = resolve)), sleep(remaining)]);
    }
    return inbox.shift() as TrackerMessage;
  };
  const expect = async (expecting: string, matches: (message: TrackerMessage) => boolean) => {
    const message = await next(expecting);
    if (!matches(message)) throw new Error(`probe: peer ${peerId} expected ${expecting}, got ${JSON.stringify(message).slice(0, 300)}`);
    return message;
  };
  return { socket, announce, expect };
}

const isAnnounceReply = (message: TrackerMessage) => message.action === 'announce' && message.interval !== undefined;

async function probe({ url }: { url: string }): Promise<LoadApi['probe']['result']> {
  const offererId = 'e'.repeat(ID_LENGTH - 1) + 'a';
  const answererId = 'e'.repeat(ID_LENGTH - 1) + 'b';
  const offerer = await probeClient(url, offererId);
  const answerer = await probeClient(url, answererId);
  try {
    offerer.announce({ event: 'started', numwant: 0 });
    await offerer.expect('an announce reply', isAnnounceReply);
    answerer.announce({ event: 'started', numwant: 0 });
    await answerer.expect('an announce reply', isAnnounceReply);

    const offerId = newOfferId();
    offerer.announce({ numwant: 1, offers: [{ offer_id: offerId, offer: OFFER }] });
    await offerer.expect('an announce reply', isAnnounceReply);
    await answerer.expect('the relayed offer', (m) => m.offer_id === offerId && m.peer_id === offererId && m.offer !== undefined);

    // A scrape right after the answer: whichever reply comes first tells whether the answer got one.
    answerer.announce({ to_peer_id: offererId, offer_id: offerId, answer: ANSWER });
    answerer.socket.send(JSON.stringify({ action: 'scrape', info_hash: PROBE_INFO_HASH }));
    await offerer.expect('the relayed answer', (m) => m.offer_id === offerId && m.peer_id === answererId && m.answer !== undefined);
    const first = await answerer.expect('an announce or scrape reply', (m) => isAnnounceReply(m) || m.action === 'scrape');
    if (isAnnounceReply(first)) await answerer.expect('a scrape reply', (m) => m.action === 'scrape');
    return { repliesToAnswers: isAnnounceReply(first) };
  } finally {
    offerer.socket.terminate();
    answerer.socket.terminate();
  }
}

serveRpc<LoadApi>({
  probe,
  connect,
  join: joinAll,
  run,
  close: () => {
    for (const client of clients) client.socket.terminate();
    clients = [];
    return undefined;
  },
});
