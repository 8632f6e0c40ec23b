/**
 * trystero rooms and a WebTorrent-style tracker, simulated: what the SDK's `joinRoom` returns in
 * the simulator. Pairing follows trystero's torrent strategy: an announce at join and after
 * 233, 766 and 2100 ms, then every tracker interval, each carrying 3 offers the tracker hands
 * to random members of the swarm; both ends run the SDK's handshake (where the peer cap
 * refuses), and a connection takes a round trip plus ICE time to open.
 */
import type { JoinRoom, JoinRoomCallbacks, Room } from '@trystero-p2p/core';
import { actionShim, type ActionHandler, type SendOptions } from '../support/action-shim.ts';
import type { SimNetwork, SimNode } from './network.ts';
import type { VirtualTime } from './virtual-time.ts';

const OFFERS_PER_ANNOUNCE = 3;
const WARMUP_ANNOUNCES_MS = [0, 233, 766, 2100];
const CONNECT_SETUP_MS = 150;


class SimRoom {
  readonly actions = new Map<string, { onMessage: ActionHandler }>();
  readonly peers = new Set<string>();
  onPeerJoin: ((peerId: string) => void) | null = null;
  onPeerLeave: ((peerId: string) => void) | null = null;
  left = false;
  constructor(
    readonly node: SimNode,
    readonly swarmId: string,
    readonly callbacks: JoinRoomCallbacks | undefined,
  ) {}
}

export class SimTracker {
  /** Messages through the tracker: announces and their replies, relayed offers and answers. */
  messages = 0;
  readonly #swarms = new Map<string, Map<string, SimRoom>>();

  constructor(
    readonly time: VirtualTime,
    readonly network: SimNetwork,
    readonly announceIntervalMs: number,
  ) {}

  /** The `joinRoom` one viewer's engine is given. */
  joinRoomFor(node: SimNode): JoinRoom {
    return (_config, swarmId, callbacks) => this.#join(new SimRoom(node, swarmId, callbacks));
  }

  #members(swarmId: string): Map<string, SimRoom> {
    let members = this.#swarms.get(swarmId);
    if (!members) this.#swarms.set(swarmId, (members = new Map()));
    return members;
  }

  #join(room: SimRoom): Room {
    this.#members(room.swarmId).set(room.node.id, room);
    for (const delay of WARMUP_ANNOUNCES_MS) this.time.setTimeout(() => this.#announce(room), delay);
    const every = () => {
      if (room.left) return;
      this.#announce(room);
      this.time.setTimeout(every, this.announceIntervalMs);
    };
    this.time.setTimeout(every, this.announceIntervalMs);
    return this.#roomApi(room);
  }

  #announce(room: SimRoom): void {
    if (room.left) return;
    this.messages += 2;
    const others = [...this.#members(room.swarmId).values()].filter((r) => r !== room && !room.peers.has(r.node.id));
    for (let i = 0; i < OFFERS_PER_ANNOUNCE && others.length > 0; i++) {
      const [target] = others.splice(Math.floor(this.time.random() * others.length), 1);
      this.messages += 3;
      void this.#connect(room, target as SimRoom);
    }
  }

  async #connect(a: SimRoom, b: SimRoom): Promise<void> {
    const rtt = 2 * this.network.latencyMs(a.node, b.node);
    await new Promise((resolve) => this.time.setTimeout(() => resolve(undefined), rtt + CONNECT_SETUP_MS));
    if (a.left || b.left || a.peers.has(b.node.id)) return;
    const results = await Promise.allSettled([
      a.callbacks?.onPeerHandshake?.(b.node.id, async () => {}, async () => ({ data: null }), true),
      b.callbacks?.onPeerHandshake?.(a.node.id, async () => {}, async () => ({ data: null }), false),
    ]);
    if (results.some((r) => r.status === 'rejected')) {
      a.callbacks?.onJoinError?.({ error: 'handshake failed', appId: 'sim', roomId: a.swarmId, peerId: b.node.id });
      b.callbacks?.onJoinError?.({ error: 'handshake failed', appId: 'sim', roomId: b.swarmId, peerId: a.node.id });
      return;
    }
    if (a.left || b.left || a.peers.has(b.node.id)) return;
    a.peers.add(b.node.id);
    b.peers.add(a.node.id);
    a.onPeerJoin?.(b.node.id);
    b.onPeerJoin?.(a.node.id);
  }

  #roomApi(room: SimRoom): Room {
    const tracker = this;
    const api = {
      makeAction(name: string) {
        return actionShim(room.actions, name, async (data: unknown, options: SendOptions = {}) => {
          const targets = options.target === undefined ? [...room.peers] : [options.target].flat();
          const bytes = data instanceof ArrayBuffer ? data.byteLength + 40 : JSON.stringify(data).length + 40;
          await Promise.all(
            targets.map((target) => {
              const other = tracker.#members(room.swarmId).get(target);
              if (!other || !room.peers.has(target)) return undefined;
              return tracker.network.send(room.node, other.node, bytes, () => {
                if (!other.left && other.peers.has(room.node.id)) other.actions.get(name)?.onMessage?.(data, { peerId: room.node.id, metadata: options.metadata });
              });
            }),
          );
        });
      },
      set onPeerJoin(handler: (peerId: string) => void) {
        room.onPeerJoin = handler;
      },
      set onPeerLeave(handler: (peerId: string) => void) {
        room.onPeerLeave = handler;
      },
      async leave() {
        if (room.left) return;
        room.left = true;
        const members = tracker.#members(room.swarmId);
        members.delete(room.node.id);
        for (const peerId of room.peers) {
          const other = members.get(peerId);
          if (!other) continue;
          other.peers.delete(room.node.id);
          // A closed data channel is noticed after a moment, not at once.
          tracker.time.setTimeout(() => other.onPeerLeave?.(room.node.id), 500);
        }
        room.peers.clear();
      },
      getPeers: () => Object.fromEntries([...room.peers].map((id) => [id, {}])),
    };
    return api as unknown as Room;
  }
}
