/**
 * Headless Chromium for the dashboard test, driven by puppeteer-core with the system browser
 * (Debian package `chromium`; `npm test` installs it). Resolves { browser } or { reason } when no
 * browser can be started here, so the caller reports the test skipped with that reason.
 */
import { existsSync } from 'node:fs';
import puppeteer, { type Browser } from 'puppeteer-core';

/** Candidate executables, first existing wins ($TEST_CHROMIUM first). */
export const CHROMIUM_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

export async function launchBrowser(): Promise<{ browser: Browser } | { reason: string }> {
  const candidates = [process.env.TEST_CHROMIUM, ...CHROMIUM_PATHS].filter((p): p is string => !!p);
  const exe = candidates.find((p) => existsSync(p));
  if (!exe)
    return {
      reason: `no Chromium found (tried ${candidates.join(', ')}; install the Debian package chromium or set TEST_CHROMIUM)`,
    };
  const args = [
    '--headless=new',
    '--disable-gpu',
    '--disable-dev-shm-usage',
    '--no-first-run',
    '--no-default-browser-check',
    '--window-size=1280,900',
  ];
  if (process.getuid?.() === 0) args.push('--no-sandbox'); // Chromium refuses to sandbox as root
  try {
    const browser = await puppeteer.launch({
      executablePath: exe,
      headless: true,
      args,
      timeout: 60_000,
      defaultViewport: { width: 1280, height: 900 },
    });
    return { browser };
  } catch (err) {
    return { reason: `${exe} did not start: ${(err as Error).message.split('\n')[0]}` };
  }
}
