/**
 * Small dependency-free SVG charts: line chart (with shaded labelled windows), histogram,
 * scatter plot and bar chart. Each function returns a complete standalone SVG document string.
 *
 * Axis ticks use "nice" steps: the raw step range/(target − 1) is rounded up to 1, 2, 5 or 10
 * times a power of ten, and ticks are the multiples of that step inside the data range. With
 * `logY`, ticks sit at powers of ten and non-positive values are dropped from the line.
 * All text (titles, labels, series names) is XML-escaped.
 */

export interface LineSeries {
  name: string;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  color?: string;
}

export interface Band {
  start: number;
  end: number;
  label?: string;
  /** Fill colour (default red, as labelled anomaly windows). */
  color?: string;
}

export interface LineChartOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  series: LineSeries[];
  /** Shaded x ranges, e.g. labelled anomaly windows. */
  bands?: Band[];
  width?: number;
  height?: number;
  logY?: boolean;
  /** Tick label formatter for x (e.g. timestamps); default numeric. */
  xFormat?: (v: number) => string;
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** Escapes text for XML content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** Nice tick positions covering [lo, hi] (about `target` of them). */
export function niceTicks(lo: number, hi: number, target = 6): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi === lo) return [lo];
  const raw = (hi - lo) / Math.max(1, target - 1);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  const step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
  const out: number[] = [];
  // Multiples i·step computed directly (not by repeated addition) and rounded to 12 significant
  // digits, so labels read 0.6 rather than 0.6000000000000001.
  for (let i = Math.ceil(lo / step - 1e-9); i * step <= hi + step * 1e-9; i++) out.push(i === 0 ? 0 : Number((i * step).toPrecision(12)));
  return out;
}

/** Short numeric label: up to 4 significant digits, exponent form for very large/small values. */
export function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) return v.toExponential(1).replace('e+', 'e');
  return String(Number(v.toPrecision(4)));
}

const fmt = (v: number) => (Math.round(v * 100) / 100).toString();

interface Frame { x0: number; x1: number; y0: number; y1: number; width: number; height: number }

function frame(width: number, height: number, legendRows: number): Frame {
  // Left margin holds y tick labels, bottom margin x ticks + axis label, top the title and legend.
  return { x0: 70, x1: width - 20, y0: 40 + legendRows * 16, y1: height - 50, width, height };
}

function header(f: Frame, title?: string): string[] {
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${f.width}" height="${f.height}" viewBox="0 0 ${f.width} ${f.height}" font-family="sans-serif" font-size="12">`,
    `<rect x="0" y="0" width="${f.width}" height="${f.height}" fill="white"/>`,
  ];
  if (title) out.push(`<text x="${fmt(f.width / 2)}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`);
  return out;
}

function axes(f: Frame, xt: { v: number; p: number; s: string }[], yt: { v: number; p: number; s: string }[], xLabel?: string, yLabel?: string): string[] {
  const out: string[] = [];
  out.push('<g class="grid" stroke="#e5e5e5" stroke-width="1">');
  for (const t of yt) out.push(`<line x1="${f.x0}" y1="${fmt(t.p)}" x2="${f.x1}" y2="${fmt(t.p)}"/>`);
  out.push('</g>');
  out.push(`<g class="axes" stroke="#333" stroke-width="1"><line x1="${f.x0}" y1="${f.y1}" x2="${f.x1}" y2="${f.y1}"/><line x1="${f.x0}" y1="${f.y0}" x2="${f.x0}" y2="${f.y1}"/></g>`);
  out.push('<g class="xticks" text-anchor="middle">');
  for (const t of xt) out.push(`<line x1="${fmt(t.p)}" y1="${f.y1}" x2="${fmt(t.p)}" y2="${f.y1 + 5}" stroke="#333"/><text x="${fmt(t.p)}" y="${f.y1 + 18}">${escapeXml(t.s)}</text>`);
  out.push('</g>');
  out.push('<g class="yticks" text-anchor="end">');
  for (const t of yt) out.push(`<line x1="${f.x0 - 5}" y1="${fmt(t.p)}" x2="${f.x0}" y2="${fmt(t.p)}" stroke="#333"/><text x="${f.x0 - 8}" y="${fmt(t.p + 4)}">${escapeXml(t.s)}</text>`);
  out.push('</g>');
  if (xLabel) out.push(`<text x="${fmt((f.x0 + f.x1) / 2)}" y="${f.height - 12}" text-anchor="middle">${escapeXml(xLabel)}</text>`);
  if (yLabel) out.push(`<text x="16" y="${fmt((f.y0 + f.y1) / 2)}" text-anchor="middle" transform="rotate(-90 16 ${fmt((f.y0 + f.y1) / 2)})">${escapeXml(yLabel)}</text>`);
  return out;
}

