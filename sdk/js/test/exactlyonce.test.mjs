// Exactly once from the owner (PROTOCOL.md): an owner behind a proxy that cuts its connection in the
// middle of a burst of numbered broadcasts resumes by itself, and every viewer gets each message
// exactly once, in order; on the in-memory engine, and on Redis with two nodes, the owner coming
// back through the other one.
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import WebSocket from 'ws';
import { connect } from '../rtbroadcaster.mjs';
import { startProxy } from './helpers/proxy.mjs';
import { startServer } from './helpers/server.mjs';
import { until } from './helpers/wait.mjs';

const BURST = 10_000;
const FAST_RECONNECT = { initialDelay: 20, maxDelay: 200 };
const REDIS_URL = process.env.RTB_TEST_REDIS_URL ?? (process.env.RTB_TEST_REDIS_ADDR ? `redis://${process.env.RTB_TEST_REDIS_ADDR}/0` : 'redis://127.0.0.1:6379/0');

/** Whether Redis answers at REDIS_URL; under CI it must. */
async function redisReachable() {
  const { hostname, port } = new URL(REDIS_URL);
  const ok = await new Promise((resolve) => {
    const socket = net.connect(Number(port || 6379), hostname, () => {
      socket.end();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
  if (!ok && process.env.CI === 'true') throw new Error(`no Redis at ${REDIS_URL}, and CI=true requires one`);
  return ok;
}

/**
 * Runs the burst: an owner through a proxy to `ownerNode`, a viewer on each node, the proxy cut
 * when half the burst is sent and sent on to `resumeNode`. Resolves to the owner's resumed event.
 */
async function burstThroughCut(t, ownerNode, resumeNode) {
  const proxy = await startProxy(ownerNode.port);
  const clients = [];
  t.after(() => {
    for (const c of clients) c.disconnect();
    proxy.close();
  });
  const owner = await connect(proxy.wsURL, { WebSocket, reconnect: FAST_RECONNECT, offlineQueue: BURST });
  clients.push(owner);
  const roomId = await owner.createRoom();
  const received = [];
  for (const node of [ownerNode, resumeNode]) {
    const viewer = await connect(node.wsURL, { WebSocket, reconnect: FAST_RECONNECT });
    clients.push(viewer);
    const got = [];
    viewer.on('n', (n) => got.push(Number(n)));
    await viewer.joinRoom(roomId);
    received.push(got);
  }
  const resumed = new Promise((resolve) => owner.addEventListener('resumed', (e) => resolve(e.detail), { once: true }));

  let full = 0;
  for (let n = 1; n <= BURST; n++) {
    for (;;) {
      try {
        owner.broadcast('n', n);
        break;
      } catch (error) {
        if (error.code !== 'unacked_full' && error.code !== 'queue_full') throw error;
        full++;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    }
    if (n % 100 === 0) await new Promise((resolve) => setImmediate(resolve)); // lets the socket write
    if (n === BURST / 2) {
      proxy.retarget(resumeNode.port);
      proxy.cut();
    }
  }
  await until(() => received.every((got) => got.length >= BURST), { timeout: 60_000, what: `${BURST} messages at every viewer` });
  await new Promise((resolve) => setTimeout(resolve, 500)); // a message delivered twice would come now
  for (const [v, got] of received.entries()) {
    assert.equal(got.length, BURST, `viewer ${v}: ${got.length} messages`);
    const wrong = got.findIndex((n, i) => n !== i + 1);
    assert.equal(wrong, -1, `viewer ${v}: message ${wrong} is n=${got[wrong]}: lost, repeated or out of order`);
  }
  const detail = await resumed;
  t.diagnostic(`every viewer got ${BURST} messages exactly once, in order; resumed ${JSON.stringify(detail)}; ${full} sends waited for room`);
  return detail;
}

describe('exactly once from the owner', () => {
  test('memory: a cut in the middle of a burst of 10,000', { timeout: 120_000 }, async (t) => {
    const server = await startServer(['-owner-grace', '30s']);
    t.after(() => server.stop());
    const detail = await burstThroughCut(t, server, server);
    assert.ok(detail.queued + detail.resent > 0, 'the owner sent nothing after its resume: the cut did not cut the burst');
  });

  test('rate_limited refusals: the SDK sends the unacknowledged messages again, and fills the gaps itself', { timeout: 60_000 }, async (t) => {
    const server = await startServer(['-rate', '1000', '-rate-burst', '50']);
    const clients = [];
    t.after(async () => {
      for (const c of clients) c.disconnect();
      await server.stop();
    });
    const count = 600;
    const owner = await connect(server.wsURL, { WebSocket, reconnect: FAST_RECONNECT, offlineQueue: count });
    clients.push(owner);
    const errors = [];
    owner.addEventListener('error', ({ detail }) => errors.push(detail.error.code));
    const roomId = await owner.createRoom();
    const viewer = await connect(server.wsURL, { WebSocket, reconnect: FAST_RECONNECT });
    clients.push(viewer);
    const got = [];
    viewer.on('n', (n) => got.push(Number(n)));
    await viewer.joinRoom(roomId);
    for (let n = 1; n <= count; n++) owner.broadcast('n', n);
    await until(() => got.length >= count, { timeout: 30_000, what: `${count} messages at the viewer` });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(got, Array.from({ length: count }, (_, i) => i + 1));
    assert.ok(errors.includes('rate_limited'), `no rate_limited refusal: the test did not test the resend (${errors})`);
    assert.ok(!errors.includes('pub_seq_gap'), 'a gap was reported to the page; the SDK fills gaps itself');
    t.diagnostic(`${errors.filter((c) => c === 'rate_limited').length} rate_limited refusals; ${count} messages exactly once, in order`);
  });

  test('redis, two nodes: the owner resumes on the other node', { timeout: 120_000 }, async (t) => {
    if (!(await redisReachable())) {
      t.skip(`no Redis at ${REDIS_URL} (set RTB_TEST_REDIS_URL, or start redis-server)`);
      return;
    }
    const prefix = `rtbtest:js-once:${randomUUID().slice(0, 8)}:`;
    const flags = ['-broker', REDIS_URL, '-redis-key-prefix', prefix, '-owner-grace', '30s'];
    const nodes = [await startServer(flags), await startServer(flags)];
    t.after(() => Promise.all(nodes.map((n) => n.stop())));
    const detail = await burstThroughCut(t, nodes[0], nodes[1]);
    assert.ok(detail.queued + detail.resent > 0, 'the owner sent nothing after its resume: the cut did not cut the burst');
  });
});
