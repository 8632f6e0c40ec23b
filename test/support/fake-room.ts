import type { Room } from '@trystero-p2p/core';
import { actionShim, type ActionHandler, type SendOptions } from './action-shim.ts';


interface FakeRoom {
  peerId: string;
  actions: Map<string, { onMessage: ActionHandler }>;
  onPeerJoin: ((peerId: string) => void) | null;
  onPeerLeave: ((peerId: string) => void) | null;
  left: boolean;
}

/**
 * An in-memory stand-in for trystero rooms, for unit tests of the swarm logic: messages are
 * delivered asynchronously, in order, between rooms joined on one bus. `tamper` lets a test
 * play a misbehaving peer by rewriting what a room sends.
 */
export class FakeRoomBus {
  readonly rooms = new Map<string, FakeRoom>();
  tamper: ((from: string, action: string, data: unknown, metadata: unknown) => { data: unknown; metadata: unknown } | undefined) | undefined;
  delivered = 0;
  /** Connections closed through a room's `getPeers()`, as `closer-peer`. */
  readonly closedConnections: string[] = [];

  join(peerId: string): Room {
    const self: FakeRoom = { peerId, actions: new Map(), onPeerJoin: null, onPeerLeave: null, left: false };
    this.rooms.set(peerId, self);
    const bus = this;
    const room = {
      makeAction(name: string) {
        return actionShim(self.actions, name, async (data: unknown, options: SendOptions = {}) => {
          const targets = options.target === undefined ? [...bus.rooms.keys()].filter((id) => id !== peerId) : [options.target].flat();
          for (const target of targets) {
            await new Promise((resolve) => setTimeout(resolve, 0));
            const altered = bus.tamper ? bus.tamper(peerId, name, data, options.metadata) : { data, metadata: options.metadata };
            if (!altered) continue;
            const receiver = bus.rooms.get(target);
            if (!receiver || receiver.left || self.left) continue;
            bus.delivered++;
            receiver.actions.get(name)?.onMessage?.(altered.data, { peerId, metadata: altered.metadata });
          }
        });
      },
      set onPeerJoin(handler: (peerId: string) => void) {
        self.onPeerJoin = handler;
      },
      set onPeerLeave(handler: (peerId: string) => void) {
        self.onPeerLeave = handler;
      },
      getPeers() {
        return Object.fromEntries([...bus.rooms.keys()].filter((id) => id !== peerId).map((id) => [id, { close: () => bus.closedConnections.push(`${peerId}-${id}`) }]));
      },
      async leave() {
        self.left = true;
        bus.rooms.delete(peerId);
        for (const other of bus.rooms.values()) other.onPeerLeave?.(peerId);
      },
    };
    return room as unknown as Room;
  }

  /**
   * Tells `to` that `peer` connected, and not the other way round: the state trystero leaves
   * when the handshake passes on one side and times out on the other.
   */
  introduce(to: string, peer: string): void {
    this.rooms.get(to)?.onPeerJoin?.(peer);
  }

  /** Introduces every pair of joined rooms, as trystero does once connections are up. */
  connectAll(): void {
    for (const a of this.rooms.values()) for (const b of this.rooms.values()) if (a !== b) a.onPeerJoin?.(b.peerId);
  }
}
