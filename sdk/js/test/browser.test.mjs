// End to end in headless Chromium: the demo at / with a presenter and viewers, a late joiner, a
// dropped connection, the end of the session, a presenter that drops or reloads its page; a viewer
// that follows over Server-Sent Events; and a page written for the original SDK.
// Without Chromium or playwright-core these tests are skipped with the reason, except when
// CI=true: there they fail, so that CI never passes without having run them.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { artifactsDir, launchBrowser, loadPlaywright } from './helpers/browser.mjs';
import { startProxy } from './helpers/proxy.mjs';
import { startServer } from './helpers/server.mjs';

const { chromium, missing } = await loadPlaywright();
const PHONE = { width: 390, height: 844 };
const ADMIN_TOKEN = 'browser test admin token'; // read as the describe blocks are declared

if (missing && process.env.CI === 'true') {
  test('browser tests can run in CI', () => assert.fail(`browser tests cannot run: ${missing}`));
} else if (missing) {
  console.log(`skipping the browser tests: ${missing}`);
  test('browser tests', { skip: missing }, () => {});
} else {
  describe('the demo in a browser', demoTests);
  describe('a presenter whose connection drops', presenterReconnectTests);
  describe('a presenter page that is reloaded', presenterReloadTests);
  describe('a page written for the original SDK', legacyTests);
  describe('a page on an origin the server refuses', refusedOriginTests);
  describe('the demo on a phone', phoneTests);
  describe('a viewer over Server-Sent Events', sseViewerTests);
  describe('a viewer behind a proxy that breaks WebSocket, with transport "auto"', autoTransportTests);
}

const STEP_TIMEOUT = 15_000;

/** Opens a page that records its script errors, which the tests expect to stay empty. */
async function openPage(browser, url, pageErrors) {
  const page = await browser.context.newPage();
  page.on('pageerror', (error) => pageErrors.push(`${url}: ${error.message}`));
  await page.goto(url);
  return page;
}

const screenshot = (page, name) => page.screenshot({ path: path.join(artifactsDir, `${name}.png`) });

const waitForStatus = (page, status) =>
  page.waitForSelector(`body[data-status="${status}"]`, { timeout: STEP_TIMEOUT });

/** Waits until the page's stage shows `slide` with `strokes` strokes on it. */
const waitForStage = (page, { slide, strokes }) =>
  page.waitForSelector(`#stage[data-slide="${slide}"][data-strokes="${strokes}"]`, { timeout: STEP_TIMEOUT });

/** Draws a zigzag on the presenter's slide, between fractions of its width and height. */
async function draw(page, from, to) {
  await page.bringToFront(); // a background tab gets few frames, and each mouse move waits for one
  const box = await page.locator('#stage canvas').boundingBox();
  const at = ([x, y]) => [box.x + x * box.width, box.y + y * box.height];
  await page.mouse.move(...at(from));
  await page.mouse.down();
  for (let i = 1; i <= 12; i++) {
    const t = i / 12;
    const wobble = i % 2 ? 0.03 : -0.03;
    await page.mouse.move(...at([from[0] + (to[0] - from[0]) * t, from[1] + (to[1] - from[1]) * t + wobble]));
  }
  await page.mouse.up();
}

/** How many pixels of the page's drawing layer have ink on them, once the page has painted. */
const inkedPixels = async (page) => {
  await page.bringToFront();
  return page.evaluate(async () => {
    await new Promise(requestAnimationFrame);
    const canvas = document.querySelector('#stage canvas');
    const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
    let count = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) count++;
    return count;
  });
};

/**
 * Starts a server, a proxy in front of it if `proxy`, and a browser before the tests of the
 * describe block that calls it, and stops them after those tests; the returned object holds them.
 */
