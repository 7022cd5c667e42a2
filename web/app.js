// The demo's entry point. Without ?room= in the address the page offers to start a session (the
// presenter); with ?room=<id> it follows that session (a viewer).
import { Broadcaster } from '/sdk/rtbroadcaster.mjs';
import { stageActions } from './actions.js';
import { deck } from './deck.js';
import { Presenter } from './presenter.js';
import { Stage } from './stage.js';

const ENDPOINT = '/broadcast';

const $ = (selector) => document.querySelector(selector);
const stage = new Stage($('#stage'), deck);

const roomId = new URLSearchParams(location.search).get('room');
if (roomId) follow(roomId);
else offerToPresent();

/** body[data-status] is what styles and tests read; the text is for people. */
function setStatus(status, text) {
  document.body.dataset.status = status;
  $('#status').textContent = text;
}

function setRole(role) {
  document.body.dataset.role = role;
  $('#landing').hidden = true;
  $('#stage').hidden = false;
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

async function present() {
  setRole('presenter');
  setStatus('connecting', 'Starting a session…');
  const broadcaster = new Broadcaster(ENDPOINT);
  broadcaster.addEventListener('viewers', ({ detail }) => showViewerCount(detail.count));
  broadcaster.addEventListener('roomclosed', ({ detail }) => {
    // A dropped connection takes the room back when it reconnects in time; past the grace, the
    // session has ended for the viewers.
    showEnded(detail.reason === 'closed' ? 'You ended the session; your viewers have been told.' : 'Your connection was lost for too long, which ended the session for your viewers.');
    broadcaster.disconnect();
  });
  broadcaster.addEventListener('reconnecting', ({ detail }) => {
    if (document.body.dataset.status !== 'ended') setStatus('reconnecting', `Connection lost; reconnecting (try ${detail.attempt})…`);
  });
  const id = await broadcaster.createRoom();
  showShareLink(id);
  const presenter = new Presenter(broadcaster, stage);
  broadcaster.addEventListener('joined', ({ detail }) => {
    if (!detail.rejoined) return;
    presenter.resync(); // what changed here while the connection was down did not reach the viewers
    setStatus('live', 'Live');
  });
  presenter.start();
  bindControls(presenter, broadcaster);
  setStatus('live', 'Live');
}

function showShareLink(id) {
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
  $('#end-session').addEventListener('click', () => broadcaster.closeRoom().catch((error) => setStatus('error', error.message)));
}

// ---- Viewer ----

function follow(id) {
  setRole('viewer');
  setStatus('connecting', 'Joining…');
  const broadcaster = new Broadcaster(ENDPOINT);
  // Handlers first, so that the state replay that follows the join reaches them.
  for (const [funcKey, handler] of Object.entries(stageActions(stage))) broadcaster.on(funcKey, handler);
  broadcaster.addEventListener('joined', () => setStatus('syncing', 'Catching up…'));
  broadcaster.addEventListener('replaydone', () => setStatus('live', 'Live'));
  broadcaster.addEventListener('reconnecting', ({ detail }) => {
    stage.hideLaser(); // its laserOff may come while this viewer is away
    if (document.body.dataset.status !== 'ended') setStatus('reconnecting', `Connection lost; reconnecting (try ${detail.attempt})…`);
  });
  broadcaster.addEventListener('owneraway', () => setStatus('presenter-away', 'The presenter is reconnecting…'));
  broadcaster.addEventListener('ownerback', () => setStatus('live', 'Live'));
  broadcaster.addEventListener('roomclosed', () => showEnded('The presenter ended this session.'));
  broadcaster.addEventListener('closed', () => {
    if (document.body.dataset.status !== 'ended') setStatus('offline', 'Disconnected');
  });
  broadcaster.joinRoom(id).catch((error) => {
    if (error.code !== 'room_not_found') return setStatus('error', `Could not join: ${error.message}`);
    showEnded('There is no session at this link: it has ended, or the link is incomplete.');
    broadcaster.disconnect();
  });
}
