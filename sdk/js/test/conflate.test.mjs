// Conflated broadcasts (PROTOCOL.md, Conflated streams) against the real server: a viewer that
// falls behind gets skip markers and the latest value, and never rejoins for them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { connect } from '../rtbroadcaster.mjs';
import { startProxy } from './helpers/proxy.mjs';
import { startServer } from './helpers/server.mjs';
import { nextEvent, recordCalls, until } from './helpers/wait.mjs';

const FAST_RECONNECT = { initialDelay: 20, maxDelay: 200 };

let server;
let proxy;
const clients = [];

async function client(url, options = {}) {
  const broadcaster = await connect(url, { WebSocket, reconnect: FAST_RECONNECT, ...options });
  clients.push(broadcaster);
  return broadcaster;
}

/** A WebSocket class that keeps every frame its connections receive, parsed, in `frames`. */
function frameRecorder() {
  const frames = [];
  class RecordingWebSocket extends WebSocket {
    constructor(url) {
      super(url);
      this.addEventListener('message', ({ data }) => frames.push(JSON.parse(data)));
    }
  }
  return { WebSocket: RecordingWebSocket, frames };
}

before(async () => {
  server = await startServer();
  proxy = await startProxy(server.port);
});

after(async () => {
  for (const broadcaster of clients) broadcaster.disconnect();
  proxy.close();
  await server.stop();
});

test('a viewer that falls behind a conflated stream gets skip markers and the latest value, and does not rejoin', { timeout: 30_000 }, async () => {
  const owner = await client(server.wsURL);
  const roomId = await owner.createRoom();
  const { WebSocket: RecordingWebSocket, frames } = frameRecorder();
  const viewer = await client(proxy.wsURL, { WebSocket: RecordingWebSocket });
  const calls = recordCalls(viewer, 'laser', 'slide', 'end');
  const events = { joined: 0, reconnecting: 0, recovered: 0, skipped: [] };
  viewer.addEventListener('joined', () => events.joined++);
  viewer.addEventListener('reconnecting', () => events.reconnecting++);
  viewer.addEventListener('recovered', () => events.recovered++);
  viewer.addEventListener('skipped', ({ detail }) => events.skipped.push(detail));
  await viewer.joinRoom(roomId);

  // The viewer's network stalls while the presenter moves its laser: 2 MB of positions, far more
  // than the buffers between the server and the viewer hold.
  proxy.pause('both');
  const lasers = 2000;
  const look = 'x'.repeat(1000);
  for (let i = 0; i < lasers; i++) {
    owner.broadcast({ funcKey: 'laser', conflate: true }, i, look);
    if (i === lasers / 2) owner.broadcast('slide', 2); // plain: never skipped
  }
  owner.broadcast('end');
  await new Promise((resolve) => setTimeout(resolve, 1000)); // the server takes them all in
  proxy.resume();

  await until(() => calls.get('end').length === 1, { timeout: 20_000, what: 'the end of the stream' });
  assert.deepEqual(calls.get('slide'), [['2']], 'the plain broadcast in the middle arrived');
  const got = calls.get('laser').map(([i]) => Number(i));
  assert.equal(got.at(-1), lasers - 1, 'the last laser position arrived');
  assert.ok(got.every((i, n) => n === 0 || i > got[n - 1]), 'laser positions in order');
  assert.ok(events.skipped.length > 0, 'skip markers arrived');
  const skippedSeqs = events.skipped.reduce((sum, { from, to }) => sum + to - from + 1, 0);
  assert.equal(got.length + skippedSeqs, lasers, 'each laser position arrived or was skipped');
  assert.ok(events.skipped.every(({ roomId: id }) => id === roomId));

  // Every seq once: as a message, or in a marker's range.
  let last = null;
  for (const frame of frames) {
    if (typeof frame.seq !== 'number') continue;
    if (last !== null) {
      const first = typeof frame.skippedFrom === 'number' ? frame.skippedFrom : frame.seq;
      assert.equal(first, last + 1, `after seq ${last}: ${JSON.stringify(frame).slice(0, 200)}`);
    }
    last = frame.seq;
  }
  assert.deepEqual({ joined: events.joined, reconnecting: events.reconnecting, recovered: events.recovered }, { joined: 1, reconnecting: 0, recovered: 0 }, 'no rejoin');

  // A drop now recovers from the last seq, skipped ones included: nothing is replayed.
  const recovered = nextEvent(viewer, 'recovered', 10_000);
  proxy.cut();
  assert.deepEqual(await recovered, { roomId, recovered: true });
  owner.broadcast('end');
  await until(() => calls.get('end').length === 2, { what: 'live traffic after the rejoin' });
  assert.equal(calls.get('laser').length, got.length, 'the rejoin replayed no laser position');
});

test('a skip marker moves the recovery point: a rejoin after it asks to recover from its seq', async () => {
  // A server of the test's own, speaking the raw protocol: the marker is the last frame before a drop.
  const { WebSocketServer } = await import('ws');
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((resolve) => wss.once('listening', resolve));
  const roomId = '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b';
  const joins = [];
  wss.on('connection', (socket) => {
    socket.on('message', (data) => {
      const request = JSON.parse(data);
      if (request.status?.value !== 2) return;
      joins.push(request);
      const reply = { uuid: roomId, status: { value: 3, text: 'connected' }, funcKey: '', funcParams: [], stateMessage: false, id: request.id };
      if (joins.length === 1) {
        socket.send(JSON.stringify({ ...reply, seq: 5 }));
        socket.send(JSON.stringify({ uuid: roomId, status: { value: 3, text: 'connected' }, funcKey: 'laser', funcParams: ['1'], stateMessage: false, conflate: true, seq: 6 }));
        socket.send(JSON.stringify({ uuid: roomId, status: { value: 3, text: 'connected' }, funcKey: '', funcParams: [], stateMessage: false, skippedFrom: 7, seq: 9 }));
      } else {
        socket.send(JSON.stringify({ ...reply, recovered: true, seq: request.seq }));
      }
    });
  });
  const viewer = await client(`ws://127.0.0.1:${wss.address().port}/broadcast`);
  const calls = recordCalls(viewer, 'laser');
  const skipped = nextEvent(viewer, 'skipped');
  await viewer.joinRoom(roomId);
  assert.deepEqual(await skipped, { roomId, from: 7, to: 9 });
  assert.deepEqual(calls.get('laser'), [['1']]);
  assert.equal(joins.length, 1, 'the marker made no rejoin');

  const recovered = nextEvent(viewer, 'recovered');
  for (const socket of wss.clients) socket.terminate(); // the connection drops
  assert.deepEqual(await recovered, { roomId, recovered: true });
  assert.equal(joins.length, 2);
  assert.equal(joins[1].seq, 9, 'the rejoin recovers from the marker\'s seq');
  viewer.disconnect();
  await new Promise((resolve) => wss.close(resolve));
});
