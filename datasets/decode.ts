/**
 * Image files to 8-bit pixels with sharp, the way the Python loaders the presets follow see them.
 * sharp's decoders (libjpeg-turbo/mozjpeg, libpng) give the same pixels as PIL's and OpenCV's;
 * the colour handling around them differs, so it is done here:
 *
 *  - 'pil' (PIL's Image.open(f).convert('RGB'), torchvision's loader): no EXIF rotation, embedded
 *    ICC profiles ignored, alpha dropped, CMYK converted with PIL's naive formula (not a colour-
 *    managed transform, which is what sharp would do).
 *  - 'cv2' (cv2.imread(f) with IMREAD_COLOR, the MLPerf reference loader): the same, except that a
 *    JPEG's EXIF orientation is applied and CMYK uses OpenCV's formula on libjpeg's raw values.
 *
 * Checked equal to both loaders for RGB, grayscale and CMYK JPEGs, palette (also transparent),
 * gray+alpha, 1-bit and 16-bit RGB PNGs, WebP, TIFF and GIF (not 16-bit grayscale PNGs, which
 * PIL clips to white and OpenCV rounds differently; ImageNet has none). Grayscale images stay one
 * channel (every later step works per channel; replicating to RGB at the end gives the same values).
 *
 * Damaged files are errors, never partial images: a truncated file fails as in PIL (sharp's
 * 'error' level; OpenCV would decode it with a gray bottom), an unparseable one fails in all three,
 * bytes after the end of the image are ignored as PIL ignores them, and a time limit stops a
 * decoder that would not finish.
 */
import { readFile } from 'node:fs/promises';
import sharp, { type Metadata, type Sharp, type SharpOptions } from 'sharp';
import { hasAdobeMarker, jpegFrame } from './jpeg-header.js';
import type { RawImage } from './raw-image.js';

export type LoaderRule = 'pil' | 'cv2';

/** Seconds after which sharp abandons one image. */
const DECODE_TIMEOUT_S = 60;

export class ImageDecodeError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'ImageDecodeError';
  }
}

const RASTER_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif', 'avif', 'jp2', 'raw']);

function describe(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s+/g, ' ').trim();
}

/** Reads and decodes one image file to 1 (grayscale) or 3 (RGB) channels. */
export async function decodeImage(file: string, rule: LoaderRule): Promise<RawImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new ImageDecodeError(file, `cannot read: ${describe(error)}`);
  }
  return decodeImageBuffer(bytes, file, rule);
}

/** Decodes an image held in memory; `file` names it in errors. */
export async function decodeImageBuffer(bytes: Buffer, file: string, rule: LoaderRule): Promise<RawImage> {
  if (bytes.length === 0) throw new ImageDecodeError(file, 'empty file');
  const meta = jpegLayout(bytes) ?? (await sharpLayout(bytes, file));
  const options: SharpOptions = {
    failOn: 'error',
    ignoreIcc: true,
    autoOrient: rule === 'cv2' && meta.format === 'jpeg',
  };
  const decode = async () => {
    if (meta.space === 'cmyk') return decodeCmyk(bytes, options, rule, meta.format === 'jpeg');
    const gray = meta.space === 'b-w' || meta.space === 'grey16';
    return rawPixels(
      sharp(bytes, options)
        .removeAlpha()
        .toColourspace(gray ? 'b-w' : 'srgb'),
      gray ? 1 : 3,
    );
  };
  try {
    return await decode();
  } catch (first) {
    // libvips keeps one error buffer for all threads, so with images decoding concurrently the
    // message can be lost ("Unknown error"). Try once more for the reason, else say what the
    // bytes tell.
    let reason = describe(first);
    if (isUninformative(reason)) {
      try {
        return await decode();
      } catch (again) {
        reason = describe(again);
      }
    }
    if (isUninformative(reason)) reason = guessReason(bytes, meta.format);
    throw new ImageDecodeError(file, `cannot decode (${reason})`);
  }
}

