// The TypeScript declarations compile against an example that uses every call.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

function findCompiler() {
  try {
    return createRequire(import.meta.url).resolve('typescript/bin/tsc');
  } catch {
    return null;
  }
}

const tsc = findCompiler();
const missing = tsc ? null : 'typescript is not installed (npm ci in sdk/js)';
// Like the browser tests: skipped with the reason where typescript is missing, failed in CI.
const skip = missing && process.env.CI !== 'true' ? missing : false;

test('rtbroadcaster.d.ts describes the API the README shows', { skip }, async () => {
  assert.ok(tsc, missing);
  const usage = fileURLToPath(new URL('./types/usage.ts', import.meta.url));
  const flags = ['--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--lib', 'es2022,dom'];
  await promisify(execFile)(process.execPath, [tsc, ...flags, usage]).catch((error) => {
    assert.fail(`tsc found errors:\n${error.stdout}${error.stderr}`);
  });
});
