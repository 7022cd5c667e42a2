// The modern API against the real server.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { Broadcaster, BroadcastError, backoffDelay, connect } from '../rtbroadcaster.mjs';
import { startProxy } from './helpers/proxy.mjs';
import { startServer } from './helpers/server.mjs';
import { nextEvent, recordCalls, until } from './helpers/wait.mjs';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const FAST_RECONNECT = { initialDelay: 20, maxDelay: 200 };

let server;
const clients = [];

/** A connected Broadcaster that the test file disconnects at the end. */
async function client(url = server.wsURL, options = {}) {
  const broadcaster = await connect(url, { WebSocket, reconnect: FAST_RECONNECT, ...options });
  clients.push(broadcaster);
  return broadcaster;
}

/**
 * A WebSocket class for `options.WebSocket` that keeps every frame its connections receive, parsed,
 * in `frames`: what the SDK does not show, such as seq.
 */
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

/** Fails the test if any of `funcKeys` ever reaches a handler of `broadcaster`. */
function forbidHandlers(broadcaster, ...funcKeys) {
  const calls = recordCalls(broadcaster, ...funcKeys);
  return () => assert.deepEqual([...calls].filter(([, list]) => list.length > 0), [], 'handlers ran');
}

/**
 * A server of its own for test `t` that ends a room with its owner's connection (no owner grace),
 * behind a proxy that can cut it; both stop when `t` ends.
 */
async function gracelessServer(t) {
  const graceless = await startServer(['-owner-grace', '0']);
  const gracelessProxy = await startProxy(graceless.port);
  t.after(async () => {
    gracelessProxy.close();
    await graceless.stop();
  });
  return { server: graceless, proxy: gracelessProxy };
}

/**
 * Cuts every connection through `proxy` and refuses new ones until proxy.refuse(false); resolves,
 * once each of `broadcasters` is reconnecting, to the details of their first 'reconnecting' events.
 */
function cutAndRefuse(proxy, ...broadcasters) {
  proxy.refuse(true);
  const reconnecting = Promise.all(broadcasters.map((broadcaster) => nextEvent(broadcaster, 'reconnecting')));
  proxy.cut();
  return reconnecting;
}

async function ownerWithRoom() {
  const owner = await client();
  const roomId = await owner.createRoom();
  return { owner, roomId };
}

before(async () => {
  server = await startServer();
});

after(async () => {
  for (const broadcaster of clients) broadcaster.disconnect();
  await server.stop();
});

describe('rooms', () => {
  test('createRoom resolves to the room id and makes the connection its owner', async () => {
    const { owner, roomId } = await ownerWithRoom();
    assert.match(roomId, UUID);
    assert.equal(owner.roomId, roomId);
    assert.equal(owner.role, 'owner');
  });

  test('joinRoom resolves to the room and its state count; handlers get the params spread', async () => {
    const { owner, roomId } = await ownerWithRoom();
    const viewer = await client();
    const calls = recordCalls(viewer, 'goToSlide');
    assert.deepEqual(await viewer.joinRoom(roomId), { roomId, stateCount: 0 });
    assert.equal(viewer.role, 'viewer');

    owner.broadcast('goToSlide', 4, 'fade', true);
    await until(() => calls.get('goToSlide').length === 1, { what: 'the broadcast' });
    assert.deepEqual(calls.get('goToSlide'), [['4', 'fade', 'true']]);
  });

  test('a refused request rejects with the server error code', async () => {
    const viewer = await client();
    await assert.rejects(viewer.joinRoom('00000000-0000-4000-8000-000000000000'), { name: 'BroadcastError', code: 'room_not_found' });

    const { owner } = await ownerWithRoom();
    await assert.rejects(owner.createRoom(), { code: 'already_in_room' });
    await assert.rejects(viewer.closeRoom(), { code: 'not_in_room' });
    assert.equal(owner.role, 'owner', 'a refusal leaves the room as it was');
  });

  test('a viewer cannot close the room: not_owner', async () => {
    const { roomId } = await ownerWithRoom();
    const viewer = await client();
    await viewer.joinRoom(roomId);
    await assert.rejects(viewer.closeRoom(), { code: 'not_owner' });
  });

  test('only an owner in a room can broadcast: the send throws at once', async () => {
    const { roomId } = await ownerWithRoom();
    const viewer = await client();
    assert.throws(() => viewer.broadcast('x'), { code: 'not_in_room' });
    await viewer.joinRoom(roomId);
    assert.throws(() => viewer.broadcast('x'), { code: 'not_owner' });
    assert.throws(() => viewer.setState('x', 1), { code: 'not_owner' });
    assert.throws(() => viewer.broadcast(''), TypeError);
    assert.throws(() => viewer.broadcast('x', { an: 'object' }), TypeError);
  });
});

