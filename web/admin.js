// The operators' dashboard: polls the admin API once a second with the admin token as a bearer
// header, shows this node's counters, two small charts over the last two minutes and the rooms
// (of the cluster: those with no client on this node marked "other node"; of a single in-memory
// node: those whose owner left marked "no one connected"), and closes a room on request.
// No build step and nothing from elsewhere: plain DOM and canvas.

const POLL_MS = 1000;
const HISTORY = 120; // samples kept for the charts: two minutes
const WINDOW_MS = HISTORY * POLL_MS; // what a chart's width spans, its axis says (admin.html)
const TOKEN_KEY = 'rtb-admin-token';

const $ = (id) => document.getElementById(id);
const history = []; // {time, connections, viewers, rateIn, rateOut}
let previous = null; // the last snapshot, for rates
let timer = null;

function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

async function api(method, path) {
  const response = await fetch(path, { method, headers: { Authorization: `Bearer ${token()}` }, cache: 'no-store' });
  if (response.status === 401) throw Object.assign(new Error('the admin token was refused'), { locked: true });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw Object.assign(new Error(body.error ?? `${method} ${path}: HTTP ${response.status}`), { status: response.status });
  }
  return response.status === 204 ? null : response.json();
}

function setState(state, text) {
  document.body.dataset.state = state;
  $('status').textContent = text;
  $('login').hidden = state !== 'locked';
  $('dashboard').hidden = state === 'locked';
}

async function poll() {
  try {
    render(await api('GET', '/admin/api/rooms'));
    setState('live', `updated ${new Date().toLocaleTimeString()}`);
  } catch (error) {
    if (error.locked) {
      lock(error.message);
      return;
    }
    setState('error', `cannot reach the admin API: ${error.message}`);
  }
  timer = setTimeout(poll, POLL_MS);
}

function perSecond(now, before, field) {
  if (!before) return 0;
  const seconds = (Date.parse(now.time) - Date.parse(before.time)) / 1000;
  return seconds > 0 ? Math.max(0, (now[field] - before[field]) / seconds) : 0;
}

function render(snap) {
  const rateIn = perSecond(snap, previous, 'messagesReceived');
  const rateOut = perSecond(snap, previous, 'messagesSent');
  $('connections').textContent = snap.connections;
  $('rooms').textContent = roomCount(snap);
  $('viewers').textContent = snap.viewers;
  $('rate-in').textContent = rateIn.toFixed(1);
  $('rate-out').textContent = rateOut.toFixed(1);
  $('broker').textContent = snap.brokerUp ? 'up' : 'DOWN';
  const time = Date.parse(snap.time);
  history.push({ time, connections: snap.connections, viewers: snap.viewers, rateIn, rateOut });
  while (history.length > 0 && history[0].time < time - WINDOW_MS) history.shift();
  drawChart($('chart-people'), history.map((s) => [s.time, s.connections, s.viewers]), time);
  drawChart($('chart-messages'), history.map((s) => [s.time, s.rateIn, s.rateOut]), time);
  renderRooms(snap, previous);
  previous = snap;
}

/** The rooms tile: the cluster's count when the API lists it (older servers: the node's rooms). */
function roomCount(snap) {
  const count = snap.roomCount ?? snap.rooms.length;
  return snap.roomsCut ? `${count}+` : `${count}`;
}

/**
 * Says whose rooms the tile and table count: the server's, when it runs alone (the in-memory
 * engine); the cluster's; or only this node's when the engine cannot list them, and why.
 */
function renderRoomsNote(snap) {
  const cluster = snap.cluster !== false;
  const [title, label] = snap.singleNode
    ? ['Rooms on this server', 'rooms']
    : cluster
      ? ['Rooms in the cluster', 'rooms in the cluster']
      : ['Rooms on this node', 'rooms on this node'];
  $('rooms-title').textContent = title;
  $('rooms-label').textContent = label;
  const notes = [];
  if (!cluster && snap.clusterError) notes.push(`Other nodes' rooms are not listed: ${snap.clusterError}.`);
  if (snap.roomsCut) notes.push(`Showing the ${snap.rooms.length} busiest rooms.`);
  $('rooms-note').textContent = notes.join(' ');
  $('rooms-note').hidden = notes.length === 0;
}

function renderRooms(snap, before) {
  renderRoomsNote(snap);
  const earlier = new Map((before?.rooms ?? []).map((room) => [room.id, room]));
  const seconds = before ? (Date.parse(snap.time) - Date.parse(before.time)) / 1000 : 0;
  const rows = snap.rooms.map((room) => {
    const old = earlier.get(room.id);
    const rate = old && seconds > 0 ? (room.messages - old.messages) / seconds : 0;
    return roomRow(room, rate, Date.parse(snap.time), snap.singleNode === true);
  });
  $('room-rows').replaceChildren(...rows);
  $('no-rooms').hidden = rows.length > 0;
}

