/** The Pareto plot: well-formed XML, one marker per point / front point / pick, affine axes, escaping, ticks. */
import { describe, expect, it } from 'vitest';
import { niceTicks, type ParetoSvgInput, paretoSvg } from '../../../results/search/pareto-svg.js';

interface Element {
  name: string;
  attrs: Record<string, string>;
  text: string;
}

const ENTITY = /&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;

function decodeXml(s: string): string {
  return s.replace(ENTITY, (_m, e: string) => {
    const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
    if (e in named) return named[e];
    return String.fromCodePoint(e.startsWith('#x') ? Number.parseInt(e.slice(2), 16) : Number(e.slice(1)));
  });
}

/** A small XML well-formedness check: balanced tags, one root, quoted attributes, valid entities only. */
function parseXml(xml: string): Element[] {
  const checkText = (s: string, where: string) => {
    if (s.replace(ENTITY, '').includes('&')) throw new Error(`bad '&' in ${where}: ${s}`);
  };
  const elements: Element[] = [];
  const stack: Element[] = [];
  let roots = 0;
  let i = 0;
  const body = xml.replace(/^<\?xml[^?]*\?>/, '');
  while (i < body.length) {
    const lt = body.indexOf('<', i);
    const text = lt < 0 ? body.slice(i) : body.slice(i, lt);
    checkText(text, 'text');
    if (text.includes('>')) throw new Error(`stray '>' in text: ${text}`);
    if (text.trim() !== '') {
      if (stack.length === 0) throw new Error(`text outside the root: ${text}`);
      stack[stack.length - 1].text += decodeXml(text);
    }
    if (lt < 0) break;
    if (body.startsWith('<!--', lt)) {
      const end = body.indexOf('-->', lt);
      if (end < 0) throw new Error('unterminated comment');
      i = end + 3;
      continue;
    }
    const gt = body.indexOf('>', lt);
    if (gt < 0) throw new Error('unterminated tag');
    const tag = body.slice(lt + 1, gt);
    i = gt + 1;
    if (tag.startsWith('/')) {
      const open = stack.pop();
      if (!open || open.name !== tag.slice(1).trim())
        throw new Error(`</${tag.slice(1)}> closes <${open?.name}>`);
      continue;
    }
    const selfClosing = tag.endsWith('/');
    const m = /^([A-Za-z][\w:.-]*)((?:\s+[A-Za-z][\w:.-]*="[^"<]*")*)\s*\/?$/.exec(tag);
    if (!m) throw new Error(`malformed tag <${tag}>`);
    const attrs: Record<string, string> = {};
    for (const a of m[2].matchAll(/([A-Za-z][\w:.-]*)="([^"<]*)"/g)) {
      if (a[1] in attrs) throw new Error(`attribute ${a[1]} repeated in <${tag}>`);
      checkText(a[2], `attribute ${a[1]}`);
      attrs[a[1]] = decodeXml(a[2]);
    }
    const el: Element = { name: m[1], attrs, text: '' };
    if (stack.length === 0 && roots++ > 0) throw new Error('more than one root element');
    elements.push(el);
    if (!selfClosing) stack.push(el);
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack[stack.length - 1].name}>`);
  if (roots !== 1) throw new Error('no root element');
  return elements;
}

const ofClass = (els: Element[], cls: string) => els.filter((e) => e.attrs.class === cls);

const input: ParetoSvgInput = {
  title: 'ResNet-50 search <proxy> & "picks"',
  baseline: { accuracy: 76.0, throughput: 1000 },
  points: [
    { accuracy: 75.9, throughput: 1100 },
    { accuracy: 75.6, throughput: 1250 },
    { accuracy: 74.1, throughput: 1300 },
    { accuracy: 75.4, throughput: 1400 },
    { accuracy: 73.0, throughput: 1500 },
    { accuracy: 75.2, throughput: 1800 },
    { accuracy: 74.9, throughput: 2500 },
  ],
  front: [
    { accuracy: 74.9, throughput: 2500 },
    { accuracy: 75.9, throughput: 1100 },
    { accuracy: 75.6, throughput: 1250 },
    { accuracy: 75.4, throughput: 1400 },
    { accuracy: 75.2, throughput: 1800 },
  ],
  picks: [
    { name: 'A', accuracy: 75.2, throughput: 1800 },
    { name: 'B', accuracy: 75.4, throughput: 1400 },
    { name: 'C', accuracy: 75.6, throughput: 1250 },
  ],
};

describe('paretoSvg', () => {
  const svg = paretoSvg(input);
  const els = parseXml(svg);

  it('is well-formed XML with an svg root', () => {
    expect(els[0].name).toBe('svg');
    expect(els[0].attrs.xmlns).toBe('http://www.w3.org/2000/svg');
    expect(() => parseXml('<svg><g></svg>')).toThrow(); // the checker itself rejects bad XML
    expect(() => parseXml('<svg><text>a & b</text></svg>')).toThrow(/&/);
  });

  it('has one marker per point, per front point and per pick, one front line, one baseline, two floors', () => {
    expect(ofClass(els, 'point')).toHaveLength(input.points.length);
    expect(ofClass(els, 'front-marker')).toHaveLength(input.front.length);
    expect(ofClass(els, 'front')).toHaveLength(1);
    expect(ofClass(els, 'front')[0].name).toBe('polyline');
    expect(ofClass(els, 'front')[0].attrs.points.split(' ')).toHaveLength(input.front.length);
    expect(ofClass(els, 'pick')).toHaveLength(3);
    expect(ofClass(els, 'baseline')).toHaveLength(1);
    expect(ofClass(els, 'floor')).toHaveLength(2);
  });

  it('places markers on affine axes: x by throughput, y by accuracy (up is better)', () => {
    const pts = ofClass(els, 'point').map((e) => ({ x: Number(e.attrs.cx), y: Number(e.attrs.cy) }));
    const sx = (pts[6].x - pts[0].x) / (2500 - 1100);
    const sy = (pts[6].y - pts[0].y) / (74.9 - 75.9);
    expect(sx).toBeGreaterThan(0);
    expect(sy).toBeLessThan(0);
    input.points.forEach((p, i) => {
      expect(pts[i].x).toBeCloseTo(pts[0].x + sx * (p.throughput - 1100), 0);
      expect(pts[i].y).toBeCloseTo(pts[0].y + sy * (p.accuracy - 75.9), 0);
    });
    // Picks sit on their points.
    const picks = ofClass(els, 'pick');
    expect(Number(picks[0].attrs.cx)).toBeCloseTo(pts[5].x, 1);
    expect(Number(picks[0].attrs.cy)).toBeCloseTo(pts[5].y, 1);
    // The front is drawn in throughput order.
    const line = ofClass(els, 'front')[0]
      .attrs.points.split(' ')
      .map((xy) => Number(xy.split(',')[0]));
    expect(line).toEqual([...line].sort((a, b) => a - b));
    // Floors: baseline − 1.0 below baseline − 0.5, at the right heights.
    const floors = ofClass(els, 'floor').map((e) => Number(e.attrs.y1));
    expect(floors[0]).toBeCloseTo(pts[0].y + sy * (75.0 - 75.9), 0);
    expect(floors[1]).toBeCloseTo(pts[0].y + sy * (75.5 - 75.9), 0);
  });

  it('labels the picks, the baseline, the floors and the axes (with units), and escapes text', () => {
    const texts = els.filter((e) => e.name === 'text').map((e) => e.text);
    for (const name of ['A', 'B', 'C', 'baseline', 'pick A', 'Pareto front', 'evaluated sub-network']) {
      expect(texts).toContain(name);
    }
    expect(texts).toContain('baseline − 1.0 pt (75.00 %)');
    expect(texts).toContain('baseline − 0.5 pt (75.50 %)');
    expect(texts).toContain('throughput (× baseline = 1000.0 samples/s)');
    expect(texts).toContain('proxy top-1 (%)');
    expect(texts).toContain('ResNet-50 search <proxy> & "picks"');
    expect(svg).toContain('ResNet-50 search &lt;proxy&gt; &amp; &quot;picks&quot;');
    const ticks = texts.filter((t) => t.endsWith('×'));
    expect(ticks).toContain('1.0×');
    expect(ticks).toContain('2.5×');
  });

  it('takes custom labels and floors, and draws with no points', () => {
    const out = parseXml(
      paretoSvg({
        ...input,
        points: [],
        front: [],
        picks: [],
        xLabel: 'x',
        yLabel: 'y',
        drops: [0.3],
      }),
    );
    expect(ofClass(out, 'point')).toHaveLength(0);
    expect(ofClass(out, 'front')).toHaveLength(0);
    expect(ofClass(out, 'floor')).toHaveLength(1);
    expect(out.filter((e) => e.name === 'text').map((e) => e.text)).toEqual(
      expect.arrayContaining(['x', 'y', 'baseline − 0.3 pt (75.70 %)']),
    );
  });

  it('rejects a baseline without throughput and non-finite points', () => {
    expect(() => paretoSvg({ ...input, baseline: { accuracy: 76, throughput: 0 } })).toThrow(/baseline/);
    expect(() => paretoSvg({ ...input, points: [{ accuracy: Number.NaN, throughput: 1 }] })).toThrow(
      /point 0/,
    );
  });
});

describe('niceTicks', () => {
  it('covers the range with 1 / 2 / 5 × 10^k steps', () => {
    expect(niceTicks(0.93, 2.47)).toEqual({ ticks: [0.5, 1, 1.5, 2, 2.5], digits: 1 });
    expect(niceTicks(88.3, 91.8)).toEqual({ ticks: [88, 89, 90, 91, 92], digits: 0 });
    expect(niceTicks(0.8, 1.15)).toEqual({ ticks: [0.8, 0.9, 1, 1.1, 1.2], digits: 1 });
    expect(niceTicks(0.8, 1.05)).toEqual({ ticks: [0.8, 0.85, 0.9, 0.95, 1, 1.05], digits: 2 });
    expect(niceTicks(10, 70)).toEqual({ ticks: [10, 20, 30, 40, 50, 60, 70], digits: 0 });
  });

  it('widens an empty range', () => {
    const { ticks } = niceTicks(1, 1);
    expect(ticks[0]).toBeLessThan(1);
    expect(ticks[ticks.length - 1]).toBeGreaterThan(1);
  });
});
