// The demo's entry point. Without ?room= in the address the page offers to start a session (the
// presenter); with ?room=<id> it follows that session (a viewer). A presenter page that is
// reloaded takes its session back.
import { Broadcaster } from '/sdk/rtbroadcaster.mjs';
import { stageActions } from './actions.js';
import { deck } from './deck.js';
import { Presenter } from './presenter.js';
import { Stage } from './stage.js';

const ENDPOINT = '/broadcast';
/** sessionStorage key of {roomId, ownerKey}: the session this tab presents, kept across reloads. */
const PRESENTING = 'rtb-demo-presenting';

const $ = (selector) => document.querySelector(selector);
const stage = new Stage($('#stage'), deck);

const query = new URLSearchParams(location.search);
const roomId = query.get('room');
// ?transport=sse (or auto) makes a viewer follow over Server-Sent Events: see the SDK's README.
const transport = ['sse', 'auto'].includes(query.get('transport')) ? query.get('transport') : 'websocket';
const saved = roomId ? null : savedSession();
if (roomId) follow(roomId);
else if (saved) present(saved).catch((error) => setStatus('error', `Could not take the session back: ${error.message}`));
else offerToPresent();

/** body[data-status] is what styles and tests read; the text is for people. */
function setStatus(status, text) {
  document.body.dataset.status = status;
  $('#status').textContent = text;
}

function setRoom(id) {
  document.body.dataset.room = id;
}

function setRole(role) {
  document.body.dataset.role = role;
  $('#landing').hidden = true;
  $('#stage').hidden = false;
}

/**
 * The server refused the connection (PROTOCOL.md, Refused connections): say so, and whether the
 * page tries again, rather than spin on "connecting".
 */
function showRefusal(broadcaster) {
  broadcaster.addEventListener('error', ({ detail }) => {
    if (detail.error.retry === undefined) return; // not a refused connection
    if (detail.retryIn === undefined) setStatus('error', `The server refused this page: ${detail.error.message.replace(/^.*refused the connection: /, '')}.`);
    else setStatus('reconnecting', `The server is busy; trying again in ${Math.ceil(detail.retryIn / 1000)} s…`);
  });
}

function showEnded(detail) {
  setStatus('ended', 'Session ended');
  $('#ended-detail').textContent = detail;
  $('#ended').hidden = false;
  stage.hideLaser();
}

// ---- Presenter ----

function offerToPresent() {
  $('#landing').hidden = false;
  $('#start').addEventListener('click', () => present().catch((error) => setStatus('error', `Could not start: ${error.message}`)), { once: true });
}

/** Presents a new session, or takes back `saved` ({roomId, ownerKey}) after a reload. */
async function present(saved = null) {
  setRole('presenter');
  setStatus('connecting', saved ? 'Taking your session back…' : 'Starting a session…');
  const broadcaster = new Broadcaster(ENDPOINT);
  showRefusal(broadcaster);
  broadcaster.addEventListener('viewers', ({ detail }) => showViewerCount(detail.count));
  broadcaster.addEventListener('roomclosed', ({ detail }) => {
    // A dropped connection takes the room back when it reconnects in time; past the grace, the
    // session has ended for the viewers.
    forgetSession();
    showEnded(presenterEndText(detail));
    broadcaster.disconnect();
  });
  broadcaster.addEventListener('reconnecting', ({ detail }) => {
    if (document.body.dataset.status !== 'ended') setStatus('reconnecting', `Connection lost; reconnecting (try ${detail.attempt})…`);
  });
  const presenter = new Presenter(broadcaster, stage);
  const resumed = saved && (await resumeSession(broadcaster, saved));
  if (resumed) presenter.restore(resumed.state);
  else await broadcaster.createRoom();
  saveSession(broadcaster);
  showShareLink(broadcaster.roomId);
  broadcaster.addEventListener('joined', ({ detail }) => {
    if (!detail.rejoined) return;
    // What was sent while the connection was down went out first; this covers a change the SDK's
    // offline queue could not hold.
    presenter.resync();
    setStatus('live', 'Live');
  });
  if (!resumed) presenter.start();
  bindControls(presenter, broadcaster);
  setStatus('live', 'Live');
}

function presenterEndText({ reason, by }) {
  if (by === 'operator') return 'An operator of this server closed the session; your viewers have been told.';
  if (reason === 'closed') return 'You ended the session; your viewers have been told.';
  return 'Your connection was lost for too long, which ended the session for your viewers.';
}

/**
 * The saved session's room with its kept state, or null when the room is gone (its grace passed)
 * or refuses the key: the page then starts a new session. Other failures are the caller's.
 */
async function resumeSession(broadcaster, { roomId, ownerKey }) {
  try {
    return await broadcaster.resumeRoom(roomId, ownerKey);
  } catch (error) {
    if (error.code !== 'room_not_found' && error.code !== 'not_owner') throw error;
    forgetSession();
    return null;
  }
}

/** Kept in sessionStorage: this tab only, and gone with it; the key never goes in the share link. */
function saveSession(broadcaster) {
  sessionStorage.setItem(PRESENTING, JSON.stringify({ roomId: broadcaster.roomId, ownerKey: broadcaster.ownerKey }));
}

function savedSession() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(PRESENTING) ?? 'null');
    return typeof saved?.roomId === 'string' && typeof saved?.ownerKey === 'string' ? saved : null;
  } catch {
    return null; // unreadable: start afresh
  }
}

function forgetSession() {
  sessionStorage.removeItem(PRESENTING);
}