function serverAndBrowser({ proxy = false, flags = [] } = {}) {
  const setup = {};
  before(async () => {
    setup.server = await startServer(flags);
    if (proxy) setup.proxy = await startProxy(setup.server.port);
    setup.browser = await launchBrowser(chromium);
  });
  after(async () => {
    await setup.browser?.close();
    await setup.proxy?.close();
    await setup.server?.stop();
  });
  return setup;
}

function demoTests() {
  const setup = serverAndBrowser({ proxy: true });
  let presenter, shareLink;
  const viewers = {};
  const pageErrors = [];

  const presenterSent = []; // the frames the presenter's page sends, parsed
  test('the presenter starts a session and gets a share link', async () => {
    presenter = await openPage(setup.browser, setup.server.httpURL, pageErrors);
    presenter.on('websocket', (ws) => ws.on('framesent', ({ payload }) => {
      try {
        presenterSent.push(JSON.parse(payload));
      } catch {
        // not JSON: nothing the test looks for
      }
    }));
    await presenter.click('#start');
    await waitForStatus(presenter, 'live');
    shareLink = await presenter.inputValue('#share-link');
    assert.match(shareLink, /\?room=[0-9a-f-]{36}$/);
    await screenshot(presenter, '01-presenter-started');
  });

  test('two viewers follow, one of them through a connection the test can cut', async () => {
    viewers.direct = await openPage(setup.browser, shareLink, pageErrors);
    // The same link through the proxy: the page and its WebSocket both go through it.
    viewers.proxied = await openPage(setup.browser, new URL(new URL(shareLink).search, setup.proxy.httpURL).href, pageErrors);
    for (const page of Object.values(viewers)) await waitForStatus(page, 'live');
    await presenter.waitForSelector('#viewer-count[data-count="2"]', { timeout: STEP_TIMEOUT });
    assert.equal(await presenter.textContent('#viewer-count'), '2 viewers');
  });

  test('the presenter changes slides and draws; the viewers follow', async () => {
    await presenter.click('#next');
    await presenter.keyboard.press('ArrowRight');
    await draw(presenter, [0.2, 0.6], [0.8, 0.6]);
    await presenter.click('.color[data-color="#0064d2"]');
    await draw(presenter, [0.2, 0.8], [0.7, 0.75]);
    await waitForStage(presenter, { slide: 2, strokes: 2 });
    for (const page of Object.values(viewers)) await waitForStage(page, { slide: 2, strokes: 2 });
    assert.ok((await inkedPixels(viewers.direct)) > 500, 'the viewer shows the ink');

    await presenter.click('#tool-laser');
    await presenter.bringToFront();
    const box = await presenter.locator('#stage canvas').boundingBox();
    await presenter.mouse.move(box.x + box.width / 2, box.y + box.height / 3);
    await presenter.mouse.move(box.x + box.width / 2 + 5, box.y + box.height / 3);
    await viewers.direct.waitForSelector('.laser:not([hidden])', { timeout: STEP_TIMEOUT });
    // The laser is a conflated stream: a viewer that falls behind gets its latest position.
    const laser = presenterSent.find((m) => m.funcKey === 'laser');
    assert.ok(laser, 'the presenter sent laser positions');
    assert.equal(laser.conflate, true, 'the laser is conflated');
    assert.equal(laser.stateKey, 'laser');
    assert.equal(laser.stateMessage, false, 'and not kept');
    await screenshot(presenter, '02-presenter-drawing');
    await screenshot(viewers.direct, '03-viewer-following');
  });

  test('a viewer who joins late sees the current slide and drawing at once', async () => {
    viewers.late = await openPage(setup.browser, shareLink, pageErrors);
    await waitForStatus(viewers.late, 'live');
    await waitForStage(viewers.late, { slide: 2, strokes: 2 });
    assert.ok((await inkedPixels(viewers.late)) > 500);
    await presenter.waitForSelector('#viewer-count[data-count="3"]', { timeout: STEP_TIMEOUT });
    await screenshot(viewers.late, '04-late-viewer');
  });

  test('a viewer whose connection drops reconnects and catches up', async () => {
    setup.proxy.refuse(true);
    setup.proxy.cut();
    await waitForStatus(viewers.proxied, 'reconnecting');
    await screenshot(viewers.proxied, '05-viewer-reconnecting');

    // What happens while it is away reaches it through the state replay.
    await presenter.click('#tool-pen');
    await presenter.click('#next');
    await draw(presenter, [0.3, 0.5], [0.6, 0.9]);
    await waitForStage(viewers.direct, { slide: 3, strokes: 1 });
    assert.equal(await viewers.proxied.getAttribute('#stage', 'data-slide'), '2');

    setup.proxy.refuse(false);
    await waitForStage(viewers.proxied, { slide: 3, strokes: 1 });
    await waitForStatus(viewers.proxied, 'live');
    await screenshot(viewers.proxied, '06-viewer-caught-up');

    // And live traffic flows again.
    await presenter.click('#prev');
    await waitForStage(viewers.proxied, { slide: 2, strokes: 2 });
  });

  test('the presenter clears a slide: viewers now and later see it clear', async () => {
    await presenter.click('#clear');
    await waitForStage(presenter, { slide: 2, strokes: 0 });
    for (const page of Object.values(viewers)) await waitForStage(page, { slide: 2, strokes: 0 });
    const later = await openPage(setup.browser, shareLink, pageErrors);
    await waitForStatus(later, 'live');
    await waitForStage(later, { slide: 2, strokes: 0 });
    assert.equal(await inkedPixels(later), 0);
    await later.close();
  });

  test('the presenter ends the session, confirming it, and every viewer shows it', async () => {
    await presenter.click('#end-session');
    await presenter.click('#end-confirm-yes');
    await waitForStatus(presenter, 'ended');
    for (const page of Object.values(viewers)) {
      await waitForStatus(page, 'ended');
      assert.equal(await page.isVisible('#ended'), true);
      assert.match(await page.textContent('#ended-detail'), /presenter ended/);
    }
    await screenshot(presenter, '07-presenter-ended');
    await screenshot(viewers.direct, '08-viewer-ended');
  });

  test('a link to an ended session says so', async () => {
    const stale = await openPage(setup.browser, shareLink, pageErrors);
    await waitForStatus(stale, 'ended');
    assert.match(await stale.textContent('#ended-detail'), /no session at this link/);
  });

  test('no page had a script error', () => {
    assert.deepEqual(pageErrors, []);
  });
}

