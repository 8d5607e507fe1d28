/** The benchmark report's latency chart: p50 and p99 per scenario, before vs hotpath, as a plain SVG. */

export interface LatencyComparison {
  /** e.g. "documents · latest approved" */
  scenario: string;
  /** e.g. "loopback" or "cloud (+0.5 ms PG, +40 ms S3, +100 ms FHIR)" */
  profile: string;
  /** Milliseconds; undefined when that design was not run. */
  before: Measurement | undefined;
  /** Milliseconds. */
  after: Measurement;
}

interface Measurement {
  label: string;
  p50: number;
  p99: number;
}

/** log10 of the axis's first and last decade, in milliseconds. */
interface Axis {
  lo: number;
  hi: number;
}

const DEFAULT_TITLE = 'p50 and p99 latency, before vs hotpath (log scale)';
const WIDTH = 960;
const PLOT_LEFT = 300;
// Room on the right for the value printed after a bar that reaches the last decade.
const PLOT_RIGHT = 880;
const PLOT_TOP = 64;
const BAR_HEIGHT = 10;
const BAR_PITCH = 13;
const PAIR_GAP = 4;
const BLOCK_PADDING = 8;
const BLOCK_HEIGHT = 2 * BLOCK_PADDING + 4 * BAR_PITCH + PAIR_GAP;
const TEXT = '#222';
const MUTED = '#666';
// Warm for before, cool for hotpath; p99 a lighter shade of its p50.
const COLORS = {
  before: { p50: '#c2410c', p99: '#fdba74' },
  after: { p50: '#1d4ed8', p99: '#93c5fd' },
};

/** Milliseconds for humans: 3 significant digits (2 below 1 ms), in ms, s or min; "n/a" unless positive. */
export function formatMs(ms: number): string {
  if (!isPositive(ms)) return 'n/a';
  // Thresholds sit where rounding would carry over ("1000 ms", "60 s"), so the next unit takes them.
  const [value, unit] = ms < 999.5 ? [ms, 'ms'] : ms < 59_950 ? [ms / 1000, 's'] : [ms / 60_000, 'min'];
  return `${Number(value.toPrecision(value < 1 ? 2 : 3))} ${unit}`;
}

/** A self-contained SVG (string) of horizontal bars on a log10 millisecond axis. */
export function latencyChart(rows: LatencyComparison[], options: { title?: string } = {}): string {
  const title = escapeXml(options.title ?? DEFAULT_TITLE);
  const axis = logAxis(
    rows
      .flatMap((row) => [row.before?.p50, row.before?.p99, row.after.p50, row.after.p99])
      .filter(isPositive),
  );
  const plotBottom = PLOT_TOP + rows.length * BLOCK_HEIGHT;
  const height = plotBottom + 32;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="11" role="img">`,
    `<title>${title}</title>`,
    // Opaque, so the chart reads the same on GitHub's light and dark themes.
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="12" y="24" font-size="16" font-weight="bold" fill="${TEXT}">${title}</text>`,
    legend(rows),
    decades(axis, plotBottom),
    ...rows.map((row, index) => block(row, PLOT_TOP + index * BLOCK_HEIGHT, axis)),
    '</svg>',
    '',
  ].join('\n');
}

function isPositive(value: number | undefined): value is number {
  return value !== undefined && Number.isFinite(value) && value > 0;
}

function logAxis(values: number[]): Axis {
  if (values.length === 0) return { lo: 0, hi: 1 };
  // ceil − 1 rather than floor, so a smallest value sitting exactly on a decade still gets a visible bar.
  const lo = Math.max(-2, Math.ceil(Math.log10(Math.min(...values))) - 1);
  return { lo, hi: Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...values)))) };
}

function xOf(log10Ms: number, axis: Axis): number {
  return PLOT_LEFT + ((log10Ms - axis.lo) / (axis.hi - axis.lo)) * (PLOT_RIGHT - PLOT_LEFT);
}

