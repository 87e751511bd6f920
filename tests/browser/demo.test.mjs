// The demo page in headless chromium, served with the Content-Security-Policy it must work under.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { openPage, serveAndLaunch } from "./chromium.mjs";

const env = serveAndLaunch();

test("the demo loads the embedded model under CSP, predicts, and looks right", async () => {
  const response = await fetch(`${env.url}/www/index.html`);
  assert.match(response.headers.get("content-security-policy"), /script-src 'self' 'wasm-unsafe-eval'/);
  const { page, errors } = await openPage(env.browser, `${env.url}/www/index.html`);
  await page.waitForSelector("body[data-state=ready]", { timeout: 30_000 });
  assert.deepEqual(errors, []);
  const info = await page.locator("#model-info").innerText();
  assert.match(info, /digits-mlp-int8@1\.0\.0/);
  assert.match(info, /\d+\/\d+ match onnxruntime/);
  assert.equal(await page.locator("#model-info .fail").count(), 0);
  assert.equal(await page.locator("#samples canvas").count(), 20);
  assert.equal(await page.locator("#bars li").count(), 10);
  // The picked sample is a "3" from the holdout, which the model gets right.
  assert.equal(await page.locator("#label").innerText(), "3");
  await page.locator("#samples canvas").nth(18).click();
  assert.equal(await page.locator("#label").innerText(), "9");
  const width = await page.locator("#bars li.top .fill").evaluate((el) => el.getBoundingClientRect().width);
  assert.ok(width > 50, `the winning bar is drawn (${width}px)`);
  mkdirSync("target/screenshots", { recursive: true });
  const png = await page.screenshot({ path: "target/screenshots/demo.png", fullPage: true });
  assert.ok(png.length > 20_000, "the screenshot has content");
});
