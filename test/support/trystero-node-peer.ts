/**
 * A stock trystero torrent-strategy client in Node, with werift as its WebRTC. Each one runs in
 * its own child process: trystero keeps its peer id (`selfId`) and its tracker sockets in module
 * state, so two clients in one module instance would be one peer to the tracker; and a process,
 * unlike a worker thread, can be ended at any moment without taking the test runner down.
 *
 * Parent <-> child messages (Node IPC, JSON):
 * ```
 * parent -> child: { type: 'send', to, text } | { type: 'leave' }
 * child -> parent: { type: 'ready', selfId } | { type: 'peer-join', peerId } | { type: 'peer-leave', peerId }
 *                  | { type: 'message', from, text }
 * ```
 * The child exits once it has left the room.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** What the child joins, passed as its one argument (JSON). */
export interface TrysteroPeerSetup {
  trackerUrl: string;
  appId: string;
  roomId: string;
}

export type ParentToChild = { type: 'send'; to: string; text: string } | { type: 'leave' };

export type ChildToParent =
  | { type: 'ready'; selfId: string }
  | { type: 'peer-join'; peerId: string }
  | { type: 'peer-leave'; peerId: string }
  | { type: 'message'; from: string; text: string };

type Waiter = { predicate: (event: ChildToParent) => boolean; resolve: (event: ChildToParent) => void; reject: (err: Error) => void };

const CHILD = fileURLToPath(new URL('./trystero-node-peer.child.ts', import.meta.url));
/** How long {@link TrysteroNodePeer.close} lets the child leave its room before killing it. */
const LEAVE_GRACE_MS = 3000;

export class TrysteroNodePeer {
  /** Every event from the child, in order. */
  readonly events: ChildToParent[] = [];
  readonly #waiters = new Set<Waiter>();
  readonly #exited: Promise<unknown>;
  #failure: Error | undefined;

  private constructor(readonly child: ChildProcess) {
    child.on('message', (event: ChildToParent) => this.#deliver(event));
    child.on('error', (err) => this.#fail(err));
    this.#exited = once(child, 'exit').then(([code, signal]) => this.#fail(new Error(`trystero client exited (code ${code}, signal ${signal})`)));
  }

  /** Starts a client in a new process, which joins the room; resolves once it is set up. */
  static async start(setup: TrysteroPeerSetup): Promise<TrysteroNodePeer> {
    const child = fork(CHILD, [JSON.stringify(setup)], { execArgv: ['--import', import.meta.resolve('tsx')], stdio: 'inherit' });
    const peer = new TrysteroNodePeer(child);
    await peer.waitFor((e) => e.type === 'ready');
    return peer;
  }

  /** trystero's peer id of this client. */
  get selfId(): string {
    const ready = this.events.find((e) => e.type === 'ready');
    if (ready?.type !== 'ready') throw new Error('the trystero client is not ready yet');
    return ready.selfId;
  }

  /** Resolves with the first event, past or future, that matches. Fails if the child dies. */
  waitFor(predicate: (event: ChildToParent) => boolean): Promise<ChildToParent> {
    const seen = this.events.find(predicate);
    if (seen !== undefined) return Promise.resolve(seen);
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => this.#waiters.add({ predicate, resolve, reject }));
  }

  /** Resolves once trystero reported `peerId` as joined (its data channel is open). */
  async peerJoined(peerId: string): Promise<void> {
    await this.waitFor((e) => e.type === 'peer-join' && e.peerId === peerId);
  }

  /** Resolves with the first text `from` sent through the room's message action. */
  async messageFrom(from: string): Promise<string> {
    const event = await this.waitFor((e) => e.type === 'message' && e.from === from);
    return event.type === 'message' ? event.text : '';
  }

  send(to: string, text: string): void {
    this.#post({ type: 'send', to, text });
  }

  /** Leaves the room (trystero's `room.leave()`) and ends the child; kills it if that takes long. */
  async close(): Promise<void> {
    if (this.#failure === undefined) {
      this.#post({ type: 'leave' });
      const timer = setTimeout(() => this.child.kill('SIGKILL'), LEAVE_GRACE_MS);
      await this.#exited;
      clearTimeout(timer);
    }
  }

  #post(message: ParentToChild): void {
    if (this.child.connected) this.child.send(message);
  }

  #deliver(event: ChildToParent): void {
    this.events.push(event);
    for (const waiter of this.#waiters) {
      if (!waiter.predicate(event)) continue;
      this.#waiters.delete(waiter);
      waiter.resolve(event);
    }
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    for (const waiter of this.#waiters) waiter.reject(err);
    this.#waiters.clear();
  }
}