function showShareLink(id) {
  setRoom(id);
  const link = new URL(location.href);
  link.search = new URLSearchParams({ room: id }).toString();
  link.hash = '';
  $('#share-link').value = link.href;
  $('#copy-link').addEventListener('click', () => copyShareLink());
}

async function copyShareLink() {
  const input = $('#share-link');
  try {
    await navigator.clipboard.writeText(input.value);
    $('#copy-link').textContent = 'Copied';
  } catch {
    input.select(); // the clipboard needs a secure context: let the person copy it
  }
}

function showViewerCount(count) {
  const el = $('#viewer-count');
  el.dataset.count = String(count);
  el.textContent = count === 1 ? '1 viewer' : `${count} viewers`;
}

function bindControls(presenter, broadcaster) {
  const showSlideNumber = () => ($('#slide-number').textContent = `${stage.slideIndex + 1} / ${stage.slideCount}`);
  const step = (delta) => {
    presenter.step(delta);
    showSlideNumber();
  };
  showSlideNumber();
  $('#prev').addEventListener('click', () => step(-1));
  $('#next').addEventListener('click', () => step(1));
  document.addEventListener('keydown', (event) => {
    if (event.target instanceof HTMLInputElement) return; // the share link: arrows move its caret
    if (['ArrowRight', 'PageDown', ' '].includes(event.key)) step(1);
    else if (['ArrowLeft', 'PageUp'].includes(event.key)) step(-1);
  });
  $('#clear').addEventListener('click', () => presenter.clearSlide());
  for (const tool of ['pen', 'laser']) {
    $(`#tool-${tool}`).addEventListener('click', () => {
      presenter.setTool(tool);
      for (const button of document.querySelectorAll('.tool')) button.setAttribute('aria-pressed', String(button.id === `tool-${tool}`));
    });
  }
  const swatches = [...document.querySelectorAll('.color')];
  for (const swatch of swatches) {
    swatch.addEventListener('click', () => {
      presenter.setColor(swatch.dataset.color);
      for (const other of swatches) other.setAttribute('aria-pressed', String(other === swatch));
    });
  }
  presenter.bindPointer(stage.canvas);
  bindEndSession(broadcaster);
}

/** One click would end the session for every viewer: End session asks first, in the page. */
function bindEndSession(broadcaster) {
  const confirming = (on) => {
    $('#end-session').hidden = on;
    $('#end-confirm').hidden = !on;
    if (on) $('#end-confirm-no').focus();
  };
  $('#end-session').addEventListener('click', () => confirming(true));
  $('#end-confirm-no').addEventListener('click', () => confirming(false));
  $('#end-confirm-yes').addEventListener('click', () => {
    confirming(false);
    broadcaster.closeRoom().catch((error) => setStatus('error', error.message));
  });
}

// ---- Viewer ----

function follow(id) {
  setRole('viewer');
  setStatus('connecting', 'Joining…');
  setRoom(id);
  const broadcaster = new Broadcaster(ENDPOINT, { transport });
  document.body.dataset.transport = broadcaster.transport;
  broadcaster.addEventListener('transport', ({ detail }) => (document.body.dataset.transport = detail.transport));
  showRefusal(broadcaster);
  // Handlers first, so that the state replay that follows the join reaches them.
  for (const [funcKey, handler] of Object.entries(stageActions(stage))) broadcaster.on(funcKey, handler);
  showViewerSlide();
  broadcaster.on('slide', showViewerSlide); // after the stage's own handler
  bindFullscreen();
  let joins = 0; // body[data-joins]: how often this page joined, a reconnect's rejoin included
  broadcaster.addEventListener('joined', () => {
    document.body.dataset.joins = String(++joins);
    setStatus('syncing', 'Catching up…');
  });
  broadcaster.addEventListener('replaydone', () => setStatus('live', 'Live'));
  broadcaster.addEventListener('reconnecting', ({ detail }) => {
    stage.hideLaser(); // its laserOff may come while this viewer is away
    if (document.body.dataset.status !== 'ended') setStatus('reconnecting', `Connection lost; reconnecting (try ${detail.attempt})…`);
  });
  broadcaster.addEventListener('owneraway', () => {
    stage.hideLaser(); // the presenter's pointer left with its connection
    setStatus('presenter-away', 'The presenter is reconnecting…');
  });
  broadcaster.addEventListener('ownerback', () => setStatus('live', 'Live'));
  broadcaster.addEventListener('roomclosed', ({ detail }) =>
    showEnded(detail.by === 'operator' ? 'An operator of this server closed this session.' : 'The presenter ended this session.'),
  );
  broadcaster.addEventListener('closed', () => {
    if (document.body.dataset.status !== 'ended') setStatus('offline', 'Disconnected');
  });
  broadcaster.joinRoom(id).catch((error) => {
    if (error.code !== 'room_not_found') return setStatus('error', `Could not join: ${error.message}`);
    showEnded('There is no session at this link: it has ended, or the link is incomplete.');
    broadcaster.disconnect();
  });
}

function showViewerSlide() {
  $('#viewer-slide').textContent = `Slide ${stage.slideIndex + 1} / ${stage.slideCount}`;
}

/** The slide alone on the screen, where the browser allows it (not in every iframe, say). */
function bindFullscreen() {
  const button = $('#fullscreen');
  button.hidden = !document.fullscreenEnabled;
  button.addEventListener('click', () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else $('#stage').requestFullscreen().catch(() => {}); // refused: the page stays as it is
  });
  document.addEventListener('fullscreenchange', () => button.setAttribute('aria-pressed', String(document.fullscreenElement !== null)));
}