function legend(rows: LatencyComparison[]): string {
  const before = rows.find((row) => row.before)?.before?.label ?? 'before';
  const after = rows[0]?.after.label ?? 'hotpath';
  const entries = [
    [`${before} p50`, COLORS.before.p50],
    [`${before} p99`, COLORS.before.p99],
    [`${after} p50`, COLORS.after.p50],
    [`${after} p99`, COLORS.after.p99],
  ] as const;
  let x = 12;
  return entries
    .map(([label, color]) => {
      const entry = `<rect x="${x}" y="40" width="14" height="${BAR_HEIGHT}" fill="${color}"/><text x="${x + 20}" y="49" fill="${TEXT}">${escapeXml(label)}</text>`;
      x += 40 + label.length * 7; // no text metrics in a string: a generous width per character
      return entry;
    })
    .join('\n');
}

function decades(axis: Axis, plotBottom: number): string {
  const lines: string[] = [];
  for (let decade = axis.lo; decade <= axis.hi; decade++) {
    const x = xOf(decade, axis).toFixed(1);
    // Decades above 1 s are round in seconds ("100 s"), not in minutes.
    const label = decade >= 3 ? `${10 ** (decade - 3)} s` : formatMs(10 ** decade);
    lines.push(
      `<line x1="${x}" y1="${PLOT_TOP}" x2="${x}" y2="${plotBottom}" stroke="#d4d4d4"/>`,
      `<text class="tick" x="${x}" y="${plotBottom + 18}" text-anchor="middle" fill="${MUTED}">${label}</text>`,
    );
  }
  return lines.join('\n');
}

function block(row: LatencyComparison, top: number, axis: Axis): string {
  const middle = top + BLOCK_HEIGHT / 2;
  const beforeTop = top + BLOCK_PADDING;
  const afterTop = beforeTop + 2 * BAR_PITCH + PAIR_GAP;
  return [
    `<line x1="0" y1="${top}" x2="${WIDTH}" y2="${top}" stroke="#ececec"/>`,
    `<text x="12" y="${middle - 3}" font-size="13" font-weight="bold" fill="${TEXT}">${escapeXml(row.scenario)}</text>`,
    `<text x="12" y="${middle + 13}" fill="${MUTED}">${escapeXml(row.profile)}</text>`,
    row.before
      ? pair(row.before, 'before', beforeTop, axis)
      : valueText(PLOT_LEFT + 4, beforeTop + BAR_PITCH / 2, 'not run'),
    pair(row.after, 'after', afterTop, axis),
  ].join('\n');
}

function pair(measurement: Measurement, design: 'before' | 'after', top: number, axis: Axis): string {
  return [
    bar(measurement.p50, `${design}-p50`, COLORS[design].p50, top, axis),
    bar(measurement.p99, `${design}-p99`, COLORS[design].p99, top + BAR_PITCH, axis),
  ].join('\n');
}

function bar(ms: number, series: string, color: string, top: number, axis: Axis): string {
  if (!isPositive(ms)) return valueText(PLOT_LEFT + 4, top, 'n/a');
  // At least a pixel, so a value below the axis's 0.01 ms floor still shows.
  const width = Math.max(1, xOf(Math.log10(ms), axis) - PLOT_LEFT);
  return [
    `<rect class="bar" data-series="${series}" data-ms="${ms}" x="${PLOT_LEFT}" y="${top}" width="${width.toFixed(1)}" height="${BAR_HEIGHT}" fill="${color}"/>`,
    valueText(PLOT_LEFT + width + 4, top, formatMs(ms)),
  ].join('\n');
}

/** A value printed level with a bar whose top is `top`. */
function valueText(x: number, top: number, text: string): string {
  return `<text x="${x.toFixed(1)}" y="${top + BAR_HEIGHT - 1}" fill="${TEXT}">${escapeXml(text)}</text>`;
}

function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}
