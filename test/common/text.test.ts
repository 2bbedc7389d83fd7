/** common/text.ts: XML escaping for the SVG charts. */
import { describe, expect, it } from 'vitest';
import { escapeXml, upTo2Decimals } from '../../common/text.js';

describe('escapeXml', () => {
  it('escapes all five XML special characters', () => {
    expect(escapeXml(`&<>"'`)).toBe('&amp;&lt;&gt;&quot;&apos;');
  });

  it('escapes an ampersand once, leaves other text alone, and keeps existing entities readable', () => {
    expect(escapeXml('Intel(R) Xeon(R) <8 cores> & "fast" it\'s')).toBe(
      'Intel(R) Xeon(R) &lt;8 cores&gt; &amp; &quot;fast&quot; it&apos;s',
    );
    expect(escapeXml('&amp;')).toBe('&amp;amp;');
    expect(escapeXml('baseline − 1 pt (75.00 %) ×')).toBe('baseline − 1 pt (75.00 %) ×');
    expect(escapeXml('')).toBe('');
  });
});

describe('upTo2Decimals', () => {
  it('rounds to two decimals and drops trailing zeros', () => {
    expect([0.25, 3.2, 4, 1 / 3, 2.005, 0.1 + 0.2, 12].map(upTo2Decimals)).toEqual([
      '0.25',
      '3.2',
      '4',
      '0.33',
      '2', // 2.005 is 2.00499… in binary
      '0.3',
      '12',
    ]);
  });
});
