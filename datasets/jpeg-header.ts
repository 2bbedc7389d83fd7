/** What a JPEG's header segments say, read without decoding: frame layout, Adobe marker. */

interface Segment {
  marker: number;
  /** Offset of the segment's payload (after marker and length). */
  payload: number;
  /** Payload length in bytes. */
  length: number;
}

/** The header segments of a JPEG up to its first scan; nothing for other files. */
function* headerSegments(bytes: Buffer): Generator<Segment> {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return;
  let pos = 2;
  while (pos + 4 <= bytes.length) {
    if (bytes[pos] !== 0xff) return;
    const marker = bytes[pos + 1];
    if (marker === 0xff) {
      pos++; // fill byte
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      pos += 2; // no payload
      continue;
    }
    if (marker === 0xda || marker === 0xd9) return;
    const length = bytes.readUInt16BE(pos + 2) - 2;
    if (length < 0 || pos + 4 + length > bytes.length) return;
    yield { marker, payload: pos + 4, length };
    pos += 4 + length;
  }
}

/** SOF0-SOF15 except DHT (C4), JPG (C8) and DAC (CC). */
const isStartOfFrame = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;

/** Sample precision and component count of the frame; undefined when not a (readable) JPEG. */
export function jpegFrame(bytes: Buffer): { precision: number; components: number } | undefined {
  for (const s of headerSegments(bytes)) {
    if (isStartOfFrame(s.marker) && s.length >= 6) {
      return { precision: bytes[s.payload], components: bytes[s.payload + 5] };
    }
  }
  return undefined;
}

/** Whether a JPEG has an Adobe APP14 segment (which marks inverted CMYK data) before its first scan. */
export function hasAdobeMarker(bytes: Buffer): boolean {
  for (const s of headerSegments(bytes)) {
    if (
      s.marker === 0xee &&
      s.length >= 5 &&
      bytes.toString('latin1', s.payload, s.payload + 5) === 'Adobe'
    ) {
      return true;
    }
  }
  return false;
}
