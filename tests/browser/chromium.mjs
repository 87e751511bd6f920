// Debian's chromium, driven by playwright-core: no browser download.
import { before, after } from "node:test";
import { chromium } from "playwright-core";
import { startServer } from "../../scripts/serve.mjs";

/** Flags for headless chromium as root on a machine whose only network is loopback. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

/** Launches /usr/bin/chromium (or $CHROMIUM). */
export function launchChromium() {
  return chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: CHROMIUM_ARGS });
}

/** Opens `url` in a fresh page that fails the test on any console error or page error. */
export async function openPage(browser, url) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
  await page.goto(url);
  return { page, errors };
}

/**
 * Registers before/after hooks that start the loopback server (scripts/serve.mjs) and chromium
 * for a test file; the returned object gets the server's `url`, `server`, `collector` and
 * `overrides`, and `browser`, once they run.
 */
export function serveAndLaunch() {
  const context = {};
  before(async () => {
    Object.assign(context, await startServer());
    context.browser = await launchChromium();
  });
  after(async () => {
    await context.browser?.close();
    context.server?.closeAllConnections();
    context.server?.close();
  });
  return context;
}

/**
 * Opens the demo in `context` (a browser context: its own storage, cache and service worker) with
 * the given query string, and waits until it is ready or failed. Console errors are collected.
 */
export async function visitDemo(context, url, query = "") {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
  await page.goto(`${url}/www/index.html${query}`);
  await page.waitForSelector("body[data-state=ready], body[data-state=failed]", { timeout: 30_000 });
  return { page, errors };
}
