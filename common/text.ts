/** Small text helpers for the files bnas writes. */

const XML_ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};

/** Text safe inside an XML/SVG element or a quoted attribute value: all five predefined entities. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => XML_ENTITIES[c]);
}

/** A number with at most two decimals and no trailing zeros: 0.25 → "0.25", 3.2 → "3.2", 4 → "4". */
export function upTo2Decimals(x: number): string {
  return String(Number(x.toFixed(2)));
}
