// A TCP proxy between a client and the server, so that a test can drop connections the way a
// network does: the server keeps running and its rooms stay open.
import net from 'node:net';

/**
 * Listens on a free port of 127.0.0.1 and forwards every connection to `targetPort`.
 *   cut()         destroys every open connection, without a WebSocket close frame
 *   refuse(on)    while on, new connections are dropped as soon as they arrive
 *   cutAfter(n)   once: the connection that next carries n more bytes from the server to the client,
 *                 counted from now over all connections, delivers exactly n and is then reset
 *   pause(what)   holds what clients send ('up': a frozen client whose machine still receives) or
 *                 everything ('both', the default: a dead network), new connections included
 *   resume()      forwards again what was held
 *   breakWebSockets(on)  while on, a WebSocket handshake is answered 403 and closed, as by a
 *                 corporate proxy that does not pass WebSocket; plain HTTP goes through
 *   retarget(p)   new connections go to port p from now on, as a load balancer that sends a client
 *                 back to another node; open ones are untouched
 */
export async function startProxy(targetPort) {
  const open = new Set();
  let refusing = false;
  let breakingWebSockets = false;
  let cutLeft = null; // the armed cutAfter: bytes still to deliver before the cut
  let target = targetPort;

  /** upstream.pipe(client), except that it makes the armed cut. */
  const forwardDownstream = (upstream, client) => {
    let severed = false;
    upstream.on('data', (chunk) => {
      if (severed) return;
      if (cutLeft === null || chunk.length < cutLeft) {
        if (cutLeft !== null) cutLeft -= chunk.length;
        if (!client.write(chunk)) upstream.pause();
        return;
      }
      const last = chunk.subarray(0, cutLeft);
      cutLeft = null;
      severed = true;
      client.write(last, () => client.resetAndDestroy()); // a reset once the n bytes are sent
    });
    upstream.on('end', () => client.end());
    client.on('drain', () => {
      if (paused !== 'both') upstream.resume(); // a pause outlasts backpressure
    });
  };

  let paused = null; // null, 'up' or 'both'
  const hold = ({ client, upstream }) => {
    if (paused) client.pause();
    if (paused === 'both') upstream.pause();
  };
  const server = net.createServer((client) => {
    if (refusing) return client.destroy();
    const upstream = net.connect(target, '127.0.0.1');
    const pair = { client, upstream };
    open.add(pair);
    const drop = () => {
      open.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    if (breakingWebSockets) {
      client.once('data', (head) => {
        if (/\r\nupgrade:\s*websocket/i.test(head.toString('latin1'))) {
          client.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
          upstream.destroy();
          return;
        }
        upstream.write(head);
        client.pipe(upstream);
      });
    } else {
      client.pipe(upstream);
    }
    forwardDownstream(upstream, client);
    hold(pair);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    port,
    httpURL: `http://127.0.0.1:${port}/`,
    wsURL: `ws://127.0.0.1:${port}/broadcast`,
    get connections() {
      return open.size;
    },
    cut() {
      for (const { client, upstream } of open) {
        client.resetAndDestroy(); // a TCP reset: the client sees an abnormal close (1006)
        upstream.destroy();
      }
      open.clear();
    },
    refuse(on) {
      refusing = on;
    },
    breakWebSockets(on) {
      breakingWebSockets = on;
    },
    cutAfter(n) {
      cutLeft = n;
    },
    retarget(port) {
      target = port;
    },
    pause(what = 'both') {
      paused = what;
      for (const pair of open) hold(pair);
    },
    resume() {
      paused = null;
      for (const { client, upstream } of open) {
        client.resume();
        upstream.resume();
      }
    },
    close() {
      this.cut();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
