// A viewer over Server-Sent Events (transport "sse" and "auto") against the real server, in Node
// with a small EventSource (test/helpers/eventsource.mjs); Chromium's own is in browser.test.mjs.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { Broadcaster, connect } from '../rtbroadcaster.mjs';
import { EventSource } from './helpers/eventsource.mjs';
import { startProxy } from './helpers/proxy.mjs';
import { startServer } from './helpers/server.mjs';
import { nextEvent, recordCalls, until } from './helpers/wait.mjs';

const FAST_RECONNECT = { initialDelay: 20, maxDelay: 200 };
let server, proxy;
const clients = [];

async function client(url, options = {}) {
  const broadcaster = await connect(url, { WebSocket, EventSource, reconnect: FAST_RECONNECT, ...options });
  clients.push(broadcaster);
  return broadcaster;
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

test('an SSE viewer gets the replay and live actions, recovers after a drop, and sees the end', async () => {
  const owner = await client(server.wsURL);
  const roomId = await owner.createRoom();
  owner.setState('slide', 1);
  owner.setState({ funcKey: 'draw', stateKey: 'stroke-1' }, 'red');

  const viewer = await client(proxy.wsURL, { transport: 'sse' });
  assert.equal(viewer.transport, 'sse');
  const calls = recordCalls(viewer, 'slide', 'draw', 'n');
  const replayed = nextEvent(viewer, 'replaydone');
  assert.deepEqual(await viewer.joinRoom(roomId), { roomId, stateCount: 2 });
  assert.equal((await replayed).count, 2);
  assert.deepEqual(calls.get('slide'), [['1']]);
  assert.deepEqual(calls.get('draw'), [['red']]);
  await until(() => owner.viewers === 1, { what: 'the owner to count the SSE viewer' });

  for (let i = 0; i < 5; i++) owner.broadcast('n', i);
  await until(() => calls.get('n').length === 5, { what: 'five live actions' });

  // A drop: the SDK reconnects itself, from the last event it applied.
  proxy.refuse(true);
  const reconnecting = nextEvent(viewer, 'reconnecting');
  proxy.cut();
  await reconnecting;
  for (let i = 5; i < 10; i++) owner.broadcast('n', i);
  const recovered = nextEvent(viewer, 'recovered');
  proxy.refuse(false);
  assert.deepEqual(await recovered, { roomId, recovered: true });
  await until(() => calls.get('n').length === 10, { what: 'the missed actions' });
  assert.deepEqual(calls.get('n').map(([i]) => Number(i)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(calls.get('slide'), [['1']], 'a recovery replays nothing');
  const rejoin = EventSource.opened.at(-1).url;
  assert.match(rejoin, /\/rooms\/[0-9a-f-]{36}\/events\?lastEventId=7$/);

  const ended = nextEvent(viewer, 'roomclosed');
  const closed = nextEvent(viewer, 'closed');
  await owner.closeRoom();
  assert.deepEqual(await ended, { roomId, reason: 'closed' });
  assert.equal((await closed).code, 1000);
});

test('an SSE viewer cannot create a room, and a join of no room is refused with room_not_found', async () => {
  const viewer = await client(server.wsURL, { transport: 'sse' });
  await assert.rejects(viewer.createRoom(), { code: 'unsupported' });
  await assert.rejects(viewer.joinRoom('0b8e4f3a-7c1d-4e2b-9a6f-5d3c2b1a0f9e'), { code: 'room_not_found' });
  // The connection is still usable, as a WebSocket that got a refusal.
  const owner = await client(server.wsURL);
  const roomId = await owner.createRoom();
  assert.deepEqual(await viewer.joinRoom(roomId), { roomId, stateCount: 0 });
  await assert.rejects(viewer.joinRoom(roomId), { code: 'already_in_room' });
});

test('transport "auto" falls back to Server-Sent Events when the WebSocket upgrade fails', async () => {
  const owner = await client(server.wsURL);
  const roomId = await owner.createRoom();
  // No WebSocket endpoint at this path: the upgrade fails (404); the events are at the origin.
  const viewer = new Broadcaster(server.httpURL + 'no-websocket-here', { WebSocket, EventSource, transport: 'auto', reconnect: FAST_RECONNECT });
  clients.push(viewer);
  const switched = nextEvent(viewer, 'transport');
  await viewer.ready();
  assert.deepEqual(await switched, { transport: 'sse' });
  assert.equal(viewer.transport, 'sse');
  const calls = recordCalls(viewer, 'hello');
  await viewer.joinRoom(roomId);
  owner.broadcast('hello', 'world');
  await until(() => calls.get('hello').length === 1, { what: 'the action over SSE' });
});

test('transport "auto" stays on WebSocket where the upgrade works', async () => {
  const viewer = await client(server.wsURL, { transport: 'auto' });
  assert.equal(viewer.transport, 'websocket');
});

test('an unknown transport is a TypeError', () => {
  assert.throws(() => new Broadcaster(server.wsURL, { WebSocket, transport: 'carrier-pigeon' }), TypeError);
});

/** An HS256 JWT with rtbroadcaster's claims, as auth.test.mjs signs them. */
function signToken(claims, secret) {
  const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ ...claims, exp: Math.floor(Date.now() / 1000) + 3600 })}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

test('tokens: an SSE viewer sends its token in ?token=, asks its provider again on a reconnect, and stops on unauthorized', async (t) => {
  const secret = 'a test secret of thirty-two bytes';
  const authServer = await startServer(['-jwt-secret', secret]);
  const authProxy = await startProxy(authServer.port);
  t.after(async () => {
    await authProxy.close();
    await authServer.stop();
  });
  const owner = await client(authServer.wsURL, { token: signToken({ rtb_create: true }, secret) });
  const roomId = await owner.createRoom();

  let asked = 0;
  const viewer = await client(authProxy.wsURL, { transport: 'sse', token: () => (asked++, signToken({ rtb_rooms: roomId }, secret)) });
  const calls = recordCalls(viewer, 'hello');
  await viewer.joinRoom(roomId);
  assert.match(EventSource.opened.at(-1).url, /[?&]token=[\w-]+\.[\w-]+\.[\w-]+/);
  const recovered = nextEvent(viewer, 'recovered');
  authProxy.cut();
  await recovered;
  assert.equal(asked, 2, 'the provider is asked for each join, the rejoin included');
  owner.broadcast('hello', 'again');
  await until(() => calls.get('hello').length === 1, { what: 'an action after the rejoin' });

  const refused = new Broadcaster(authServer.wsURL, { WebSocket, EventSource, transport: 'sse', token: 'not-a-token', reconnect: FAST_RECONNECT });
  clients.push(refused);
  const closed = nextEvent(refused, 'closed');
  await assert.rejects(refused.joinRoom(roomId), { code: 'unauthorized' });
  assert.equal((await closed).code, 4401);
});
