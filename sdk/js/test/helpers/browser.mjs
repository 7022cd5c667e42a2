// Headless Chromium for the end-to-end tests: Debian's chromium driven by playwright-core.
// Nothing here downloads a browser.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from './server.mjs';

export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Where screenshots go: /artifacts/ at the repository root, which git ignores. */
export const artifactsDir = path.join(repoRoot, 'artifacts', 'browser');

// The machine has no network but loopback: these keep Chromium from trying to reach anything.
const CHROMIUM_FLAGS = [
  '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run',
  '--disable-component-update', '--disable-sync',
];

/** Loads playwright-core, or says why the browser tests cannot run. */
export async function loadPlaywright() {
  if (!existsSync(chromiumPath)) {
    return { missing: `no Chromium at ${chromiumPath} (apt-get install chromium, or set CHROMIUM_PATH)` };
  }
  try {
    const { chromium } = await import('playwright-core');
    return { chromium };
  } catch (error) {
    return { missing: `playwright-core is not installed (npm ci in sdk/js): ${error.message}` };
  }
}

/** A headless browser with a fresh profile; close() also removes the profile. */
export async function launchBrowser(chromium) {
  const profile = await mkdtemp(path.join(tmpdir(), 'rtb-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1100, height: 760 },
  });
  await mkdir(artifactsDir, { recursive: true });
  return {
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
