// The demo's drawing pad: a canvas the visitor draws a digit on, turned into the 8×8 features the
// digits models were trained on (scikit-learn's digits: 32×32 bitmaps, ink counted in 4×4 blocks,
// so each feature is 0..16).

/**
 * Makes `canvas` a drawing pad: pointer strokes in white on black. Calls `onStroke` when a stroke
 * ends. Returns a function that clears the pad.
 * @param {HTMLCanvasElement} canvas
 * @param {() => void} onStroke
 */
export function drawingPad(canvas, onStroke) {
  const context = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d", { willReadFrequently: true }));
  const clear = () => {
    context.fillStyle = "#000";
    context.fillRect(0, 0, canvas.width, canvas.height);
  };
  clear();
  context.lineCap = "round";
  context.lineJoin = "round";
  context.strokeStyle = "#fff";
  context.lineWidth = canvas.width / 5;
  /** @type {{x: number, y: number} | null} */
  let last = null;
  const at = (/** @type {PointerEvent} */ event) => {
    const box = canvas.getBoundingClientRect();
    return { x: ((event.clientX - box.left) / box.width) * canvas.width, y: ((event.clientY - box.top) / box.height) * canvas.height };
  };
  canvas.addEventListener("pointerdown", (event) => {
    canvas.setPointerCapture(event.pointerId);
    last = at(event);
    context.beginPath();
    context.arc(last.x, last.y, context.lineWidth / 2, 0, 2 * Math.PI);
    context.fillStyle = "#fff";
    context.fill();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!last) return;
    const point = at(event);
    context.beginPath();
    context.moveTo(last.x, last.y);
    context.lineTo(point.x, point.y);
    context.stroke();
    last = point;
  });
  const end = () => {
    if (!last) return;
    last = null;
    onStroke();
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  return clear;
}

/**
 * The 64 features of what is drawn on `canvas`: the ink's bounding box scaled to fit 32×32
 * (keeping its aspect ratio) and centred, then the ink in each 4×4 block summed to 0..16.
 * Null when nothing is drawn.
 * @param {HTMLCanvasElement} canvas
 * @returns {Float32Array | null}
 */
export function digitFeatures(canvas) {
  const context = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d", { willReadFrequently: true }));
  const { data, width, height } = context.getImageData(0, 0, canvas.width, canvas.height);
  let [left, top, right, bottom] = [width, height, -1, -1];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (data[(y * width + x) * 4] > 64) {
        left = Math.min(left, x);
        right = Math.max(right, x);
        top = Math.min(top, y);
        bottom = Math.max(bottom, y);
      }
    }
  }
  if (right < 0) return null;
  const boxWidth = right - left + 1;
  const boxHeight = bottom - top + 1;
  const scale = 32 / Math.max(boxWidth, boxHeight);
  const small = new OffscreenCanvas(32, 32);
  const smallContext = /** @type {OffscreenCanvasRenderingContext2D} */ (small.getContext("2d", { willReadFrequently: true }));
  smallContext.fillStyle = "#000";
  smallContext.fillRect(0, 0, 32, 32);
  const w = boxWidth * scale;
  const h = boxHeight * scale;
  smallContext.drawImage(canvas, left, top, boxWidth, boxHeight, (32 - w) / 2, (32 - h) / 2, w, h);
  const pixels = smallContext.getImageData(0, 0, 32, 32).data;
  const features = new Float32Array(64);
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      features[Math.floor(y / 4) * 8 + Math.floor(x / 4)] += pixels[(y * 32 + x) * 4] / 255;
    }
  }
  return features.map((v) => Math.round(Math.min(16, v)));
}

/**
 * Paints 8×8 features (0..16) onto `canvas`, one block per feature.
 * @param {HTMLCanvasElement} canvas
 * @param {ArrayLike<number>} features
 */
export function paintFeatures(canvas, features) {
  const context = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
  const image = context.createImageData(8, 8);
  for (let i = 0; i < 64; i++) {
    const level = Math.round((features[i] / 16) * 255);
    image.data.set([level, level, level, 255], i * 4);
  }
  const scratch = new OffscreenCanvas(8, 8);
  /** @type {OffscreenCanvasRenderingContext2D} */ (scratch.getContext("2d")).putImageData(image, 0, 0);
  context.imageSmoothingEnabled = false;
  context.drawImage(scratch, 0, 0, canvas.width, canvas.height);
}
