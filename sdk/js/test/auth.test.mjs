// Token authentication against a server started with -jwt-secret: the token option, and a token
// provider that is asked again when a viewer reconnects after its first token expired.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { BroadcastError, connect } from '../rtbroadcaster.mjs';
import { startProxy } from './helpers/proxy.mjs';
import { startServer } from './helpers/server.mjs';
import { nextEvent, recordCalls, until } from './helpers/wait.mjs';

const SECRET = 'a test secret of thirty-two bytes';
const FAST_RECONNECT = { initialDelay: 20, maxDelay: 200 };

/** An HS256 JWT with rtbroadcaster's claims, expiring in `seconds`. */
function signToken(claims, seconds = 3600, secret = SECRET) {
  const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ ...claims, exp: Math.floor(Date.now() / 1000) + seconds })}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

let server, proxy;
const clients = [];

async function client(url, options) {
  const broadcaster = await connect(url, { WebSocket, reconnect: FAST_RECONNECT, ...options });
  clients.push(broadcaster);
  return broadcaster;
}

before(async () => {
  server = await startServer(['-jwt-secret', SECRET]);
  proxy = await startProxy(server.port);
});

after(async () => {
  for (const broadcaster of clients) broadcaster.disconnect();
  await proxy.close();
  await server.stop();
});

test('without a token a create is refused as unauthorized, and the client stops', async () => {
  const anonymous = await client(server.wsURL);
  const closed = nextEvent(anonymous, 'closed');
  await assert.rejects(anonymous.createRoom(), { name: 'BroadcastError', code: 'unauthorized' });
  assert.equal((await closed).code, 4401);
});

test('a token for another room is forbidden, and the connection stays open', async () => {
  const owner = await client(server.wsURL, { token: signToken({ rtb_create: true }) });
  const roomId = await owner.createRoom();
  const viewer = await client(server.wsURL, { token: signToken({ rtb_rooms: ['00000000-0000-4000-8000-000000000000'] }) });
  await assert.rejects(viewer.joinRoom(roomId), (error) => error instanceof BroadcastError && error.code === 'forbidden');
  assert.equal(viewer.isOpen, true);
});

test('a token provider is asked again when a viewer reconnects after its token expired', async () => {
  const owner = await client(server.wsURL, { token: () => signToken({ rtb_create: true }) });
  const roomId = await owner.createRoom();
  owner.setState('slide', 1);

  const issued = [];
  const provider = async () => {
    // The first token lives one second; later ones an hour.
    const token = signToken({ sub: 'viewer', rtb_rooms: roomId }, issued.length === 0 ? 1 : 3600);
    issued.push(token);
    return token;
  };
  const viewer = await client(proxy.wsURL, { token: provider });
  const calls = recordCalls(viewer, 'slide');
  await viewer.joinRoom(roomId);
  await until(() => calls.get('slide').length === 1, { what: 'the state replay' });

  await new Promise((resolve) => setTimeout(resolve, 2100)); // the first token expires
  proxy.cut();
  await nextEvent(viewer, 'joined', 10_000); // rejoined: nothing was missed, so nothing is replayed
  assert.equal(issued.length, 2, 'the provider was asked again');
  owner.broadcast('slide', 2);
  await until(() => calls.get('slide').length === 2, { what: 'live traffic after the rejoin' });

  // The expired token itself is refused.
  const stale = await client(server.wsURL, { token: issued[0], reconnect: { enabled: false } });
  await assert.rejects(stale.joinRoom(roomId), { code: 'unauthorized' });
});

