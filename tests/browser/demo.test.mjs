// The demo page in headless chromium, served with the Content-Security-Policy it must work under:
// a visitor draws digits, sees the answer, says whether it was right, and the page is screenshotted.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { serveAndLaunch, visitDemo } from "./chromium.mjs";

const env = serveAndLaunch();

/** Strokes in the pad's unit square; each digit as a visitor might draw it with a mouse. */
const DRAWINGS = {
  0: [Array.from({ length: 33 }, (_, i) => [0.5 + 0.22 * Math.sin((i / 32) * 2 * Math.PI), 0.5 - 0.33 * Math.cos((i / 32) * 2 * Math.PI)])],
  1: [[[0.42, 0.25], [0.55, 0.15], [0.55, 0.85]]],
  4: [[[0.6, 0.85], [0.6, 0.15], [0.25, 0.6], [0.75, 0.6]]],
  7: [[[0.28, 0.2], [0.72, 0.2], [0.45, 0.85]]],
};

async function draw(page, strokes) {
  const box = await page.locator("#pad").boundingBox();
  const at = ([x, y]) => [box.x + x * box.width, box.y + y * box.height];
  for (const points of strokes) {
    await page.mouse.move(...at(points[0]));
    await page.mouse.down();
    for (const point of points.slice(1)) await page.mouse.move(...at(point), { steps: 4 });
    await page.mouse.up();
  }
}

test("the demo works under the CSP: drawn digits are recognised, and it looks right", async () => {
  const response = await fetch(`${env.url}/www/index.html`);
  const csp = response.headers.get("content-security-policy");
  assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'/);
  assert.match(csp, /worker-src 'self'/);
  const context = await env.browser.newContext({ viewport: { width: 1280, height: 720 } });
  try {
    const { page, errors } = await visitDemo(context, env.url);
    assert.equal(await page.getAttribute("body", "data-state"), "ready");
    assert.equal(await page.locator("#chip-runtime").innerText(), "runtime: worker", "the worker starts under worker-src 'self'");
    assert.equal(await page.locator("#samples canvas").count(), 10);
    assert.equal(await page.locator("#bars li").count(), 10);
    assert.match(await page.locator("#served-by").innerText(), /^arm (int8|qdq) · digits-mlp-(int8|qdq)@1\.0\.0$/);
    assert.match(await page.locator("#latency").innerText(), /ms round trip/);

    for (const [digit, strokes] of Object.entries(DRAWINGS)) {
      await page.locator("#clear").click();
      const before = await page.getAttribute("body", "data-prediction-id");
      await draw(page, strokes);
      await page.waitForFunction((id) => document.body.dataset.predictionId !== id, before);
      assert.equal(await page.locator("#label").innerText(), digit, `a drawn ${digit}`);
    }
    const width = await page.locator("#bars li.top .fill").evaluate((el) => el.getBoundingClientRect().width);
    assert.ok(width > 100, `the winning bar is drawn (${width}px)`);

    await page.locator("#samples canvas").nth(9).click();
    await page.waitForFunction(() => document.body.dataset.label === "9");
    await page.locator("#right").click();
    assert.match(await page.locator("#thanks").innerText(), /sent as confirmed/);
    await page.evaluate(() => globalThis.wasmPredictClient.flush());
    assert.match(await page.locator("#telemetry").innerText(), /Delivered\s+[1-9]/);
    assert.deepEqual(errors, []);

    mkdirSync("target/screenshots", { recursive: true });
    await page.locator("#samples canvas").nth(3).click();
    const png = await page.screenshot({ path: "target/screenshots/demo.png" });
    assert.ok(png.length > 30_000, "the screenshot has content");
  } finally {
    await context.close();
  }
});