function legend(f: Frame, items: { name: string; color: string }[]): string[] {
  if (items.length <= 1) return [];
  const out = ['<g class="legend">'];
  let x = f.x0;
  let row = 0;
  for (const it of items) {
    const w = 22 + it.name.length * 7 + 14;
    if (x + w > f.x1 && x > f.x0) { x = f.x0; row++; }
    const y = 30 + row * 16;
    out.push(`<rect x="${x}" y="${y}" width="14" height="10" fill="${escapeXml(it.color)}"/><text x="${x + 18}" y="${y + 9}">${escapeXml(it.name)}</text>`);
    x += w;
  }
  out.push('</g>');
  return out;
}

function legendRows(names: string[], width: number): number {
  if (names.length <= 1) return 0;
  let rows = 1;
  let x = 70;
  for (const n of names) {
    const w = 22 + n.length * 7 + 14;
    if (x + w > width - 20 && x > 70) { x = 70; rows++; }
    x += w;
  }
  return rows;
}

type Scale = (v: number) => number;

function linScale(lo: number, hi: number, p0: number, p1: number): Scale {
  if (hi === lo) { lo -= 0.5; hi += 0.5; }
  return (v) => p0 + ((v - lo) / (hi - lo)) * (p1 - p0);
}

function extent(vals: Iterable<number>, positiveOnly = false): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (const v of vals) {
    if (!Number.isFinite(v) || (positiveOnly && v <= 0)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : [0, 1];
}

function* iter(a: ArrayLike<number>): Iterable<number> {
  for (let i = 0; i < a.length; i++) yield a[i];
}

/** Line chart of one or more series; see {@link LineChartOptions}. */
export function lineChart(o: LineChartOptions): string {
  const width = o.width ?? 900, height = o.height ?? 360;
  const names = o.series.map((s) => s.name);
  const f = frame(width, height, legendRows(names, width));
  for (const s of o.series) if (s.x.length !== s.y.length) throw new Error(`lineChart: series "${s.name}" has ${s.x.length} x values and ${s.y.length} y values`);
  let [xlo, xhi] = extent((function* () { for (const s of o.series) yield* iter(s.x); })());
  for (const b of o.bands ?? []) { xlo = Math.min(xlo, b.start); xhi = Math.max(xhi, b.end); }
  const [ylo, yhi] = extent((function* () { for (const s of o.series) yield* iter(s.y); })(), o.logY);
  const sx = linScale(xlo, xhi, f.x0, f.x1);
  let sy: Scale;
  let yt: { v: number; p: number; s: string }[];
  if (o.logY) {
    const l0 = Math.floor(Math.log10(ylo)), l1 = Math.max(l0 + 1, Math.ceil(Math.log10(yhi)));
    const s = linScale(l0, l1, f.y1, f.y0);
    sy = (v) => s(Math.log10(v));
    yt = [];
    for (let e = l0; e <= l1; e++) yt.push({ v: 10 ** e, p: s(e), s: formatTick(10 ** e) });
  } else {
    const pad = (yhi - ylo) * 0.05 || 0.5;
    const lo = ylo - pad, hi = yhi + pad;
    sy = linScale(lo, hi, f.y1, f.y0);
    yt = niceTicks(lo, hi).map((v) => ({ v, p: sy(v), s: formatTick(v) }));
  }
  const xf = o.xFormat ?? formatTick;
  const xt = niceTicks(xlo, xhi, 7).map((v) => ({ v, p: sx(v), s: xf(v) }));
  const out = header(f, o.title);
  if (o.bands && o.bands.length) {
    out.push('<g class="bands">');
    for (const b of o.bands) {
      const a = sx(b.start), e = Math.max(sx(b.end), a + 1);
      out.push(`<rect x="${fmt(a)}" y="${f.y0}" width="${fmt(e - a)}" height="${f.y1 - f.y0}" fill="${b.color ?? '#d62728'}" fill-opacity="0.15"><title>${escapeXml(b.label ?? 'window')}</title></rect>`);
      if (b.label) out.push(`<text x="${fmt(a + 2)}" y="${f.y0 + 12}" font-size="10" fill="#a01010">${escapeXml(b.label)}</text>`);
    }
    out.push('</g>');
  }
  out.push(...axes(f, xt, yt, o.xLabel, o.yLabel));
  o.series.forEach((s, si) => {
    const color = s.color ?? COLORS[si % COLORS.length];
    // NaN (or non-positive on a log axis) breaks the line into separate pieces.
    let d = '';
    let pen = false;
    for (let i = 0; i < s.x.length; i++) {
      const x = s.x[i], y = s.y[i];
      if (!Number.isFinite(x) || !Number.isFinite(y) || (o.logY && y <= 0)) { pen = false; continue; }
      d += `${pen ? 'L' : 'M'}${fmt(sx(x))},${fmt(sy(y))}`;
      pen = true;
    }
    out.push(`<path class="series" data-name="${escapeXml(s.name)}" d="${d}" fill="none" stroke="${escapeXml(color)}" stroke-width="1.2"/>`);
  });
  out.push(...legend(f, o.series.map((s, i) => ({ name: s.name, color: s.color ?? COLORS[i % COLORS.length] }))));
  out.push('</svg>');
  return out.join('\n') + '\n';
}

export interface HistogramOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Raw values to bin … */
  values?: ArrayLike<number>;
  /** … into this many equal bins (default 30). */
  bins?: number;
  /** Or precomputed bins: edges (length m + 1) and counts (length m). */
  edges?: ArrayLike<number>;
  counts?: ArrayLike<number>;
  width?: number;
  height?: number;
  color?: string;
}

