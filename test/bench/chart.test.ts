import { describe, expect, it } from 'vitest';
import { formatMs, type LatencyComparison, latencyChart } from '../../bench/support/chart.ts';

interface Element {
  name: string;
  attributes: Record<string, string>;
  text: string;
}

/**
 * A strict parse of the XML subset an SVG string needs: one root, balanced tags, quoted attributes,
 * and no raw `<` or unknown `&` in text or attribute values. Returns every element, in document order.
 */
function parseXml(xml: string): Element[] {
  const token = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/y;
  const entity = /&(?!(?:amp|lt|gt|quot|#39);)/;
  const elements: Element[] = [];
  const open: Element[] = [];
  let roots = 0;
  while (token.lastIndex < xml.length) {
    const at = token.lastIndex;
    const match = token.exec(xml);
    if (!match) throw new Error(`not XML at ${at}: ${xml.slice(at, at + 40)}`);
    const [, closing, name, attributeText, selfClosing, text] = match;
    if (text !== undefined) {
      if (entity.test(text)) throw new Error(`unescaped & in ${JSON.stringify(text)}`);
      const parent = open.at(-1);
      if (parent) parent.text += text;
      else if (text.trim()) throw new Error(`text outside the root: ${text}`);
    } else if (closing) {
      const element = open.pop();
      if (element?.name !== name) throw new Error(`</${name}> closes <${element?.name}>`);
    } else {
      if (open.length === 0 && ++roots > 1) throw new Error('more than one root element');
      const attributes: Record<string, string> = {};
      for (const [, key, value] of (attributeText ?? '').matchAll(/([\w:-]+)="([^"]*)"/g)) {
        if (entity.test(value!)) throw new Error(`unescaped & in ${key}="${value}"`);
        if (key! in attributes) throw new Error(`duplicate attribute ${key}`);
        attributes[key!] = value!;
      }
      const element = { name: name!, attributes, text: '' };
      elements.push(element);
      if (!selfClosing) open.push(element);
    }
  }
  if (open.length > 0) throw new Error(`unclosed <${open.at(-1)?.name}>`);
  return elements;
}

const bars = (elements: Element[]) =>
  elements
    .filter((element) => element.name === 'rect' && element.attributes.class === 'bar')
    .map((element) => ({
      ms: Number(element.attributes['data-ms']),
      width: Number(element.attributes.width),
    }));
const texts = (elements: Element[], className?: string) =>
  elements
    .filter(
      (element) =>
        element.name === 'text' && (className === undefined || element.attributes.class === className),
    )
    .map((element) => element.text);

const row = (
  scenario: string,
  before: [number, number] | undefined,
  after: [number, number],
  profile = 'loopback',
): LatencyComparison => ({
  scenario,
  profile,
  before: before && { label: 'before', p50: before[0], p99: before[1] },
  after: { label: 'hotpath', p50: after[0], p99: after[1] },
});

describe('formatMs', () => {
  it.each([
    [0.2134, '0.21 ms'],
    [0.005, '0.005 ms'],
    [0.1, '0.1 ms'],
    [1, '1 ms'],
    [2.94, '2.94 ms'],
    [42, '42 ms'],
    [838.4, '838 ms'],
    [999.4, '999 ms'],
    [999.6, '1 s'],
    [1279, '1.28 s'],
    [6100, '6.1 s'],
    [59_940, '59.9 s'],
    [59_960, '1 min'],
    [76_000, '1.27 min'],
    [0, 'n/a'],
    [-3, 'n/a'],
    [Number.NaN, 'n/a'],
    [Number.POSITIVE_INFINITY, 'n/a'],
  ])('%s ms → %s', (ms, expected) => {
    expect(formatMs(ms)).toBe(expected);
  });
});

describe('latencyChart', () => {
  const rows = [
    row('documents · latest <approved> & "signed"', [1279, 1362], [0.5, 2.9]),
    row('dashboard · hit', undefined, [0.21, 0.35], "cloud (+0.5 ms PG, +40 ms S3, +100 ms FHIR) 'x'"),
  ];

  it('is one well-formed svg element with a background, a default title and nothing external', () => {
    const svg = latencyChart(rows);
    const elements = parseXml(svg);
    expect(elements[0]?.name).toBe('svg');
    expect(elements[0]?.attributes.xmlns).toBe('http://www.w3.org/2000/svg');
    expect(elements.some((element) => element.name === 'rect' && element.attributes.fill === '#fff')).toBe(
      true,
    );
    expect(texts(elements)).toContain('p50 and p99 latency, before vs hotpath (log scale)');
    expect(svg).not.toMatch(/<script|href|url\(/i);
    expect(texts(parseXml(latencyChart(rows, { title: 'a < b' })))).toContain('a &lt; b');
  });

  it('escapes every label', () => {
    const svg = latencyChart(rows);
    const labels = texts(parseXml(svg));
    expect(labels).toContain('documents · latest &lt;approved&gt; &amp; &quot;signed&quot;');
    expect(labels).toContain('cloud (+0.5 ms PG, +40 ms S3, +100 ms FHIR) &#39;x&#39;');
    expect(svg).not.toContain('<approved>');
  });

  it('draws one bar per finite value, two when before was not run, and n/a for the rest', () => {
    expect(bars(parseXml(latencyChart(rows)))).toHaveLength(6);
    const invalid = parseXml(latencyChart([row('broken', [Number.NaN, 0], [-1, Number.POSITIVE_INFINITY])]));
    expect(bars(invalid)).toHaveLength(0);
    expect(texts(invalid).filter((text) => text === 'n/a')).toHaveLength(4);
    const notRun = parseXml(latencyChart([row('hit', undefined, [0.21, 0.35])]));
    expect(bars(notRun).map((bar) => bar.ms)).toEqual([0.21, 0.35]);
    expect(texts(notRun)).toContain('not run');
  });

  it('labels each bar with its value', () => {
    const labels = texts(parseXml(latencyChart(rows)));
    for (const value of ['1.28 s', '1.36 s', '0.5 ms', '2.9 ms', '0.21 ms', '0.35 ms'])
      expect(labels).toContain(value);
  });

  it('makes bar widths ordered like the values and proportional to their log10', () => {
    const drawn = bars(parseXml(latencyChart([row('a', [100, 1000], [1, 10]), row('b', [3, 30], [0.5, 7])])));
    const byValue = drawn.toSorted((a, b) => a.ms - b.ms);
    expect(byValue.map((bar) => bar.width)).toEqual(
      byValue.map((bar) => bar.width).toSorted((a, b) => a - b),
    );
    const width = (ms: number) => drawn.find((bar) => bar.ms === ms)!.width;
    const decade = width(10) - width(1);
    expect(decade).toBeGreaterThan(50);
    expect(Math.abs(width(100) - width(10) - decade)).toBeLessThanOrEqual(1);
    expect(Math.abs(width(1000) - width(100) - decade)).toBeLessThanOrEqual(1);
    expect(Math.abs(width(30) - width(3) - decade)).toBeLessThanOrEqual(1);
  });

  it('labels every decade from at or below the smallest value to at or above the largest', () => {
    expect(texts(parseXml(latencyChart(rows)), 'tick')).toEqual([
      '0.1 ms',
      '1 ms',
      '10 ms',
      '100 ms',
      '1 s',
      '10 s',
    ]);
    const wide = texts(parseXml(latencyChart([row('a', [0.001, 250_000], [0.02, 0.03])])), 'tick');
    expect(wide).toEqual(['0.01 ms', '0.1 ms', '1 ms', '10 ms', '100 ms', '1 s', '10 s', '100 s', '1000 s']);
  });

  it('grows in height with the rows, not in width', () => {
    const size = (count: number) => {
      const svg = parseXml(
        latencyChart(Array.from({ length: count }, (_, index) => row(`s${index}`, [2, 3], [1, 2]))),
      );
      return { width: Number(svg[0]?.attributes.width), height: Number(svg[0]?.attributes.height) };
    };
    expect(size(4).width).toBe(size(1).width);
    expect(size(4).height).toBeGreaterThan(size(1).height);
  });
});
