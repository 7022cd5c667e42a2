// Builds the Go server once per test process and starts instances of it on free ports.
import { spawn, execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

let binary;

/** RTB_BINARY names a prebuilt server; otherwise the test builds one from this checkout. */
function serverBinary() {
  binary ??= process.env.RTB_BINARY
    ? Promise.resolve(process.env.RTB_BINARY)
    : buildServer();
  return binary;
}

async function buildServer() {
  const out = path.join(await mkdtemp(path.join(tmpdir(), 'rtb-test-')), 'rtbroadcaster');
  await promisify(execFile)('go', ['build', '-o', out, './cmd/rtbroadcaster'], { cwd: repoRoot });
  return out;
}

/**
 * Starts a server on 127.0.0.1 and a free port, with extra command-line flags.
 * Resolves to {httpURL, wsURL, port, stop()} once it logs the address it listens on.
 */
export async function startServer(flags = []) {
  const child = spawn(await serverBinary(), ['serve', '-addr', '127.0.0.1:0', '-allowed-origins', '*', ...flags], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const httpURL = await listeningURL(child);
  const port = Number(new URL(httpURL).port);
  return {
    httpURL,
    wsURL: `ws://127.0.0.1:${port}/broadcast`,
    port,
    stop: () => stopProcess(child),
  };
}

/** The server logs `url=http://127.0.0.1:PORT/` once it listens. */
function listeningURL(child) {
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => fail(new Error(`the server did not start within 10 s:\n${log}`)), 10_000);
    const fail = (error) => {
      clearTimeout(timer);
      child.kill();
      reject(error);
    };
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const match = /url=(http:\/\/127\.0\.0\.1:\d+\/)/.exec(log);
      if (match) {
        clearTimeout(timer);
        child.stderr.resume(); // keep draining the log so the server never blocks on it
        child.stderr.removeAllListeners('data');
        resolve(match[1]);
      }
    });
    child.on('exit', (code) => fail(new Error(`the server exited with ${code}:\n${log}`)));
  });
}

function stopProcess(child) {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });
}
