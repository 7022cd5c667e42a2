// The operators' dashboard at /admin in headless Chromium: it asks for the admin token, shows a
// room the test created with its viewer count and charts, marks a room of another node, and
// closes rooms. Skipped without Chromium
// or playwright-core, except under CI=true, like the other browser tests.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { connect } from '../rtbroadcaster.mjs';
import { artifactsDir, launchBrowser, loadPlaywright } from './helpers/browser.mjs';
import { startServer } from './helpers/server.mjs';
import { nextEvent } from './helpers/wait.mjs';

const { chromium, missing } = await loadPlaywright();
const ADMIN_TOKEN = 'dashboard test token';
const STEP_TIMEOUT = 15_000;

if (missing && process.env.CI === 'true') {
  test('admin browser tests can run in CI', () => assert.fail(`browser tests cannot run: ${missing}`));
} else if (missing) {
  console.log(`skipping the admin browser tests: ${missing}`);
  test('admin dashboard in a browser', { skip: missing }, () => {});
} else {
  describe('the admin dashboard in a browser', dashboardTests);
}

function dashboardTests() {
  let server, browser, page, owner, viewer, roomId;
  const pageErrors = [];

  before(async () => {
    server = await startServer(['-admin-token', ADMIN_TOKEN]);
    browser = await launchBrowser(chromium);
    owner = await connect(server.wsURL, { WebSocket });
    roomId = await owner.createRoom();
    viewer = await connect(server.wsURL, { WebSocket });
    await viewer.joinRoom(roomId);
  });

  after(async () => {
    owner?.disconnect();
    viewer?.disconnect();
    await browser?.close();
    await server?.stop();
  });

  test('the dashboard asks for the admin token and refuses a wrong one', async () => {
    page = await browser.context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(new URL('/admin', server.httpURL).href);
    await page.waitForSelector('body[data-state="locked"] #login:not([hidden])', { timeout: STEP_TIMEOUT });
    await page.fill('#token', 'not the token');
    await page.click('#login button[type="submit"]');
    await page.waitForFunction(() => /refused/.test(document.querySelector('#status').textContent), null, { timeout: STEP_TIMEOUT });
    assert.equal(await page.getAttribute('body', 'data-state'), 'locked');
  });

  test('with the token it shows the room, its viewer and live charts', async () => {
    await page.fill('#token', ADMIN_TOKEN);
    await page.click('#login button[type="submit"]');
    await page.waitForSelector('body[data-state="live"]', { timeout: STEP_TIMEOUT });
    const row = `tr[data-room="${roomId}"]`;
    await page.waitForSelector(`${row} td.viewers:text-is("1")`, { timeout: STEP_TIMEOUT });
    for (let i = 0; i < 20; i++) owner.broadcast('tick', i);
    await page.waitForFunction((selector) => Number(document.querySelector(`${selector} td.rate`)?.textContent) > 0, row, { timeout: STEP_TIMEOUT });
    assert.equal(await page.textContent('#connections'), '2');
    assert.equal(await page.textContent('#broker'), 'up');
    const inked = await page.evaluate(() => {
      const canvas = document.querySelector('#chart-people');
      const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
      let count = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) count++;
      return count;
    });
    assert.ok(inked > 0, 'the chart is drawn');
    const axis = await page.$$eval('#chart-people + .axis span', (spans) => spans.map((span) => span.textContent));
    assert.deepEqual(axis, ['2 min ago', '1 min ago', 'now']);
    assert.equal(await page.textContent('#rooms-title'), 'Rooms on this server');
    assert.equal(await page.textContent('#rooms-label'), 'rooms');
    await page.screenshot({ path: path.join(artifactsDir, '10-admin-dashboard.png') });
  });

  // One binary runs the in-memory engine, whose rooms all have a client on the node: a room of
  // another node is added to the API's real answer. The Go tests list one from a second node on
  // Redis; this checks how the page shows it, and that its Close reaches the server, which knows
  // no such room (404): the page takes it as closed already.
  test('a room of another node is marked as such, with its owner away, and closes', async () => {
    const otherId = randomUUID();
    const otherRoom = { id: otherId, here: false, viewers: 7, localViewers: 0, messages: 0, ownerHere: false, seq: 42, ownerAway: true };
    await page.route('**/admin/api/rooms', async (route) => {
      const response = await route.fetch();
      const snap = await response.json();
      // As a node of a cluster (on Redis) answers.
      await route.fulfill({ response, json: { ...snap, singleNode: false, rooms: [...snap.rooms, otherRoom], roomCount: snap.roomCount + 1 } });
    });
    const row = `tr.elsewhere[data-room="${otherId}"]`;
    await page.waitForSelector(`${row} td.id .tag:text-is("other node")`, { timeout: STEP_TIMEOUT });
    const cells = await page.$$eval(`${row} td`, (tds) => tds.slice(1, 7).map((td) => td.textContent));
    assert.deepEqual(cells, ['7', '–', '–', '42', '–', 'away']);
    assert.equal(await page.textContent('#rooms'), '2');
    assert.equal(await page.textContent('#rooms-title'), 'Rooms in the cluster');
    await page.screenshot({ path: path.join(artifactsDir, '11-admin-other-node.png') });

    const closed = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith(`/admin/api/rooms/${otherId}/close`), { timeout: STEP_TIMEOUT });
    page.once('dialog', (dialog) => dialog.accept());
    await page.click(`${row} button.close-room`);
    assert.equal((await closed).status(), 404);
    await page.unroute('**/admin/api/rooms');
    await page.waitForSelector(`tr[data-room="${otherId}"]`, { state: 'detached', timeout: STEP_TIMEOUT });
    assert.match(await page.textContent('#status'), /already closed|updated/);
    assert.equal(await page.getAttribute('body', 'data-state'), 'live');
  });

  test('on the single in-memory node, a room whose owner left is "no one connected", not "other node"', async () => {
    const left = new WebSocket(server.wsURL);
    const reply = new Promise((resolve) => left.once('message', (data) => resolve(JSON.parse(data))));
    await new Promise((resolve) => left.once('open', resolve));
    left.send(JSON.stringify({ uuid: '', status: { value: 1, text: 'new connection' }, funcKey: '', funcParams: [], stateMessage: false }));
    const leftId = (await reply).uuid;
    left.terminate(); // no close: the room waits out its owner's grace
    const row = `tr.elsewhere[data-room="${leftId}"]`;
    await page.waitForSelector(`${row} td.id .tag:text-is("no one connected")`, { timeout: STEP_TIMEOUT });
    assert.equal(await page.textContent(`${row} td.owner`), 'away');
    page.once('dialog', (dialog) => dialog.accept());
    await page.click(`${row} button.close-room`);
    await page.waitForSelector(row, { state: 'detached', timeout: STEP_TIMEOUT });
  });

  test('closing the room from the dashboard ends it for the viewer and tells the owner', async () => {
    const viewerClosed = nextEvent(viewer, 'roomclosed', STEP_TIMEOUT);
    const ownerClosed = nextEvent(owner, 'roomclosed', STEP_TIMEOUT);
    page.once('dialog', (dialog) => dialog.accept());
    await page.click(`tr[data-room="${roomId}"] button.close-room`);
    assert.deepEqual(await viewerClosed, { roomId, reason: 'closed', by: 'operator' });
    assert.deepEqual(await ownerClosed, { roomId, reason: 'closed', by: 'operator' });
    assert.equal(owner.isOpen, true, "the owner's connection stays open");
    await page.waitForSelector(`tr[data-room="${roomId}"]`, { state: 'detached', timeout: STEP_TIMEOUT });
    await page.waitForSelector('#no-rooms:not([hidden])', { timeout: STEP_TIMEOUT });
  });

  test('the dashboard had no script error', () => {
    assert.deepEqual(pageErrors, []);
  });
}
