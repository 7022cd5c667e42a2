// The drop-in RTBroadcaster class, used as pages written for the original SDK use it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { RTBroadcaster } from '../rtbroadcaster.mjs';
import { startServer } from './helpers/server.mjs';
import { until } from './helpers/wait.mjs';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let server;
const pages = [];

before(async () => {
  server = await startServer();
});

after(async () => {
  for (const page of pages) page.broadcaster?.disconnect();
  await server.stop();
});

/**
 * A page using the original constructor (`url` and `WebSocketClass` stand for where the page is
 * served from). `search` stands for location.search: the only extra,
 * together with the injected WebSocket, is the sixth argument a browser page never needs.
 */
function openPage(search = '', { url = server.wsURL, WebSocketClass = WebSocket } = {}) {
  const page = { connections: [], opens: 0, closes: 0, errors: [] };
  page.client = new RTBroadcaster(
    url,
    (uuid) => page.connections.push(uuid),
    () => page.opens++,
    () => page.closes++,
    (message) => page.errors.push(message),
    { WebSocket: WebSocketClass, search, reconnect: { initialDelay: 20, maxDelay: 200 } },
  );
  pages.push(page.client);
  return page;
}

async function ownerPage() {
  const owner = openPage();
  await until(() => owner.client.connected, { what: 'the room to be created' });
  return owner;
}

test('without uuid in the URL the page owns a new room', async () => {
  const owner = openPage('?lang=en');
  assert.equal(owner.client.isOwner, true);
  assert.equal(owner.client.connected, false);
  await until(() => owner.connections.length === 1, { what: 'onConnectionCallback' });
  assert.match(owner.connections[0], UUID);
  assert.equal(owner.client.uuid, owner.connections[0]);
  assert.equal(owner.client.connected, true);
  assert.equal(owner.opens, 1);
});

test('with ?uuid= the page views that room; other parameters are not part of the id', async () => {
  const owner = await ownerPage();
  const viewer = openPage(`?uuid=${owner.client.uuid}&lang=en`);
  assert.equal(viewer.client.isOwner, false);
  assert.equal(viewer.client.uuid, owner.client.uuid);
  await until(() => viewer.client.connected, { what: 'the viewer to join' });
  assert.deepEqual(viewer.connections, [owner.client.uuid]);
});

test('suscribeFunc handlers get the params array; state actions reach late viewers', async () => {
  const owner = await ownerPage();
  const early = openPage(`?uuid=${owner.client.uuid}`);
  const colors = { early: [], late: [] };
  early.client.suscribeFunc('setColor', (params) => colors.early.push(params));
  await until(() => early.client.connected);

  assert.equal(owner.client.sendAction('setColor', ['red', 2], true), true);
  await until(() => colors.early.length === 1, { what: 'the action' });
  assert.deepEqual(colors.early, [['red', '2']]);

  const late = openPage(`?uuid=${owner.client.uuid}`);
  late.client.suscribeFunc('setColor', (params) => colors.late.push(params));
  await until(() => colors.late.length === 1, { what: 'the replay' });
  assert.deepEqual(colors.late, [['red', '2']]);
});

test('an unknown funcKey is ignored; unsuscribeFunc stops the calls; suscribeFunc replaces', async () => {
  const owner = await ownerPage();
  const viewer = openPage(`?uuid=${owner.client.uuid}`);
  const seen = [];
  viewer.client.suscribeFunc('tick', () => seen.push('old'));
  viewer.client.suscribeFunc('tick', (params) => seen.push(params[0]));
  viewer.client.suscribeFunc('stop', () => seen.push('stop'));
  await until(() => viewer.client.connected);

  owner.client.sendAction('nobody-listens', ['x']);
  owner.client.sendAction('tick', ['1']);
  await until(() => seen.length === 1);
  viewer.client.unsuscribeFunc('tick');
  assert.equal(viewer.client.suscribedFuncs.has('tick'), false);
  owner.client.sendAction('tick', ['2']);
  owner.client.sendAction('stop', []);
  await until(() => seen.includes('stop'));
  assert.deepEqual(seen, ['1', 'stop']);
  assert.deepEqual(viewer.errors, []);
});

test('sendAction returns false when it cannot send: viewer, or not connected yet', async () => {
  const owner = openPage();
  assert.equal(owner.client.sendAction('early', []), false);
  assert.equal(owner.client.sendMessage('{}'), false);
  await until(() => owner.client.connected);
  const viewer = openPage(`?uuid=${owner.client.uuid}`);
  await until(() => viewer.client.connected);
  assert.equal(viewer.client.sendAction('setColor', ['red']), false);
});

test("sendMessage sends a raw message, such as the original README's example with its comments", async () => {
  const owner = await ownerPage();
  const viewer = openPage(`?uuid=${owner.client.uuid}`);
  const seen = [];
  viewer.client.suscribeFunc('myKey', (params) => seen.push(params));
  await until(() => viewer.client.connected);
  const raw = `{
    "uuid": "${owner.client.uuid}",
    "status": { "value": 3, "text": "connected" }, // broadcast
    "funcKey": "myKey",
    "funcParams": ["param1", "param2", "param3"],
    "stateMessage": false
  }`;
  assert.equal(owner.client.sendMessage(raw), true);
  await until(() => seen.length === 1);
  assert.deepEqual(seen, [['param1', 'param2', 'param3']]);
});

test('when the room closes, viewers are disconnected and their closeCallback runs', async () => {
  const owner = await ownerPage();
  const viewer = openPage(`?uuid=${owner.client.uuid}`);
  await until(() => viewer.client.connected);
  await owner.client.broadcaster.closeRoom();
  await until(() => viewer.closes === 1, { what: 'closeCallback' });
  assert.equal(viewer.client.connected, false);
  assert.equal(owner.client.connected, false);
});

test('errorCallback gets a message: a room that does not exist, no WebSocket support', async () => {
  const lost = openPage('?uuid=00000000-0000-4000-8000-000000000000');
  await until(() => lost.errors.length === 1, { what: 'errorCallback' });
  assert.equal(typeof lost.errors[0], 'string');
  assert.match(lost.errors[0], /00000000-0000-4000-8000-000000000000/);
  assert.equal(lost.client.connected, false);

  const errors = [];
  const saved = globalThis.WebSocket;
  globalThis.WebSocket = undefined; // a browser without WebSocket support
  try {
    const page = new RTBroadcaster(server.wsURL, null, null, null, (message) => errors.push(message), { search: '' });
    assert.equal(page.broadcaster, null);
    assert.equal(page.sendAction('x', []), false);
  } finally {
    globalThis.WebSocket = saved;
  }
  assert.equal(errors.length, 1);
  assert.match(errors[0], /WebSocket/);
});

test('a page on an origin the server refuses: errorCallback says so, closeCallback runs, no openCallback, no retry', async (t) => {
  const strict = await startServer(['-allowed-origins', 'https://allowed.example']);
  t.after(() => strict.stop());
  class ElsewhereWebSocket extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols, { origin: 'https://elsewhere.example' });
    }
  }
  const page = openPage('', { url: strict.wsURL, WebSocketClass: ElsewhereWebSocket });
  await until(() => page.closes === 1, { what: 'closeCallback' });
  assert.deepEqual(page.errors, ['rtbroadcaster: the server refused the connection: origin not allowed']);
  assert.equal(page.opens, 0);
  assert.equal(page.client.connected, false);
});
