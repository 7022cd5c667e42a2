// What the server serves: the SDK as an ES module and as a classic script, and the demo pages.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import vm from 'node:vm';
import WebSocket from 'ws';
import { startServer } from './helpers/server.mjs';
import { until } from './helpers/wait.mjs';

let server;

before(async () => {
  server = await startServer();
});

after(() => server.stop());

const get = (path, headers) => fetch(new URL(path, server.httpURL), { headers });

test('the ES module is the file in this package, as JavaScript, revalidated on every load', async () => {
  const response = await get('/sdk/rtbroadcaster.mjs');
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal(response.headers.get('cache-control'), 'no-cache');
  assert.equal(await response.text(), await readFile(new URL('../rtbroadcaster.mjs', import.meta.url), 'utf8'));

  const etag = response.headers.get('etag');
  assert.ok(etag);
  const revalidated = await get('/sdk/rtbroadcaster.mjs', { 'If-None-Match': etag });
  assert.equal(revalidated.status, 304);
});

test('the classic script defines RTBroadcaster and rtbroadcaster, and works', async () => {
  const response = await get('/sdk/rtbroadcaster.js');
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal(response.headers.get('cache-control'), 'no-cache');
  const script = await response.text();
  assert.doesNotMatch(script, /^export /m);

  // A fresh global scope, like a page's: only what a browser would offer.
  const page = vm.createContext({
    WebSocket, URL, URLSearchParams, EventTarget, CustomEvent, TextDecoder, setTimeout, clearTimeout, console,
    location: { search: '', href: server.httpURL },
  });
  vm.runInContext(script, page, { filename: 'rtbroadcaster.js' });
  assert.equal(typeof page.RTBroadcaster, 'function');
  assert.equal(typeof page.rtbroadcaster.Broadcaster, 'function');
  assert.equal(page.rtbroadcaster.RTBroadcaster, page.RTBroadcaster);
  assert.ok(Object.isFrozen(page.rtbroadcaster));

  let roomId = '';
  page.onConnection = (uuid) => (roomId = uuid);
  const legacy = vm.runInContext('new RTBroadcaster("/broadcasting", onConnection)', page);
  await until(() => roomId, { what: 'the classic script to create a room' });
  assert.equal(legacy.isOwner, true);
  legacy.broadcaster.disconnect();
});

test('unknown SDK paths are 404', async () => {
  assert.equal((await get('/sdk/nope.js')).status, 404);
  assert.equal((await get('/sdk/')).status, 404);
});

test('the demo is served at / and loads the SDK module from /sdk/', async () => {
  const index = await get('/');
  assert.equal(index.status, 200);
  assert.equal(index.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.equal(index.headers.get('cache-control'), 'no-cache');
  assert.equal((await get('/', { 'If-None-Match': index.headers.get('etag') })).status, 304);

  const app = await get('/app.js');
  assert.equal(app.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.match(await app.text(), /from '\/sdk\/rtbroadcaster\.mjs'/);
  assert.match(await (await get('/legacy.html')).text(), /<script src="\/sdk\/rtbroadcaster\.js">/);
});