function isUninformative(message: string): boolean {
  return message === '' || /^unknown error$/i.test(message);
}

/** A reason for a failed decode, from the file's bytes. */
function guessReason(bytes: Buffer, format: string): string {
  if (format === 'jpeg') {
    let end = bytes.length;
    while (end > 2 && bytes[end - 1] === 0) end--;
    if (bytes[end - 2] !== 0xff || bytes[end - 1] !== 0xd9) return 'truncated JPEG: no end-of-image marker';
    return 'corrupt JPEG data';
  }
  return `corrupt or truncated ${format} data`;
}

async function rawPixels(pipeline: Sharp, expectChannels: number): Promise<RawImage> {
  const { data, info } = await pipeline
    .timeout({ seconds: DECODE_TIMEOUT_S })
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== expectChannels) {
    throw new Error(`decoder gave ${info.channels} channels, expected ${expectChannels}`);
  }
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.length),
    width: info.width,
    height: info.height,
    channels: info.channels,
  };
}

interface Layout {
  format: string;
  space: string;
}

/** Format and colour space from sharp's header parse. */
async function sharpLayout(bytes: Buffer, file: string): Promise<Layout> {
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { failOn: 'error' }).metadata();
  } catch (error) {
    throw new ImageDecodeError(file, `not a readable image (${describe(error)})`);
  }
  if (!RASTER_FORMATS.has(meta.format)) {
    throw new ImageDecodeError(file, `${meta.format} is not a supported raster image format`);
  }
  return { format: meta.format, space: meta.space };
}

/**
 * For an 8-bit JPEG, the colour space libvips will give it, from the frame header's component
 * count (saves sharp a separate header parse); undefined for anything else.
 */
function jpegLayout(bytes: Buffer): Layout | undefined {
  const frame = jpegFrame(bytes);
  if (frame?.precision !== 8) return undefined;
  const space = ({ 1: 'b-w', 3: 'srgb', 4: 'cmyk' } as Record<number, string>)[frame.components];
  return space ? { format: 'jpeg', space } : undefined;
}

/** PIL's MULDIV255: a * b / 255, rounded, in integers. */
function mulDiv255(a: number, b: number): number {
  const tmp = a * b + 128;
  return ((tmp >> 8) + tmp) >> 8;
}

async function decodeCmyk(
  bytes: Buffer,
  options: SharpOptions,
  rule: LoaderRule,
  jpeg: boolean,
): Promise<RawImage> {
  // Keep the decoder's CMYK values (libvips, like PIL, un-inverts Adobe CMYK JPEGs).
  const cmyk = await rawPixels(sharp(bytes, options).pipelineColourspace('cmyk').toColourspace('cmyk'), 4);
  const n = cmyk.width * cmyk.height;
  const src = cmyk.data;
  const out = new Uint8Array(n * 3);
  if (rule === 'pil') {
    // Pillow's cmyk2rgb.
    for (let i = 0; i < n; i++) {
      const nk = 255 - src[i * 4 + 3];
      for (let ch = 0; ch < 3; ch++) {
        const v = nk - mulDiv255(src[i * 4 + ch], nk);
        out[i * 3 + ch] = Math.max(v, 0);
      }
    }
  } else {
    // OpenCV's icvCvt_CMYK2BGR_8u_C4C3R on libjpeg's output, which is still inverted for Adobe files.
    const inverted = jpeg && hasAdobeMarker(bytes);
    for (let i = 0; i < n; i++) {
      const k = inverted ? 255 - src[i * 4 + 3] : src[i * 4 + 3];
      for (let ch = 0; ch < 3; ch++) {
        const v = inverted ? 255 - src[i * 4 + ch] : src[i * 4 + ch];
        out[i * 3 + ch] = k - (((255 - v) * k) >> 8);
      }
    }
  }
  return { data: out, width: cmyk.width, height: cmyk.height, channels: 3 };
}
