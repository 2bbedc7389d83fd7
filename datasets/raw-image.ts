/** Decoded 8-bit pixels, interleaved (HWC), as sharp's raw output gives them. */
export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/** A rectangle of an image: columns [left, left + width), rows [top, top + height). */
export interface Window {
  left: number;
  top: number;
  width: number;
  height: number;
}

export function fullWindow(width: number, height: number): Window {
  return { left: 0, top: 0, width, height };
}

/** Throws unless `window` lies inside a width × height image. */
export function checkWindow(window: Window, width: number, height: number): void {
  const { left, top } = window;
  if (left < 0 || top < 0 || left + window.width > width || top + window.height > height) {
    throw new Error(`window ${JSON.stringify(window)} is outside the ${width}x${height} image`);
  }
}

/** Python's round() (and OpenCV's cvRound): halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Copies a window out of an image. */
export function cropRaw(image: RawImage, window: Window): RawImage {
  const { channels: c } = image;
  const out = new Uint8Array(window.width * window.height * c);
  const rowBytes = window.width * c;
  for (let y = 0; y < window.height; y++) {
    const from = ((window.top + y) * image.width + window.left) * c;
    out.set(image.data.subarray(from, from + rowBytes), y * rowBytes);
  }
  return { data: out, width: window.width, height: window.height, channels: c };
}
