// UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits, so event ids sort by time.

let lastMillis = -1;
let sequence = 0;

/**
 * A new UUIDv7. Ids made in the same millisecond by this module stay in creation order: the 12
 * bits after the version count up within the millisecond (RFC 9562, method 1).
 * @returns {string}
 */
export function uuidv7() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let millis = Date.now();
  if (millis <= lastMillis) {
    sequence += 1;
    if (sequence > 0xfff) {
      lastMillis += 1;
      sequence = 0;
    }
    millis = lastMillis;
  } else {
    lastMillis = millis;
    sequence = bytes[6] & 0x07; // a random start leaves room to count up within the millisecond
  }
  for (let i = 5; i >= 0; i--) {
    bytes[i] = millis % 256;
    millis = Math.floor(millis / 256);
  }
  bytes[6] = 0x70 | (sequence >> 8);
  bytes[7] = sequence & 0xff;
  bytes[8] = 0x80 | (bytes[8] & 0x3f);
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The pattern every UUIDv7 matches. */
export const UUIDV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
