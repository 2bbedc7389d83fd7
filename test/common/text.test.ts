/** common/text.ts: XML escaping for the SVG charts. */
import { describe, expect, it } from 'vitest';
import { escapeXml } from '../../common/text.js';

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
