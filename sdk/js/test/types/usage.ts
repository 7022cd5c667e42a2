// Compiled by types.test.mjs (never run): the declarations must accept what the README shows
// and reject obvious mistakes.
import { Broadcaster, BroadcastError, RTBroadcaster, connect } from 'rtbroadcaster'; // this package, through its package.json exports
import type { StateEntry } from 'rtbroadcaster';

async function modern(): Promise<void> {
  const owner = await connect('wss://example.invalid/broadcast', { reconnect: { maxDelay: 5000 } });
  const roomId: string = await owner.createRoom();
  owner.broadcast('goToSlide', 4, 'fade', true);
  owner.setState('goToSlide', 4);
  owner.setState({ funcKey: 'draw', stateKey: 'stroke-1' }, '10,20 30,40');
  owner.setState({ funcKey: 'goToSlide', clearState: true }, 1);
  const laser: string = owner.broadcast('laser', 120, 80);
  owner.broadcast({ funcKey: 'laser', conflate: true }, 120, 80);
  owner.broadcast({ funcKey: 'cursor', stateKey: 'cursor-ana', conflate: true }, 3, 4);
  owner.addEventListener('error', ({ detail }) => {
    if (detail.id === laser) console.log(`the server refused ${detail.funcKey ?? 'a message'}: ${detail.error.code}`);
  });
  owner.addEventListener('viewers', (event) => console.log(event.detail.count.toFixed(0)));
  await owner.closeRoom();

  const viewer = new Broadcaster('/broadcast');
  const off: () => void = viewer.on('goToSlide', (slide) => console.log(slide.toUpperCase()));
  off();
  viewer.addEventListener('roomclosed', (event) => console.log(event.detail.reason, event.detail.by === 'operator'));
  viewer.addEventListener('reconnecting', (event) => console.log(event.detail.attempt + event.detail.delay));
  viewer.addEventListener('clearstate', (event) => console.log(event.detail.funcKey.length));
  viewer.addEventListener('skipped', ({ detail }) => console.log(detail.to - detail.from + 1, detail.roomId));
  viewer.addEventListener('error', ({ detail }) => {
    if (detail.error.code === 'origin_refused') console.log('this page may not connect:', detail.error.message);
    else if (detail.retryIn !== undefined) console.log(`refused; trying again in ${detail.retryIn.toFixed(0)} ms`, detail.error.retry === true);
  });
  const { stateCount } = await viewer.joinRoom(roomId);
  console.log(stateCount + 1);
  try {
    await viewer.joinRoom('nope');
  } catch (error) {
    if (error instanceof BroadcastError && error.code === 'room_not_found') viewer.disconnect();
  }
  // @ts-expect-error parameters are strings, numbers or booleans
  owner.broadcast('goToSlide', { slide: 4 });

  // A viewer behind a proxy that breaks WebSocket follows over Server-Sent Events.
  const follower = new Broadcaster('/broadcast', { transport: 'auto' });
  follower.addEventListener('transport', ({ detail }) => console.log(detail.transport === 'sse', follower.transport));
  const sseOnly = await connect('/broadcast', { transport: 'sse' });
  await sseOnly.joinRoom(roomId);
  // @ts-expect-error the original API has no transport: it stays on WebSocket
  new RTBroadcaster('/broadcast', null, null, null, null, { transport: 'sse' });
}

async function reloadedPresenter(showSlide: (slide: number) => void): Promise<void> {
  const broadcaster = await connect('/broadcast', { offlineQueue: 100 });
  const saved = JSON.parse(sessionStorage.getItem('presenting') ?? 'null') as { roomId: string; ownerKey: string } | null;
  const resumed = saved ? await broadcaster.resumeRoom(saved.roomId, saved.ownerKey).catch(() => null) : null;
  const state: StateEntry[] = resumed?.state ?? [];
  for (const { funcKey, funcParams, stateKey, seq } of state) {
    if (funcKey === 'goToSlide') showSlide(Number(funcParams[0]));
    console.log(stateKey?.length, seq.toFixed(0));
  }
  const roomId: string = resumed?.roomId ?? (await broadcaster.createRoom());
  sessionStorage.setItem('presenting', JSON.stringify({ roomId, ownerKey: broadcaster.ownerKey }));
  broadcaster.addEventListener('resumed', ({ detail }) => console.log(detail.queued + detail.resent + detail.stateCount, detail.roomId));
  broadcaster.addEventListener('error', ({ detail }) => {
    if (detail.error.code === 'queue_dropped') console.log(`${detail.dropped ?? 0} messages were lost`);
  });
  try {
    broadcaster.setState('goToSlide', 5);
  } catch (error) {
    if (error instanceof BroadcastError && error.code === 'queue_full') console.log('offline too long');
  }
}

function legacy(): void {
  const page = new RTBroadcaster('ws://localhost:8080/broadcasting', (uuid) => console.log(uuid.length), null, null, (message) => console.log(message));
  page.suscribeFunc('setColor', (params) => console.log(params[0]));
  const sent: boolean = page.sendAction('setColor', ['red'], true);
  console.log(sent, page.isOwner, page.connected, page.uuid);
}

console.log(modern, legacy, reloadedPresenter);
