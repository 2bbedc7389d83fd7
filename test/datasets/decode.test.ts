/**
 * Damaged and unusual inputs: every failure names the file, none hangs, and what PIL accepts
 * (e.g. trailing bytes after the image) is accepted.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeImage, ImageDecodeError } from '../../datasets/decode.js';
import { hasAdobeMarker, jpegFrame } from '../../datasets/jpeg-header.js';
import { preprocessImage } from '../../datasets/preprocess.js';
import { resolvePreprocessSpec } from '../../datasets/preprocess-spec.js';
import { fixture, removeTempDirs, tempDir } from './helpers.js';

afterAll(removeTempDirs);

const jpeg = readFileSync(fixture('rgb_500x375.jpg'));

function damaged(name: string, bytes: Buffer): string {
  const path = join(tempDir(), name);
  writeFileSync(path, bytes);
  return path;
}

describe('damaged images', () => {
  const spec = resolvePreprocessSpec('torchvision');

  it.each([
    ['truncated in the middle', 'half.jpg', jpeg.subarray(0, jpeg.length >> 1), /premature end of JPEG/i],
    ['missing only its end marker', 'noeoi.jpg', jpeg.subarray(0, jpeg.length - 2), /premature end/i],
    [
      'with a destroyed header',
      'head.jpg',
      Buffer.concat([jpeg.subarray(0, 2), Buffer.alloc(198), jpeg.subarray(200)]),
      /not a readable image/,
    ],
    [
      'not an image at all',
      'text.jpg',
      Buffer.from('hello, not an image\n'.repeat(20)),
      /not a readable image/,
    ],
    ['empty', 'empty.jpg', Buffer.alloc(0), /empty file/],
  ])('%s: a clear error naming the file', async (_, name, bytes, message) => {
    const path = damaged(name, bytes);
    for (const preset of ['torchvision', 'mlperf'] as const) {
      const error = await preprocessImage(path, resolvePreprocessSpec(preset)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ImageDecodeError);
      expect((error as Error).message.startsWith(`${path}: `)).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
  });

  it('a missing file', async () => {
    await expect(preprocessImage('/no/such/image.jpg', spec)).rejects.toThrow(
      /\/no\/such\/image\.jpg: cannot read/,
    );
  });

  it('accepts bytes after the end of the image, as PIL does', async () => {
    const path = damaged('trailing.jpg', Buffer.concat([jpeg, Buffer.alloc(100)]));
    const a = await preprocessImage(path, spec);
    const b = await preprocessImage(fixture('rgb_500x375.jpg'), spec);
    expect(a).toEqual(b);
  });
});

describe('colour modes', () => {
  it('keeps grayscale JPEGs at one channel and expands CMYK and RGBA to RGB', async () => {
    expect((await decodeImage(fixture('gray_333x500.jpg'), 'pil')).channels).toBe(1);
    expect((await decodeImage(fixture('cmyk_400x300.jpg'), 'pil')).channels).toBe(3);
    expect((await decodeImage(fixture('rgba_200x230.png'), 'cv2')).channels).toBe(3);
  });

  it('applies EXIF orientation for the cv2 loader only', async () => {
    const pil = await decodeImage(fixture('wide_700x180.jpg'), 'pil');
    const cv2 = await decodeImage(fixture('wide_700x180.jpg'), 'cv2');
    expect([pil.width, pil.height]).toEqual([700, 180]);
    expect([cv2.width, cv2.height]).toEqual([180, 700]);
  });

  it('reads the frame layout and the Adobe marker from JPEG headers', () => {
    const cmyk = readFileSync(fixture('cmyk_400x300.jpg'));
    expect(hasAdobeMarker(cmyk)).toBe(true);
    expect(hasAdobeMarker(jpeg)).toBe(false);
    expect(jpegFrame(cmyk)).toEqual({ precision: 8, components: 4 });
    expect(jpegFrame(readFileSync(fixture('gray_333x500.jpg')))).toEqual({ precision: 8, components: 1 });
    expect(jpegFrame(jpeg)).toEqual({ precision: 8, components: 3 });
    expect(jpegFrame(readFileSync(fixture('rgba_200x230.png')))).toBeUndefined();
    expect(jpegFrame(jpeg.subarray(0, 30))).toBeUndefined();
  });
});