describe('state', () => {
  test('a late viewer replays the kept state, newest value per key, then gets replaydone', async () => {
    const { owner, roomId } = await ownerWithRoom();
    owner.setState('goToSlide', 1);
    owner.setState({ funcKey: 'draw', stateKey: 'stroke-1' }, 'a');
    owner.setState({ funcKey: 'draw', stateKey: 'stroke-2' }, 'b');
    owner.setState('goToSlide', 3); // replaces slide 1 and moves to the end
    owner.broadcast('laser', 10, 20); // not kept

    const late = await client();
    const calls = recordCalls(late, 'goToSlide', 'draw', 'laser');
    const order = [];
    late.on('goToSlide', () => order.push('goToSlide'));
    late.on('draw', () => order.push('draw'));
    const joined = nextEvent(late, 'joined');
    const replayDone = nextEvent(late, 'replaydone');
    assert.deepEqual(await late.joinRoom(roomId), { roomId, stateCount: 3 });
    assert.deepEqual(await joined, { roomId, role: 'viewer', stateCount: 3, rejoined: false });
    assert.deepEqual(await replayDone, { roomId, count: 3 });

    assert.deepEqual(order, ['draw', 'draw', 'goToSlide']);
    assert.deepEqual(calls.get('draw'), [['a'], ['b']]);
    assert.deepEqual(calls.get('goToSlide'), [['3']]);
    assert.deepEqual(calls.get('laser'), []);
  });

  test('clearState: viewers hear clearstate before the handler, and a late viewer replays only what followed', async () => {
    const { owner, roomId } = await ownerWithRoom();
    const viewer = await client();
    await viewer.joinRoom(roomId);
    const seen = [];
    viewer.on('draw', (stroke) => seen.push(`draw ${stroke}`));
    viewer.on('goToSlide', (slide) => seen.push(`goToSlide ${slide}`));
    viewer.addEventListener('clearstate', ({ detail }) => seen.push(`clearstate ${detail.funcKey} in ${detail.roomId === roomId}`));
    owner.setState({ funcKey: 'draw', stateKey: 'stroke-1' }, 'a');
    owner.setState({ funcKey: 'goToSlide', clearState: true }, 2);
    owner.setState({ funcKey: 'draw', stateKey: 'stroke-1' }, 'b');
    await until(() => seen.length === 4);
    assert.deepEqual(seen, ['draw a', 'clearstate goToSlide in true', 'goToSlide 2', 'draw b']);

    const late = await client();
    const calls = recordCalls(late, 'goToSlide', 'draw');
    const replayDone = nextEvent(late, 'replaydone');
    assert.deepEqual(await late.joinRoom(roomId), { roomId, stateCount: 2 });
    await replayDone;
    assert.deepEqual(calls.get('goToSlide'), [['2']]);
    assert.deepEqual(calls.get('draw'), [['b']]);
  });

  test('replaydone comes right after joined when the room keeps nothing', async () => {
    const { roomId } = await ownerWithRoom();
    const viewer = await client();
    const replayDone = nextEvent(viewer, 'replaydone');
    await viewer.joinRoom(roomId);
    assert.deepEqual(await replayDone, { roomId, count: 0 });
  });

  test('a state message past the room bounds is refused as an error event (state_full)', async () => {
    const small = await startServer(['-max-state-messages', '1']);
    try {
      const owner = await client(small.wsURL);
      await owner.createRoom();
      owner.setState({ funcKey: 'draw', stateKey: 'one' }, 'x');
      const error = nextEvent(owner, 'error');
      owner.setState({ funcKey: 'draw', stateKey: 'two' }, 'y');
      assert.equal((await error).error.code, 'state_full');
      assert.ok((await error).error instanceof BroadcastError);
    } finally {
      await small.stop();
    }
  });
});

describe('handlers', () => {
  test('off removes one handler or all of a funcKey; unknown funcKeys are ignored', async () => {
    const { owner, roomId } = await ownerWithRoom();
    const viewer = await client();
    const seen = [];
    const first = (value) => seen.push(`first ${value}`);
    const removeSecond = viewer.on('step', (value) => seen.push(`second ${value}`));
    viewer.on('step', first);
    await viewer.joinRoom(roomId);
    const fence = new EventTarget();
    viewer.on('fence', () => fence.dispatchEvent(new Event('passed')));
    const step = async (value) => {
      const before = seen.length;
      owner.broadcast('step', value);
      owner.broadcast('fence'); // arrives after the step: then the step has been handled, or not at all
      await nextEvent(fence, 'passed');
      return seen.slice(before);
    };

    owner.broadcast('nobody-listens', 'x');
    assert.deepEqual(await step(1), ['second 1', 'first 1']);
    removeSecond();
    assert.deepEqual(await step(2), ['first 2']);
    viewer.off('step');
    assert.deepEqual(await step(3), []);
  });

  test('a handler that throws is reported and the others still run', async () => {
    const { owner, roomId } = await ownerWithRoom();
    const viewer = await client();
    const seen = [];
    viewer.on('boom', () => {
      throw new Error('bad handler');
    });
    viewer.on('boom', () => seen.push('still called'));
    await viewer.joinRoom(roomId);
    const error = nextEvent(viewer, 'error');
    owner.broadcast('boom');
    assert.equal((await error).error.code, 'handler_failed');
    assert.deepEqual(seen, ['still called']);
  });
});