/** Equal-width bins over [min, max] (the last bin includes max). Non-finite values are ignored. */
export function binValues(values: ArrayLike<number>, bins = 30): { edges: Float64Array; counts: Float64Array } {
  let [lo, hi] = extent(iter(values));
  if (hi === lo) { lo -= 0.5; hi += 0.5; }
  const edges = new Float64Array(bins + 1);
  for (let i = 0; i <= bins; i++) edges[i] = lo + ((hi - lo) * i) / bins;
  const counts = new Float64Array(bins);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    counts[Math.min(bins - 1, Math.floor(((v - lo) / (hi - lo)) * bins))]++;
  }
  return { edges, counts };
}

export function histogram(o: HistogramOptions): string {
  const width = o.width ?? 640, height = o.height ?? 360;
  let edges: ArrayLike<number>, counts: ArrayLike<number>;
  if (o.edges && o.counts) {
    if (o.edges.length !== o.counts.length + 1) throw new Error(`histogram: ${o.edges.length} edges for ${o.counts.length} counts (need counts + 1)`);
    ({ edges, counts } = o);
  } else if (o.values) ({ edges, counts } = binValues(o.values, o.bins ?? 30));
  else throw new Error('histogram: pass values, or edges and counts');
  const f = frame(width, height, 0);
  const m = counts.length;
  const sx = linScale(edges[0], edges[m], f.x0, f.x1);
  const cmax = Math.max(1, ...Array.from(counts));
  const sy = linScale(0, cmax * 1.05, f.y1, f.y0);
  const out = header(f, o.title);
  out.push(...axes(
    f,
    niceTicks(edges[0], edges[m], 7).map((v) => ({ v, p: sx(v), s: formatTick(v) })),
    niceTicks(0, cmax * 1.05).map((v) => ({ v, p: sy(v), s: formatTick(v) })),
    o.xLabel, o.yLabel ?? 'count',
  ));
  out.push(`<g class="bars" fill="${escapeXml(o.color ?? COLORS[0])}">`);
  for (let i = 0; i < m; i++) {
    const a = sx(edges[i]), b = sx(edges[i + 1]), top = sy(counts[i]);
    out.push(`<rect x="${fmt(a)}" y="${fmt(top)}" width="${fmt(Math.max(0, b - a - 0.5))}" height="${fmt(f.y1 - top)}"><title>${escapeXml(`[${formatTick(edges[i])}, ${formatTick(edges[i + 1])}): ${counts[i]}`)}</title></rect>`);
  }
  out.push('</g>', '</svg>');
  return out.join('\n') + '\n';
}

export interface ScatterPoint { x: number; y: number; label?: string | number }

export interface ScatterOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  points: ScatterPoint[];
  width?: number;
  height?: number;
  radius?: number;
}

