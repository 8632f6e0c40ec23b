// See package.json: bittorrent-tracker's server never creates peer connections.
const unavailable = () => {
  throw new Error('webrtc-polyfill is stubbed in Shoal: no WebRTC in Node');
};
export const RTCPeerConnection = unavailable;
export const RTCSessionDescription = unavailable;
export const RTCIceCandidate = unavailable;
export default { RTCPeerConnection, RTCSessionDescription, RTCIceCandidate };
