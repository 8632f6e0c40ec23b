/**
 * Child process of {@link TrysteroNodePeer}: stock `@trystero-p2p/torrent` with werift's
 * RTCPeerConnection and ws's WebSocket (Node 20 has no global one). It joins one room over one
 * tracker and relays the room's events and a text message action to the parent.
 */
import { RTCPeerConnection } from 'werift';
import { WebSocket } from 'ws';
import type { ChildToParent, ParentToChild, TrysteroPeerSetup } from './trystero-node-peer.ts';

const setup = JSON.parse(process.argv[2] ?? '') as TrysteroPeerSetup;
const post = (message: ChildToParent): void => {
  process.send?.(message);
};

// trystero reads the global when it opens its tracker socket, so it must be set before joinRoom.
Object.assign(globalThis, { WebSocket });
const { joinRoom, selfId } = await import('@trystero-p2p/torrent');

const room = joinRoom(
  {
    appId: setup.appId,
    relayConfig: { urls: [setup.trackerUrl] },
    // werift's class is API-compatible where trystero uses it, not type-identical to the DOM's.
    rtcPolyfill: RTCPeerConnection as unknown as typeof globalThis.RTCPeerConnection,
    // No STUN: loopback host candidates suffice, and there is no network to reach a STUN server.
    rtcConfig: { iceServers: [] },
  },
  setup.roomId,
);
const chat = room.makeAction<string>('chat');
room.onPeerJoin = (peerId) => post({ type: 'peer-join', peerId });
room.onPeerLeave = (peerId) => post({ type: 'peer-leave', peerId });
chat.onMessage = (text, { peerId }) => post({ type: 'message', from: peerId, text });

process.on('message', (message: ParentToChild) => {
  if (message.type === 'send') {
    void chat.send(message.text, { target: message.to });
    return;
  }
  void room.leave().then(() => process.exit(0));
});
// The parent gone (test runner killed): nothing left to do.
process.on('disconnect', () => process.exit(0));
post({ type: 'ready', selfId });
