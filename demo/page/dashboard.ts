/**
 * The demo dashboard: what share of this viewer's bytes came from peers, its peers and upload,
 * the CDN egress of all viewers (from the origin's counter), and a live chart, once a second.
 */
declare const Shoal: { instances: Array<{ stats(): { httpBytes: number; p2pBytes: number; uploadedBytes: number; peers: number; p2p: string } }> };

const HISTORY_SECONDS = 60;
const samples: Array<{ p2p: number; http: number }> = [];
let previous = { p2p: 0, http: 0 };

function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

function setText(id: string, text: string): void {
  const element = document.getElementById(id);
  if (element) element.textContent = text;
}

function drawChart(): void {
  const canvas = document.getElementById('chart') as HTMLCanvasElement;
  const context = canvas.getContext('2d');
  if (!context) return;
  const { width, height } = canvas;
  context.clearRect(0, 0, width, height);
  const peak = Math.max(1, ...samples.map((h) => h.p2p + h.http));
  const barWidth = width / HISTORY_SECONDS;
  samples.forEach((sample, i) => {
    const x = i * barWidth;
    const p2pHeight = (sample.p2p / peak) * (height - 20);
    const httpHeight = (sample.http / peak) * (height - 20);
    context.fillStyle = '#4cc9f0';
    context.fillRect(x, height - p2pHeight, barWidth - 1, p2pHeight);
    context.fillStyle = '#f77f00';
    context.fillRect(x, height - p2pHeight - httpHeight, barWidth - 1, httpHeight);
  });
  context.fillStyle = '#a9bcd0';
  context.font = '11px system-ui';
  context.fillText(`${formatBytes(peak)}/s`, 4, 12);
}

async function refreshOrigin(): Promise<void> {
  try {
    const response = await fetch(`${(window as any).demoOriginUrl}/origin/stats`);
    const { mediaBytesSent } = await response.json();
    setText('origin-bytes', formatBytes(mediaBytesSent));
  } catch {
    setText('origin-bytes', 'unavailable');
  }
}

function refresh(): void {
  const engine = typeof Shoal === 'undefined' ? undefined : Shoal.instances[0];
  if (!engine) {
    // Plain hls.js: the CDN's egress is still worth showing, for comparison with Shoal.
    setText('status', 'no Shoal engine on this page');
    void refreshOrigin();
    return;
  }
  const stats = engine.stats();
  const total = stats.p2pBytes + stats.httpBytes;
  setText('p2p-share', `${total === 0 ? 0 : Math.round((100 * stats.p2pBytes) / total)}%`);
  setText('p2p-bytes', formatBytes(stats.p2pBytes));
  setText('http-bytes', formatBytes(stats.httpBytes));
  setText('uploaded-bytes', formatBytes(stats.uploadedBytes));
  setText('peers', String(stats.peers));
  setText('status', stats.p2p === 'on' ? 'P2P on' : `P2P off (${stats.p2p})`);
  samples.push({ p2p: stats.p2pBytes - previous.p2p, http: stats.httpBytes - previous.http });
  if (samples.length > HISTORY_SECONDS) samples.shift();
  previous = { p2p: stats.p2pBytes, http: stats.httpBytes };
  drawChart();
  void refreshOrigin();
}

setInterval(refresh, 1000);
refresh();