describe('presence and closing', () => {
  test('the owner sees the viewer count go up and down', async () => {
    const { owner, roomId } = await ownerWithRoom();
    const counts = [];
    owner.addEventListener('viewers', ({ detail }) => counts.push(detail.count));
    const first = await client();
    const second = await client();
    await first.joinRoom(roomId);
    await second.joinRoom(roomId);
    await until(() => owner.viewers === 2, { what: 'a count of 2' });
    second.disconnect();
    await until(() => owner.viewers === 1, { what: 'a count of 1' });
    assert.equal(counts.at(-1), 1);
  });

  test('closeRoom ends the room for everyone: viewers get roomclosed then closed, and do not reconnect', async () => {
    const { owner, roomId } = await ownerWithRoom();
    const viewer = await client();
    await viewer.joinRoom(roomId);
    let reconnects = 0;
    viewer.addEventListener('reconnecting', () => reconnects++);
    const roomClosed = nextEvent(viewer, 'roomclosed');
    const closed = nextEvent(viewer, 'closed');
    const ownerRoomClosed = nextEvent(owner, 'roomclosed');

    await owner.closeRoom();
    assert.deepEqual(await ownerRoomClosed, { roomId, reason: 'closed' });
    assert.deepEqual(await roomClosed, { roomId, reason: 'closed' });
    assert.equal((await closed).code, 1000);
    assert.equal(viewer.role, null);

    // The owner's connection stays open and can start again; the old room is gone.
    assert.equal(owner.isOpen, true);
    assert.match(await owner.createRoom(), UUID);
    const another = await client();
    await assert.rejects(another.joinRoom(roomId), { code: 'room_not_found' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(reconnects, 0);
  });

  test('a viewer that disconnects leaves a room that goes on: no roomclosed', async () => {
    const { owner, roomId } = await ownerWithRoom();
    const viewer = await client();
    await viewer.joinRoom(roomId);
    let roomClosed = false;
    viewer.addEventListener('roomclosed', () => (roomClosed = true));
    const closed = nextEvent(viewer, 'closed');
    viewer.disconnect();
    await closed;
    assert.equal(roomClosed, false);
    assert.equal(viewer.roomId, null);
    await until(() => owner.viewers === 0, { what: 'the owner to see the viewer leave' });
    assert.equal(owner.role, 'owner');
  });

  test('disconnect is final: pending and later requests reject with "closed"', async () => {
    const broadcaster = await client();
    const closed = nextEvent(broadcaster, 'closed');
    broadcaster.disconnect();
    await closed;
    await assert.rejects(broadcaster.createRoom(), { code: 'closed' });
    assert.throws(() => broadcaster.broadcast('x'), { code: 'not_connected' });
  });
});

describe('reconnecting', () => {
  let proxy;
  before(async () => {
    proxy = await startProxy(server.port);
  });
  after(() => proxy.close());

  test('a dropped viewer reconnects with backoff, rejoins and recovers exactly what it missed', async () => {
    const { owner, roomId } = await ownerWithRoom();
    owner.setState('goToSlide', 1);
    const viewer = await client(proxy.wsURL);
    const calls = recordCalls(viewer, 'goToSlide', 'live');
    await viewer.joinRoom(roomId);
    await until(() => calls.get('goToSlide').length === 1, { what: 'the first replay' });

    const [firstTry] = await cutAndRefuse(proxy, viewer);
    assert.equal(firstTry.attempt, 1);
    assert.ok(firstTry.delay >= 0 && firstTry.delay <= FAST_RECONNECT.initialDelay, `delay ${firstTry.delay}`);
    assert.throws(() => viewer.broadcast('x'), { code: 'not_connected' });

    owner.setState('goToSlide', 2); // while the viewer is away
    await nextEvent(viewer, 'reconnecting'); // the refused retry
    const rejoined = nextEvent(viewer, 'joined');
    const recovered = nextEvent(viewer, 'recovered');
    proxy.refuse(false);
    assert.deepEqual(await rejoined, { roomId, role: 'viewer', stateCount: 0, rejoined: true });
    assert.deepEqual(await recovered, { roomId, recovered: true });
    await until(() => calls.get('goToSlide').length === 2, { what: 'the missed state message' });
    assert.deepEqual(calls.get('goToSlide'), [['1'], ['2']]);

    owner.broadcast('live', 'after');
    await until(() => calls.get('live').length === 1, { what: 'live traffic after the rejoin' });
  });

  test('a viewer whose state replay is cut short rejoins for the whole replay again, never recovered:true', { timeout: 15_000 }, async (t) => {
    const STROKES = 100;
    const STROKE_BYTES = 2000; // about 200 KB in all: under the server's send queue, so only the proxy cuts
    const cutting = await startProxy(server.port);
    t.after(() => cutting.close());
    const { owner, roomId } = await ownerWithRoom();
    const watcher = await client();
    const watched = recordCalls(watcher, 'draw');
    await watcher.joinRoom(roomId);
    const strokes = Array.from({ length: STROKES }, (_, i) => String(i).padStart(3, '0'));
    for (const id of strokes) owner.setState({ funcKey: 'draw', stateKey: `stroke-${id}` }, id, 'x'.repeat(STROKE_BYTES));
    await until(() => watched.get('draw').length === STROKES, { what: 'the room to keep every stroke' });

    // What the page shows: strokes in the order applied, reset when a fresh replay follows a rejoin.
    cutting.cutAfter(Math.floor((STROKES * STROKE_BYTES) / 3));
    const viewer = await client(cutting.wsURL);
    let view = [];
    viewer.on('draw', (id) => view.push(id));
    const recovered = [];
    viewer.addEventListener('recovered', ({ detail }) => {
      recovered.push(detail.recovered);
      if (!detail.recovered) view = [];
    });
    const ends = recordCalls(viewer, 'end');
    const rejoined = new Promise((resolve) => viewer.addEventListener('joined', ({ detail }) => detail.rejoined && resolve(detail)));
    await viewer.joinRoom(roomId);
    await rejoined;
    owner.broadcast('end'); // live: it follows whatever the rejoin replays
    await until(() => ends.get('end').length === 1, { what: 'live traffic after the rejoin' });

    assert.deepEqual(view, strokes, `the viewer shows ${view.length} strokes, want all ${STROKES} in order, once`);
    assert.deepEqual(recovered, [false], 'the rejoin after a cut replay is not a recovery');
  });

  test('a viewer whose room closed while it was away stops after the rejoin fails', async () => {
    const { owner, roomId } = await ownerWithRoom();
    const viewer = await client(proxy.wsURL);
    await viewer.joinRoom(roomId);
    await cutAndRefuse(proxy, viewer);
    await owner.closeRoom();
    const roomClosed = nextEvent(viewer, 'roomclosed');
    const closed = nextEvent(viewer, 'closed');
    proxy.refuse(false);
    assert.deepEqual(await roomClosed, { roomId, reason: 'room_not_found' });
    await closed;
    assert.equal(viewer.isOpen, false);
  });

  test('without a grace, an owner whose connection drops loses its room: roomclosed, sends throw, the viewers are told', async (t) => {
    const { server: graceless, proxy: gracelessProxy } = await gracelessServer(t);
    const owner = await client(gracelessProxy.wsURL);
    const roomId = await owner.createRoom();
    const viewer = await client(graceless.wsURL);
    await viewer.joinRoom(roomId);
    const ownerLost = nextEvent(owner, 'roomclosed');
    const viewerClosed = nextEvent(viewer, 'roomclosed');
    gracelessProxy.cut();
    assert.deepEqual(await viewerClosed, { roomId, reason: 'closed' });
    // The owner's socket comes back and its resume finds the room gone: it is in no room, and
    // may create a new one.
    assert.deepEqual(await ownerLost, { roomId, reason: 'connection_lost' });
    assert.throws(() => owner.broadcast('x'), { code: 'not_in_room' });
    assert.match(await owner.createRoom(), UUID);
  });

  test('an owner whose connection drops takes its room back; its viewers hear away and back', async () => {
    const owner = await client(proxy.wsURL);
    const roomId = await owner.createRoom();
    const viewer = await client();
    const calls = recordCalls(viewer, 'live');
    await viewer.joinRoom(roomId);
    const away = nextEvent(viewer, 'owneraway');
    const back = nextEvent(viewer, 'ownerback');
    const resumed = nextEvent(owner, 'joined', 5000);
    let roomClosed = false;
    owner.addEventListener('roomclosed', () => (roomClosed = true));
    proxy.cut();
    assert.ok((await away).grace > 0, 'owneraway carries the grace');
    assert.deepEqual(await resumed, { roomId, role: 'owner', stateCount: 0, rejoined: true });
    await back;
    owner.broadcast('live', 'after');
    await until(() => calls.get('live').length === 1, { what: 'the resumed owner\'s broadcast' });
    assert.equal(owner.role, 'owner');
    assert.equal(roomClosed, false);
  });

  test('a new client takes back a room with the ownerKey of the one before, as a reloaded page does', async () => {
    const first = await client(proxy.wsURL, { reconnect: { enabled: false } });
    const roomId = await first.createRoom();
    const { ownerKey } = first;
    assert.ok(ownerKey, 'an owner has its key');
    const viewer = await client();
    const calls = recordCalls(viewer, 'live');
    await viewer.joinRoom(roomId);
    const away = nextEvent(viewer, 'owneraway');
    proxy.cut(); // the page goes away without closing its room
    await away;

    const wrong = await client();
    await assert.rejects(wrong.resumeRoom(roomId, 'not-the-key'), { code: 'not_owner' });
    const second = await client();
    const back = nextEvent(viewer, 'ownerback');
    assert.deepEqual(await second.resumeRoom(roomId, ownerKey), { roomId, stateCount: 0, state: [] });
    await back;
    assert.equal(second.role, 'owner');
    assert.equal(second.ownerKey, ownerKey);
    second.broadcast('live', 'from the reloaded page');
    await until(() => calls.get('live').length === 1, { what: 'the reloaded page\'s broadcast' });
  });

  test('an owner sends while its connection is down: the messages reach viewers after the resume, in order, once', { timeout: 15_000 }, async () => {
    const owner = await client(proxy.wsURL);
    const roomId = await owner.createRoom();
    const noHandlers = forbidHandlers(owner, 'goToSlide', 'draw', 'live');
    const recorder = frameRecorder();
    const viewer = await client(server.wsURL, { WebSocket: recorder.WebSocket });
    const calls = recordCalls(viewer, 'goToSlide', 'draw', 'live');
    await viewer.joinRoom(roomId);
    owner.setState('goToSlide', 1);
    owner.setState({ funcKey: 'draw', stateKey: 'stroke-1' }, 'a');
    await until(() => calls.get('draw').length === 1, { what: 'the state sent before the cut' });

    await cutAndRefuse(proxy, owner);
    owner.setState('goToSlide', 2);
    owner.broadcast('live', 'while down');
    owner.setState({ funcKey: 'draw', stateKey: 'stroke-2' }, 'b');
    // The socket opens before the room is back: still queued, behind the others.
    owner.addEventListener('open', () => owner.broadcast('live', 'socket open, room not back yet'), { once: true });
    const resumed = nextEvent(owner, 'resumed');
    proxy.refuse(false);
    assert.deepEqual(await resumed, { roomId, queued: 4, resent: 0, stateCount: 2 });
    owner.broadcast('live', 'after the resume');

    await until(() => calls.get('live').length === 3, { what: 'the queued and later broadcasts' });
    assert.deepEqual(calls.get('goToSlide'), [['1'], ['2']]);
    assert.deepEqual(calls.get('draw'), [['a'], ['b']]);
    assert.deepEqual(calls.get('live'), [['while down'], ['socket open, room not back yet'], ['after the resume']]);
    noHandlers(); // the replay of its own state after the resume ran nothing on the owner

    const joinSeq = recorder.frames[0].seq;
    const stream = recorder.frames.filter((frame) => typeof frame.seq === 'number').slice(1);
    assert.deepEqual(stream.map((frame) => frame.seq), stream.map((_, i) => joinSeq + 1 + i), 'consecutive seq, none twice');
    assert.deepEqual(stream.map((frame) => frame.funcKey || `owner ${frame.owner}`), [
      'goToSlide', 'draw', 'owner away', 'owner back', 'goToSlide', 'live', 'draw', 'live', 'live',
    ]);
  });

  test('an owner that sends more than its offline queue holds gets queue_full; offlineQueue 0 throws not_connected', { timeout: 15_000 }, async () => {
    const owner = await client(proxy.wsURL, { offlineQueue: 2 });
    await owner.createRoom();
    const unqueued = await client(proxy.wsURL, { offlineQueue: 0 });
    await unqueued.createRoom();
    await cutAndRefuse(proxy, owner, unqueued);
    owner.broadcast('one');
    owner.setState('two', 2);
    assert.throws(() => owner.broadcast('three'), { name: 'BroadcastError', code: 'queue_full' });
    assert.throws(() => owner.setState('three', 3), { code: 'queue_full' });
    assert.throws(() => unqueued.broadcast('one'), { code: 'not_connected' });

    const resumed = nextEvent(owner, 'resumed');
    proxy.refuse(false);
    assert.equal((await resumed).queued, 2);
    // The room is back; the two wait for the server's acknowledgement (within 100 ms), and until
    // then a third is refused with unacked_full, not queued.
    await until(() => {
      try {
        owner.broadcast('room again');
        return true;
      } catch (error) {
        if (error.code !== 'unacked_full') throw error;
        return false;
      }
    }, { what: 'room in the unacknowledged messages' });
  });

  test('an owner that loses its room while messages are queued hears how many were dropped', { timeout: 15_000 }, async (t) => {
    const { proxy: gracelessProxy } = await gracelessServer(t);
    const owner = await client(gracelessProxy.wsURL);
    const roomId = await owner.createRoom();
    await cutAndRefuse(gracelessProxy, owner);
    owner.setState('goToSlide', 2);
    owner.broadcast('live', 'lost');
    const dropped = nextEvent(owner, 'error');
    const lost = nextEvent(owner, 'roomclosed');
    gracelessProxy.refuse(false);
    const { error, dropped: count } = await dropped;
    assert.equal(error.code, 'queue_dropped');
    assert.equal(count, 2);
    assert.deepEqual(await lost, { roomId, reason: 'connection_lost' });
    assert.throws(() => owner.broadcast('x'), { code: 'not_in_room' });
  });

  test('resumeRoom from a new client resolves to the kept state in replay order, and runs no handler', { timeout: 15_000 }, async () => {
    const first = await client(proxy.wsURL, { reconnect: { enabled: false } });
    const roomId = await first.createRoom();
    const viewer = await client();
    const calls = recordCalls(viewer, 'goToSlide');
    await viewer.joinRoom(roomId);
    first.setState('goToSlide', 1);
    first.setState({ funcKey: 'draw', stateKey: 'stroke-1' }, 'a', 'red');
    first.setState({ funcKey: 'draw', stateKey: 'stroke-2' }, 'b', 'blue');
    first.setState('goToSlide', 3); // replaces slide 1 and moves to the end
    first.broadcast('laser', 10, 20); // not kept
    await until(() => calls.get('goToSlide').length === 2, { what: 'the last state message' });
    const { ownerKey } = first; // a client forgets its key with its room
    const away = nextEvent(viewer, 'owneraway');
    proxy.cut(); // the page goes away without closing its room
    await away;

    const second = await client();
    const noHandlers = forbidHandlers(second, 'goToSlide', 'draw', 'laser');
    const resumedEvent = nextEvent(second, 'resumed');
    const resumed = await second.resumeRoom(roomId, ownerKey);
    assert.deepEqual(resumed, {
      roomId,
      stateCount: 3,
      state: [
        { funcKey: 'draw', funcParams: ['a', 'red'], stateKey: 'stroke-1', seq: 2 },
        { funcKey: 'draw', funcParams: ['b', 'blue'], stateKey: 'stroke-2', seq: 3 },
        { funcKey: 'goToSlide', funcParams: ['3'], seq: 4 },
      ],
    });
    assert.deepEqual(await resumedEvent, { roomId, queued: 0, resent: 0, stateCount: 3 });
    noHandlers();
  });

  test('a resumeRoom whose replay is cut short by a drop resolves with the replay of the resume that follows', { timeout: 15_000 }, async () => {
    const first = await client(proxy.wsURL, { reconnect: { enabled: false } });
    const roomId = await first.createRoom();
    const viewer = await client();
    const calls = recordCalls(viewer, 'goToSlide');
    await viewer.joinRoom(roomId);
    first.setState({ funcKey: 'draw', stateKey: 'stroke-1' }, 'a');
    first.setState('goToSlide', 2);
    await until(() => calls.get('goToSlide').length === 1, { what: 'the state' });
    const { ownerKey } = first;
    const away = nextEvent(viewer, 'owneraway');
    proxy.cut();
    await away;

    // The first connection of the new client drops right after the resume reply, before the replay.
    let cut = false;
    let cutSocket = null;
    class CutAfterResumeReply extends WebSocket {
      set onmessage(handler) {
        super.onmessage = (event) => {
          if (cut && this === cutSocket) return; // what followed the reply never arrives
          handler(event);
          if (!cut && JSON.parse(event.data).owner === 'back') {
            cut = true;
            cutSocket = this;
            this.terminate();
          }
        };
      }
    }
    const second = await client(server.wsURL, { WebSocket: CutAfterResumeReply });
    const reconnecting = nextEvent(second, 'reconnecting');
    const resumed = second.resumeRoom(roomId, ownerKey);
    await reconnecting;
    assert.deepEqual(await resumed, {
      roomId,
      stateCount: 2,
      state: [
        { funcKey: 'draw', funcParams: ['a'], stateKey: 'stroke-1', seq: 1 },
        { funcKey: 'goToSlide', funcParams: ['2'], seq: 2 },
      ],
    });
    assert.equal(second.role, 'owner');
  });

  test('an owner whose room another connection takes back with the owner key is told at once, and never takes it back', async () => {
    const owner = await client(proxy.wsURL);
    const roomId = await owner.createRoom();
    const { ownerKey } = owner;
    const viewer = await client();
    const calls = recordCalls(viewer, 'live');
    await viewer.joinRoom(roomId);
    let backs = 0;
    viewer.addEventListener('ownerback', () => (backs += 1));

    const replaced = nextEvent(owner, 'roomclosed');
    const second = await client();
    const secondClosed = [];
    second.addEventListener('roomclosed', ({ detail }) => secondClosed.push(detail));
    await second.resumeRoom(roomId, ownerKey);
    assert.deepEqual(await replaced, { roomId, reason: 'replaced' }); // without broadcasting
    assert.equal(owner.role, null);
    assert.equal(owner.ownerKey, null);
    assert.throws(() => owner.broadcast('stale'), { code: 'not_in_room' });

    // Its connection drops: it comes back in no room. A request after the reconnect follows any
    // resume it would have sent.
    const reopened = nextEvent(owner, 'open');
    proxy.cut();
    assert.deepEqual(await reopened, { reconnected: true });
    assert.match(await owner.createRoom(), UUID);
    second.broadcast('live', 'from the new owner');
    await until(() => calls.get('live').length === 1, { what: 'the new owner\'s broadcast' });
    assert.equal(second.role, 'owner');
    assert.deepEqual(secondClosed, []);
    assert.equal(backs, 1);
  });

  test('a server shutting down (1001) makes clients reconnect after the delay it names', async () => {
    const doomed = await startServer(['-drain-spread', '3s']);
    const viewer = await client(doomed.wsURL);
    const reconnecting = nextEvent(viewer, 'reconnecting');
    await doomed.stop();
    const { code, reason, delay } = await reconnecting;
    assert.equal(code, 1001);
    const named = /reconnect in (\d+) ms/.exec(reason);
    assert.ok(named, `close reason ${JSON.stringify(reason)} names no delay`);
    assert.equal(delay, Number(named[1]));
    assert.ok(delay >= 0 && delay < 3000, `delay ${delay} outside the spread`);
    viewer.disconnect();
  });

  test('reconnect gives up after maxAttempts and emits closed', async () => {
    const doomed = await startServer(['-drain-spread', '0s']);
    const viewer = await client(doomed.wsURL, { reconnect: { ...FAST_RECONNECT, maxAttempts: 2 } });
    const closed = nextEvent(viewer, 'closed');
    await doomed.stop();
    await closed;
    await assert.rejects(viewer.ready(), { code: 'closed' });
  });
});

describe('refused connections', () => {
  /** A WebSocket class that sends `origin`, as a page on that origin does. */
  const fromOrigin = (origin) =>
    class extends WebSocket {
      constructor(url, protocols) {
        super(url, protocols, { origin });
      }
    };

  /** Keeps every `types` event of `target`, in order, as [type, detail]. */
  function recordEvents(target, ...types) {
    const events = [];
    for (const type of types) target.addEventListener(type, ({ detail }) => events.push([type, detail]));
    return events;
  }

  test('a page on an origin the server refuses gets origin_refused, once, and no retry', async (t) => {
    const strict = await startServer(['-allowed-origins', 'https://allowed.example']);
    t.after(() => strict.stop());
    const page = new Broadcaster(strict.wsURL, { WebSocket: fromOrigin('https://elsewhere.example'), reconnect: FAST_RECONNECT });
    const events = recordEvents(page, 'error', 'reconnecting', 'closed');
    await assert.rejects(page.createRoom(), { code: 'origin_refused' });
    await until(() => events.some(([type]) => type === 'closed'), { what: 'closed' });
    assert.deepEqual(events.map(([type]) => type), ['error', 'closed']);
    const [[, { error, retryIn }], [, closed]] = events;
    assert.ok(error instanceof BroadcastError);
    assert.equal(error.code, 'origin_refused');
    assert.match(error.message, /refused the connection: origin not allowed$/);
    assert.equal(retryIn, undefined);
    assert.deepEqual(closed, { code: 4403, reason: 'origin not allowed' });
    await assert.rejects(page.ready(), { code: 'origin_refused' });
  });

  test("a connection refused for its address's connection rate is tried again after the delay the server names", async (t) => {
    const limited = await startServer(['-conn-rate', '2', '-conn-burst', '1']);
    t.after(() => limited.stop());
    clients.push(await connect(limited.wsURL, { WebSocket })); // takes the burst
    const page = new Broadcaster(limited.wsURL, { WebSocket, reconnect: FAST_RECONNECT });
    clients.push(page);
    const refused = nextEvent(page, 'error');
    const reconnecting = nextEvent(page, 'reconnecting');
    const { error, retryIn } = await refused;
    assert.equal(error.code, 'too_many_connections');
    assert.match(error.message, /too many new connections from your address$/);
    assert.equal(retryIn, 1000);
    assert.equal((await reconnecting).delay, 1000);
    assert.match(await page.createRoom(), UUID);
  });
});

describe('request ids', () => {
  const MISSING_ROOM = '00000000-0000-4000-8000-000000000000';

  /**
   * A WebSocket class for `options.WebSocket` that logs what its connections send and receive,
   * parsed, in order: wire holds ['sent', frame] and ['received', frame]. With `stripIds` it takes
   * the id out of every frame it sends, so that the server echoes none, as an older server would.
   */
  function wireLog({ stripIds = false } = {}) {
    const wire = [];
    class LoggingWebSocket extends WebSocket {
      constructor(url) {
        super(url);
        this.addEventListener('message', ({ data }) => wire.push(['received', JSON.parse(data)]));
      }

      send(data) {
        const frame = JSON.parse(data);
        if (stripIds) delete frame.id;
        wire.push(['sent', frame]);
        super.send(JSON.stringify(frame));
      }
    }
    return { WebSocket: LoggingWebSocket, wire };
  }

  /** The error events of `broadcaster`, as [code, id, funcKey]. */
  function recordRefusals(broadcaster) {
    const refusals = [];
    broadcaster.addEventListener('error', ({ detail }) => refusals.push([detail.error.code, detail.id, detail.funcKey]));
    return refusals;
  }

  /** A server of its own for test `t` started with `flags`; it and `t`'s clients stop when `t` ends. */
  async function serverFor(t, flags) {
    const own = await startServer(flags);
    const started = [];
    t.after(async () => {
      for (const broadcaster of started) broadcaster.disconnect();
      await own.stop();
    });
    return async (options) => {
      const broadcaster = await client(own.wsURL, options);
      started.push(broadcaster);
      return broadcaster;
    };
  }

  /** Two joins sent together: the missing room's is refused, the other's joins. */
  async function overlappingJoins(viewer, roomId) {
    const [missing, joined] = await Promise.allSettled([viewer.joinRoom(MISSING_ROOM), viewer.joinRoom(roomId)]);
    assert.equal(missing.reason?.code, 'room_not_found');
    assert.deepEqual(joined.value, { roomId, stateCount: 0 });
  }

  test('requests overlap: each is sent at once with a fresh id, and each reply settles the request its id names', async () => {
    const { roomId } = await ownerWithRoom();
    const { WebSocket: Logging, wire } = wireLog();
    const viewer = await client(server.wsURL, { WebSocket: Logging });
    await overlappingJoins(viewer, roomId);

    assert.deepEqual(wire.map(([way]) => way), ['sent', 'sent', 'received', 'received'], 'the second join did not wait for the first reply');
    const [first, second] = wire.slice(0, 2).map(([, frame]) => frame.id);
    assert.equal(typeof first, 'string');
    assert.notEqual(first, second);
    assert.deepEqual(wire.slice(2).map(([, frame]) => frame.id), [first, second]);
  });

  test("an error reply is routed to the request it answers: a broadcast's refusal is an error event naming it, the close's rejects the close", async (t) => {
    const limitedClient = await serverFor(t, ['-rate', '0.001', '-rate-burst', '2']);
    const owner = await limitedClient();
    await owner.createRoom(); // the burst's first message
    const refusals = recordRefusals(owner);
    const refusal = nextEvent(owner, 'error');

    owner.broadcast('first'); // the burst's last
    const refusedId = owner.broadcast('second');
    await assert.rejects(owner.closeRoom(), { name: 'BroadcastError', code: 'rate_limited' });
    await refusal;
    assert.deepEqual(refusals, [['rate_limited', refusedId, 'second']]);
    assert.equal(owner.role, 'owner', 'the refused close left the room as it was');
  });

  test('refused setState calls are each named in their error event, while a close waits for its reply', async (t) => {
    const smallClient = await serverFor(t, ['-max-state-messages', '1']);
    const owner = await smallClient();
    await owner.createRoom();
    const refusals = recordRefusals(owner);

    assert.equal(typeof owner.setState({ funcKey: 'draw', stateKey: 'one' }, 'x'), 'string');
    const refused = [owner.setState({ funcKey: 'draw', stateKey: 'two' }, 'y'), owner.setState('title', 'z')];
    await owner.closeRoom(); // answered after the refusals, which the server sends in order
    assert.deepEqual(refusals, [['state_full', refused[0], 'draw'], ['state_full', refused[1], 'title']]);
    assert.equal(owner.role, null);
  });

  test('against a server that echoes no ids, replies settle the requests in order, and refusals of actions are named by nothing', async (t) => {
    const smallClient = await serverFor(t, ['-max-state-messages', '1']);
    const older = wireLog({ stripIds: true });
    const owner = await smallClient({ WebSocket: older.WebSocket });
    const roomId = await owner.createRoom();
    const viewer = await smallClient({ WebSocket: older.WebSocket });
    await overlappingJoins(viewer, roomId);

    const refusals = recordRefusals(owner);
    owner.setState('one', 'x');
    owner.setState('two', 'y'); // state_full: without an id it is an error event, not the close's reply
    await owner.closeRoom();
    assert.deepEqual(refusals, [['state_full', undefined, undefined]]);
    assert.ok(older.wire.length > 0 && older.wire.every(([, frame]) => frame.id === undefined), 'an id reached the wire');
  });
});

describe('backoffDelay', () => {
  test('full jitter: uniform below an exponential ceiling capped at maxDelay', () => {
    const options = { initialDelay: 100, maxDelay: 1000 };
    assert.equal(backoffDelay(0, options, () => 0.999), 99);
    assert.equal(backoffDelay(3, options, () => 0.5), 400);
    assert.equal(backoffDelay(10, options, () => 0.999), 999);
    assert.equal(backoffDelay(10, options, () => 0), 0);
  });
});

describe('construction', () => {
  test('without a WebSocket implementation it says what to pass', () => {
    assert.throws(() => new Broadcaster('ws://127.0.0.1:1/broadcast', { WebSocket: undefined }), /options\.WebSocket/);
  });

  test('http URLs are turned into ws URLs', async () => {
    const broadcaster = await client(server.httpURL + 'broadcast');
    assert.equal(broadcaster.isOpen, true);
  });
});

describe('missed pongs', () => {
  /** The names of the events of `broadcaster` among `types`, in the order they came. */
  function eventLog(broadcaster, ...types) {
    const log = [];
    for (const type of types) broadcaster.addEventListener(type, () => log.push(type));
    return log;
  }

  test('an owner and a viewer frozen past the pong timeout come back: the viewer recovers, the owner resumes, the room goes on', { timeout: 15_000 }, async (t) => {
    const pinging = await startServer(['-ping-interval', '200ms', '-pong-timeout', '300ms']);
    const frozen = await startProxy(pinging.port);
    t.after(async () => {
      frozen.close();
      await pinging.stop();
    });
    const owner = await client(frozen.wsURL);
    const roomId = await owner.createRoom();
    owner.setState('goToSlide', 1);
    const viewer = await client(frozen.wsURL);
    const calls = recordCalls(viewer, 'goToSlide', 'live');
    await viewer.joinRoom(roomId);
    const watcher = await client(pinging.wsURL); // on no proxy: sees the room go on
    await watcher.joinRoom(roomId);
    await until(() => calls.get('goToSlide').length === 1, { what: 'the replay' });
    const ownerLog = eventLog(owner, 'reconnecting', 'joined', 'roomclosed', 'closed');
    const viewerLog = eventLog(viewer, 'reconnecting', 'joined', 'recovered', 'roomclosed', 'closed');
    const away = nextEvent(watcher, 'owneraway');

    // A suspended tab: its machine still receives, but nothing it sends gets out. Whatever the
    // server sends as it drops them reaches them at once: a close 1000 would end their room.
    frozen.pause('up');
    await away; // the server dropped the owner
    await until(() => ownerLog.length > 0 && viewerLog.length > 0, { what: 'the server to drop both' });
    assert.deepEqual({ owner: ownerLog, viewer: viewerLog }, { owner: ['reconnecting'], viewer: ['reconnecting'] });
    owner.setState('goToSlide', 2); // queued by the owner: its room is coming back
    const back = nextEvent(watcher, 'ownerback', 10_000);
    frozen.resume();

    await back;
    await until(() => viewerLog.includes('recovered') || viewerLog.includes('closed'), { what: 'the viewer to rejoin' });
    await until(() => calls.get('goToSlide').length === 2, { what: 'the state set while the owner was away' });
    owner.broadcast('live', 'after');
    await until(() => calls.get('live').length === 1, { what: 'the owner\'s broadcast after the resume' });
    assert.deepEqual(ownerLog, ['reconnecting', 'joined']);
    assert.deepEqual(viewerLog, ['reconnecting', 'recovered', 'joined']);
    assert.equal(owner.role, 'owner');
    assert.equal(viewer.roomId, roomId);
    assert.deepEqual(calls.get('goToSlide'), [['1'], ['2']]);
  });
});