/** Records every data-status the page's body takes from now on, in window.statusHistory. */
const recordStatuses = (page) =>
  page.evaluate(() => {
    window.statusHistory = [document.body.dataset.status];
    new MutationObserver(() => window.statusHistory.push(document.body.dataset.status)).observe(document.body, {
      attributes: true,
      attributeFilter: ['data-status'],
    });
  });

function presenterReconnectTests() {
  const setup = serverAndBrowser({ proxy: true });
  let presenter, viewer;
  const pageErrors = [];

  test('the presenter, through a connection the test can cut, starts a session; a viewer follows', async () => {
    presenter = await openPage(setup.browser, setup.proxy.httpURL, pageErrors);
    await presenter.click('#start');
    await waitForStatus(presenter, 'live');
    const shareLink = new URL(new URL(await presenter.inputValue('#share-link')).search, setup.server.httpURL).href;
    viewer = await openPage(setup.browser, shareLink, pageErrors);
    await waitForStatus(viewer, 'live');
    await presenter.click('#next');
    await draw(presenter, [0.2, 0.6], [0.8, 0.6]);
    await waitForStage(viewer, { slide: 1, strokes: 1 });
  });

  test('the presenter comes back; the viewer only saw the "presenter reconnecting" hint', async () => {
    await recordStatuses(viewer);
    setup.proxy.refuse(true);
    setup.proxy.cut();
    await waitForStatus(presenter, 'reconnecting');
    await waitForStatus(viewer, 'presenter-away');
    await screenshot(viewer, '11-viewer-presenter-away');

    setup.proxy.refuse(false);
    await waitForStatus(presenter, 'live');
    await waitForStatus(viewer, 'live');
    await presenter.click('#next');
    await draw(presenter, [0.3, 0.5], [0.6, 0.9]);
    await waitForStage(viewer, { slide: 2, strokes: 1 });
    await screenshot(viewer, '12-viewer-presenter-back');
    const statuses = await viewer.evaluate(() => window.statusHistory);
    assert.deepEqual([...new Set(statuses)], ['live', 'presenter-away'], `viewer statuses ${statuses}`);
    assert.deepEqual(pageErrors, []);
  });
}