/** On a single node, a room with no client here waits for its owner: there is no other node. */
function roomRow(room, rate, now, singleNode) {
  const here = room.here !== false; // older servers list only rooms with a client here
  const tr = document.createElement('tr');
  tr.dataset.room = room.id;
  tr.classList.toggle('elsewhere', !here);
  const cells = [
    ['id', room.id],
    ['viewers', room.viewers],
    ['local-viewers', here ? room.localViewers : '–'],
    ['rate', here ? rate.toFixed(1) : '–'],
    ['seq', room.seq ?? '–'],
    ['age', here && room.openedAt ? duration(now - Date.parse(room.openedAt)) : '–'],
    ['owner', ownerText(room)],
  ];
  for (const [name, value] of cells) {
    const td = document.createElement('td');
    td.className = name;
    td.textContent = value;
    tr.append(td);
  }
  if (!here) {
    const tag = document.createElement('span');
    tag.className = 'tag';
    tag.textContent = singleNode ? 'no one connected' : 'other node';
    tr.querySelector('td.id').append(' ', tag);
  }
  const close = document.createElement('button');
  close.type = 'button';
  close.className = 'close-room';
  close.textContent = 'Close';
  close.addEventListener('click', () => closeRoom(room.id, close));
  const td = document.createElement('td');
  td.append(close);
  tr.append(td);
  return tr;
}

function ownerText(room) {
  if (room.ownerAway) return 'away';
  return room.ownerHere ? 'here' : 'elsewhere';
}

async function closeRoom(id, button) {
  if (!confirm(`Close room ${id}? Every viewer is disconnected, on every node.`)) return;
  button.disabled = true;
  try {
    await api('POST', `/admin/api/rooms/${encodeURIComponent(id)}/close`);
    $('status').textContent = `closed room ${id}`;
    button.closest('tr')?.remove();
  } catch (error) {
    if (error.status === 404) { // closed meanwhile, by its owner or another operator
      $('status').textContent = `room ${id} was already closed`;
      button.closest('tr')?.remove();
      return;
    }
    button.disabled = false;
    setState('error', `closing room ${id} failed: ${error.message}`);
  }
}

function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/**
 * Draws up to two series of [time, a, b] samples as lines, scaled to their common maximum, placed
 * by their time: the right edge is `now`, the left edge WINDOW_MS before it, with a line every 30 s.
 */
function drawChart(canvas, samples, now) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width;
  const height = canvas.clientHeight || canvas.height;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const g = canvas.getContext('2d');
  g.scale(ratio, ratio);
  g.clearRect(0, 0, width, height);
  const top = Math.max(1, ...samples.flatMap(([, ...values]) => values));
  const xOf = (time) => width - ((now - time) / WINDOW_MS) * width;
  g.strokeStyle = '#f3f4f7';
  for (let ago = 30_000; ago < WINDOW_MS; ago += 30_000) {
    g.beginPath();
    g.moveTo(Math.round(xOf(now - ago)) + 0.5, 0);
    g.lineTo(Math.round(xOf(now - ago)) + 0.5, height);
    g.stroke();
  }
  g.fillStyle = '#6b7380';
  g.font = '11px system-ui, sans-serif';
  g.fillText(formatNumber(top), 4, 12);
  g.strokeStyle = '#eceef2';
  g.beginPath();
  g.moveTo(0, height - 0.5);
  g.lineTo(width, height - 0.5);
  g.stroke();
  ['#2f6fdf', '#e0872f'].forEach((color, series) => {
    g.strokeStyle = color;
    g.lineWidth = 1.5;
    g.beginPath();
    samples.forEach(([time, ...values], i) => {
      const x = xOf(time);
      const y = height - 2 - (values[series] / top) * (height - 18);
      if (i === 0) g.moveTo(x, y);
      else g.lineTo(x, y);
    });
    g.stroke();
  });
}

function formatNumber(n) {
  return n >= 1000 ? `${(n / 1000).toFixed(1)}k` : `${Math.round(n * 10) / 10}`;
}

function lock(message) {
  clearTimeout(timer);
  sessionStorage.removeItem(TOKEN_KEY);
  previous = null;
  history.length = 0;
  setState('locked', message);
}

$('login').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $('token').value);
  $('token').value = '';
  clearTimeout(timer);
  poll();
});
$('logout').addEventListener('click', () => lock('token forgotten'));

if (token()) poll();
else setState('locked', 'enter the admin token');