/** Scatter plot; points are coloured by label, with a legend when there are several labels. */
export function scatter(o: ScatterOptions): string {
  const width = o.width ?? 640, height = o.height ?? 480;
  const labels = [...new Set(o.points.map((p) => String(p.label ?? '')))].sort((a, b) => (Number(a) - Number(b)) || a.localeCompare(b));
  const f = frame(width, height, legendRows(labels, width));
  const [xlo, xhi] = extent(o.points.map((p) => p.x));
  const [ylo, yhi] = extent(o.points.map((p) => p.y));
  const px = (xhi - xlo) * 0.05 || 0.5, py = (yhi - ylo) * 0.05 || 0.5;
  const sx = linScale(xlo - px, xhi + px, f.x0, f.x1);
  const sy = linScale(ylo - py, yhi + py, f.y1, f.y0);
  const out = header(f, o.title);
  out.push(...axes(
    f,
    niceTicks(xlo - px, xhi + px).map((v) => ({ v, p: sx(v), s: formatTick(v) })),
    niceTicks(ylo - py, yhi + py).map((v) => ({ v, p: sy(v), s: formatTick(v) })),
    o.xLabel, o.yLabel,
  ));
  const color = new Map(labels.map((l, i) => [l, COLORS[i % COLORS.length]]));
  out.push('<g class="points">');
  const r = o.radius ?? 3;
  for (const p of o.points) {
    if (!Number.isFinite(p.x) || !Number.isFinite(p.y)) continue;
    out.push(`<circle cx="${fmt(sx(p.x))}" cy="${fmt(sy(p.y))}" r="${r}" fill="${color.get(String(p.label ?? ''))}" fill-opacity="0.8"/>`);
  }
  out.push('</g>');
  out.push(...legend(f, labels.map((l) => ({ name: l, color: color.get(l)! }))));
  out.push('</svg>');
  return out.join('\n') + '\n';
}

export interface BarChartOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Category names along x. */
  categories: string[];
  /** One or more series of values per category (grouped bars). */
  series: { name: string; values: ArrayLike<number>; color?: string }[];
  width?: number;
  height?: number;
}

/** Grouped bar chart; bars start at 0 (negative values go down). Values are printed above bars. */
export function barChart(o: BarChartOptions): string {
  const width = o.width ?? 640, height = o.height ?? 360;
  for (const s of o.series) if (s.values.length !== o.categories.length) throw new Error(`barChart: series "${s.name}" has ${s.values.length} values for ${o.categories.length} categories`);
  const f = frame(width, height, legendRows(o.series.map((s) => s.name), width));
  let [lo, hi] = extent((function* () { for (const s of o.series) yield* iter(s.values); })());
  lo = Math.min(0, lo);
  hi = Math.max(0, hi);
  const pad = (hi - lo) * 0.08 || 0.5;
  const sy = linScale(lo, hi + pad, f.y1, f.y0);
  const nc = o.categories.length, ns = o.series.length;
  const slot = (f.x1 - f.x0) / Math.max(1, nc);
  const bw = (slot * 0.8) / Math.max(1, ns);
  const xt = o.categories.map((c, i) => ({ v: i, p: f.x0 + slot * (i + 0.5), s: c }));
  const out = header(f, o.title);
  out.push(...axes(f, xt, niceTicks(lo, hi + pad).map((v) => ({ v, p: sy(v), s: formatTick(v) })), o.xLabel, o.yLabel));
  out.push('<g class="bars">');
  o.series.forEach((s, si) => {
    const color = s.color ?? COLORS[si % COLORS.length];
    for (let i = 0; i < nc; i++) {
      const v = s.values[i];
      if (!Number.isFinite(v)) continue;
      const x = f.x0 + slot * i + slot * 0.1 + bw * si;
      const y0 = sy(0), y = sy(v);
      out.push(`<rect x="${fmt(x)}" y="${fmt(Math.min(y, y0))}" width="${fmt(bw)}" height="${fmt(Math.abs(y0 - y))}" fill="${escapeXml(color)}"><title>${escapeXml(`${s.name} / ${o.categories[i]}: ${v}`)}</title></rect>`);
      out.push(`<text x="${fmt(x + bw / 2)}" y="${fmt(Math.min(y, y0) - 3)}" text-anchor="middle" font-size="10">${escapeXml(formatTick(v))}</text>`);
    }
  });
  out.push('</g>');
  out.push(...legend(f, o.series.map((s, i) => ({ name: s.name, color: s.color ?? COLORS[i % COLORS.length] }))));
  out.push('</svg>');
  return out.join('\n') + '\n';
}