function presenterReloadTests() {
  const setup = serverAndBrowser();
  let presenter, viewer, roomId;
  const pageErrors = [];
  const timeout = 60_000; // per test: every wait in it is bounded by STEP_TIMEOUT too

  /** What shows that the viewer page kept its connection and room: one join, the same room. */
  const viewerSession = async () => ({
    joins: await viewer.getAttribute('body', 'data-joins'),
    room: await viewer.getAttribute('body', 'data-room'),
  });

  test('the presenter starts a session, goes to the third slide and draws; a viewer follows', { timeout }, async () => {
    presenter = await openPage(setup.browser, setup.server.httpURL, pageErrors);
    await presenter.click('#start');
    await waitForStatus(presenter, 'live');
    roomId = await presenter.getAttribute('body', 'data-room');
    viewer = await openPage(setup.browser, await presenter.inputValue('#share-link'), pageErrors);
    await waitForStatus(viewer, 'live');
    await presenter.click('#next');
    await presenter.click('#next');
    await draw(presenter, [0.2, 0.6], [0.8, 0.6]);
    await waitForStage(viewer, { slide: 2, strokes: 1 });
    assert.deepEqual(await viewerSession(), { joins: '1', room: roomId });
  });

  test('the reloaded presenter page shows the same room, slide and ink; the viewer only saw the hint', { timeout }, async () => {
    await recordStatuses(viewer);
    await presenter.reload();
    await waitForStatus(presenter, 'live');
    assert.equal(await presenter.getAttribute('body', 'data-room'), roomId);
    assert.ok((await presenter.inputValue('#share-link')).endsWith(`?room=${roomId}`));
    await waitForStage(presenter, { slide: 2, strokes: 1 });
    assert.match(await presenter.textContent('#slide-number'), /^3 \//);
    assert.ok((await inkedPixels(presenter)) > 500, 'the presenter shows its ink again');
    await screenshot(presenter, '13-presenter-reloaded');

    await viewer.waitForFunction(() => window.statusHistory.includes('presenter-away') && document.body.dataset.status === 'live', null, {
      timeout: STEP_TIMEOUT,
    });
    const statuses = await viewer.evaluate(() => window.statusHistory);
    assert.deepEqual([...new Set(statuses)], ['live', 'presenter-away'], `viewer statuses ${statuses}`);
    assert.deepEqual(await viewerSession(), { joins: '1', room: roomId });
    await presenter.waitForSelector('#viewer-count[data-count="1"]', { timeout: STEP_TIMEOUT });
  });

  test('after the reload the presenter draws and changes slides: the viewer follows', { timeout }, async () => {
    // A new stroke number: reusing the first stroke's would replace it on every screen.
    await draw(presenter, [0.3, 0.5], [0.6, 0.9]);
    await waitForStage(viewer, { slide: 2, strokes: 2 });
    await presenter.click('#next');
    await waitForStage(viewer, { slide: 3, strokes: 0 });
    await screenshot(viewer, '14-viewer-after-presenter-reload');
    assert.deepEqual(await viewerSession(), { joins: '1', room: roomId });
    assert.deepEqual(pageErrors, []);
  });
}

function legacyTests() {
  const setup = serverAndBrowser();
  const pageErrors = [];

  test('owner and viewer pages work through the classic script', async () => {
    const owner = await openPage(setup.browser, new URL('/legacy.html', setup.server.httpURL).href, pageErrors);
    await owner.waitForSelector('body[data-connected="true"]', { timeout: STEP_TIMEOUT });
    const uuid = await owner.getAttribute('body', 'data-uuid');
    const viewerURL = new URL(await owner.getAttribute('#link', 'href'), setup.server.httpURL).href;
    assert.ok(viewerURL.endsWith(`?uuid=${uuid}&lang=en`));

    const viewer = await openPage(setup.browser, viewerURL, pageErrors);
    await viewer.waitForSelector(`body[data-connected="true"][data-uuid="${uuid}"]`, { timeout: STEP_TIMEOUT });
    await owner.click('button[data-color="#0064d2"]');
    await viewer.waitForSelector('#swatch[data-color="#0064d2"]', { timeout: STEP_TIMEOUT });
    await screenshot(viewer, '09-legacy-viewer');
    assert.deepEqual(pageErrors, []);
  });
}

/**
 * A browser shows a script no HTTP status of a failed handshake: the server's close code for a
 * refusal (4403) is what the SDK can read, here in Chromium, through both APIs.
 */
function refusedOriginTests() {
  const setup = serverAndBrowser();
  let strict;
  before(async () => {
    strict = await startServer(['-allowed-origins', 'https://allowed.example']);
  });
  after(() => strict?.stop());

  test('the modern SDK emits error origin_refused and closed 4403, and does not retry', async () => {
    const page = await openPage(setup.browser, setup.server.httpURL, []);
    const events = await page.evaluate(async (url) => {
      const { Broadcaster } = await import('/sdk/rtbroadcaster.mjs');
      const client = new Broadcaster(url, { reconnect: { initialDelay: 20, maxDelay: 100 } });
      const events = [];
      for (const type of ['open', 'error', 'reconnecting']) {
        client.addEventListener(type, ({ detail }) => events.push([type, detail?.error?.code ?? null]));
      }
      await new Promise((resolve) => client.addEventListener('closed', ({ detail }) => resolve(events.push(['closed', detail.code]))));
      return events;
    }, strict.wsURL);
    // The socket opens before the server closes it: what matters is that nothing is retried.
    assert.deepEqual(events.filter(([type]) => type !== 'open'), [['error', 'origin_refused'], ['closed', 4403]]);
  });

  test('a page on the original API gets errorCallback with the reason, then closeCallback', async () => {
    const page = await openPage(setup.browser, new URL('/legacy.html', setup.server.httpURL).href, []);
    const calls = await page.evaluate(
      (url) =>
        new Promise((resolve) => {
          const calls = [];
          new window.RTBroadcaster(
            url,
            () => calls.push('connection'),
            () => calls.push('open'),
            () => resolve([...calls, 'close']),
            (message) => calls.push(message),
          );
        }),
      strict.wsURL,
    );
    assert.deepEqual(calls, ['rtbroadcaster: the server refused the connection: origin not allowed', 'close']);
  });
}


/** At 390 px wide: the header fits, End session asks first, a viewer sees the slide number, an operator's close is named. */
function phoneTests() {
  const setup = serverAndBrowser({ flags: ['-admin-token', ADMIN_TOKEN] });
  let presenter, viewer;
  const pageErrors = [];

  const openPhone = async (url) => {
    const page = await openPage(setup.browser, url, pageErrors);
    await page.setViewportSize(PHONE);
    return page;
  };

  test('the presenter header fits the screen: End session in view, the share link on one line', async () => {
    presenter = await openPhone(setup.server.httpURL);
    await presenter.click('#start');
    await waitForStatus(presenter, 'live');
    const header = await presenter.locator('header.bar').boundingBox();
    const end = await presenter.locator('#end-session').boundingBox();
    const link = await presenter.locator('#share-link').boundingBox();
    const copy = await presenter.locator('#copy-link').boundingBox();
    await screenshot(presenter, '15-phone-presenter');
    assert.ok(end.x >= 0 && end.x + end.width <= PHONE.width, `End session spans x ${end.x}..${end.x + end.width}`);
    assert.ok(end.y + end.height <= header.y + header.height, 'End session is inside the header');
    assert.ok(header.height <= 120, `header ${header.height} px high`);
    assert.ok(Math.abs(link.y - copy.y) < link.height, 'the share link and its Copy button are on one line');
    assert.ok(link.width >= 80, `share link ${link.width} px wide`);
  });

  test('End session asks first; "Keep going" keeps the session live for the viewers', async () => {
    viewer = await openPhone(await presenter.inputValue('#share-link'));
    await waitForStatus(viewer, 'live');
    assert.equal(await viewer.textContent('#viewer-slide'), `Slide 1 / ${await slideCount(presenter)}`);

    await presenter.click('#end-session');
    assert.equal(await presenter.isVisible('#end-confirm-yes'), true);
    assert.equal(await presenter.isVisible('#end-session'), false);
    const confirm = await presenter.locator('#end-confirm').boundingBox();
    assert.ok(confirm.x + confirm.width <= PHONE.width, 'the confirmation is in view');
    await screenshot(presenter, '16-phone-confirm-end');
    await presenter.click('#end-confirm-no');
    assert.equal(await presenter.isVisible('#end-session'), true);

    // Still live: the viewer follows the next slide, and shows its number.
    await presenter.click('#next');
    await waitForStage(viewer, { slide: 1, strokes: 0 });
    assert.equal(await viewer.textContent('#viewer-slide'), `Slide 2 / ${await slideCount(presenter)}`);
    assert.equal(await presenter.getAttribute('body', 'data-status'), 'live');
  });

  test('the viewer can show the slide full screen', async () => {
    await viewer.click('#fullscreen');
    await viewer.waitForFunction(() => document.fullscreenElement?.id === 'stage', null, { timeout: STEP_TIMEOUT });
    // The button follows the fullscreenchange event, which may come after fullscreenElement is set.
    await viewer.waitForSelector('#fullscreen[aria-pressed="true"]', { timeout: STEP_TIMEOUT });
    await viewer.evaluate(() => document.exitFullscreen());
    await viewer.waitForSelector('#fullscreen[aria-pressed="false"]', { timeout: STEP_TIMEOUT });
  });

  test('a session an operator closes says so, to the presenter and the viewer', async () => {
    const roomId = await presenter.getAttribute('body', 'data-room');
    const response = await fetch(new URL(`/admin/api/rooms/${roomId}/close`, setup.server.httpURL), {
      method: 'POST',
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    assert.equal(response.status, 204);
    for (const page of [presenter, viewer]) {
      await waitForStatus(page, 'ended');
      assert.match(await page.textContent('#ended-detail'), /^An operator of this server closed/);
    }
    await screenshot(viewer, '17-phone-viewer-operator-closed');
    assert.deepEqual(pageErrors, []);
  });
}

/** The deck's slide count, as the presenter's slide number shows it ("2 / 5"). */
const slideCount = async (presenter) => Number((await presenter.textContent('#slide-number')).split('/')[1]);

function sseViewerTests() {
  const setup = serverAndBrowser({ proxy: true });
  let presenter, viewer;
  const pageErrors = [];
  const streams = []; // the URLs of the viewer's EventSource requests
  const websockets = [];

  test('a viewer with transport "sse" follows the presenter through an EventSource', async () => {
    presenter = await openPage(setup.browser, setup.server.httpURL, pageErrors);
    await presenter.click('#start');
    await waitForStatus(presenter, 'live');
    await presenter.click('#next');
    await draw(presenter, [0.2, 0.6], [0.8, 0.6]);
    await waitForStage(presenter, { slide: 1, strokes: 1 });

    // The share link through the proxy, with ?transport=sse: the page's SDK viewer uses it.
    const link = new URL(new URL(await presenter.inputValue('#share-link')).search, setup.proxy.httpURL);
    link.searchParams.set('transport', 'sse');
    viewer = await setup.browser.context.newPage();
    viewer.on('pageerror', (error) => pageErrors.push(`viewer: ${error.message}`));
    viewer.on('request', (request) => request.resourceType() === 'eventsource' && streams.push(request.url()));
    viewer.on('websocket', (ws) => websockets.push(ws.url()));
    await viewer.goto(link.href);
    await waitForStatus(viewer, 'live');
    await waitForStage(viewer, { slide: 1, strokes: 1 });
    assert.equal(await viewer.getAttribute('body', 'data-transport'), 'sse');
    assert.equal(streams.length, 1);
    assert.match(streams[0], /\/rooms\/[0-9a-f-]{36}\/events$/);
    assert.deepEqual(websockets, [], 'the viewer opened no WebSocket');
    await presenter.waitForSelector('#viewer-count[data-count="1"]', { timeout: STEP_TIMEOUT });

    await presenter.click('#next');
    await waitForStage(viewer, { slide: 2, strokes: 0 });
    await screenshot(viewer, '30-sse-viewer-following');
  });

  test('its connection drops: it reconnects from its last event and catches up', async () => {
    setup.proxy.refuse(true);
    setup.proxy.cut();
    await waitForStatus(viewer, 'reconnecting');
    await presenter.click('#prev');
    await draw(presenter, [0.2, 0.8], [0.7, 0.75]);
    await waitForStage(presenter, { slide: 1, strokes: 2 });
    assert.equal(await viewer.getAttribute('#stage', 'data-slide'), '2');

    setup.proxy.refuse(false);
    await waitForStage(viewer, { slide: 1, strokes: 2 });
    await waitForStatus(viewer, 'live');
    const rejoin = streams.at(-1);
    assert.match(rejoin, /[?&]lastEventId=\d+/, 'the reconnect names the last event it applied');
    assert.equal(await viewer.getAttribute('body', 'data-joins'), '2');

    await presenter.click('#next');
    await waitForStage(viewer, { slide: 2, strokes: 0 });
  });

  test('the presenter ends the session: the viewer shows it and stops', async () => {
    await presenter.click('#end-session');
    await presenter.click('#end-confirm-yes');
    await waitForStatus(viewer, 'ended');
    assert.match(await viewer.textContent('#ended-detail'), /presenter ended/);
    const opened = streams.length;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(streams.length, opened, 'the ended viewer opens no more streams');
    await screenshot(viewer, '31-sse-viewer-ended');
  });

  test('no page had a script error', () => {
    assert.deepEqual(pageErrors, []);
  });
}

function autoTransportTests() {
  const setup = serverAndBrowser({ proxy: true });
  const pageErrors = [];

  test('the WebSocket upgrade fails; the viewer goes on over Server-Sent Events and follows', async () => {
    const presenter = await openPage(setup.browser, setup.server.httpURL, pageErrors);
    await presenter.click('#start');
    await waitForStatus(presenter, 'live');
    await presenter.click('#next');
    await waitForStage(presenter, { slide: 1, strokes: 0 });

    setup.proxy.breakWebSockets(true);
    const link = new URL(new URL(await presenter.inputValue('#share-link')).search, setup.proxy.httpURL);
    link.searchParams.set('transport', 'auto');
    const viewer = await openPage(setup.browser, link.href, pageErrors);
    await waitForStatus(viewer, 'live');
    await waitForStage(viewer, { slide: 1, strokes: 0 });
    assert.equal(await viewer.getAttribute('body', 'data-transport'), 'sse');
    await presenter.click('#next');
    await waitForStage(viewer, { slide: 2, strokes: 0 });
  });

  test('no page had a script error', () => {
    assert.deepEqual(pageErrors, []);
  });
}
