/**
 * Plain-text tables for the CLI and the experiments: columns padded to their widest cell, numbers
 * right-aligned, text left-aligned, a rule under the header. Kept dependency-free and tiny.
 */

export type Cell = string | number | null | undefined;

/** A number with `digits` decimals; NaN/undefined print as '–' (not measured). */
export function num(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  if (!Number.isFinite(v)) return String(v);
  return v.toFixed(digits);
}

/** Seconds as "12.3 s" / "2 min 05 s". */
export function seconds(s: number): string {
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${String(Math.round(s - 60 * m)).padStart(2, '0')} s`;
}

const isNumeric = (s: string) => /^[-+−]?[\d.]+(e[-+]?\d+)?( ?[%a-zA-Z/×]*)?$/.test(s) || s === '–';

/** Renders rows under headers as an aligned table (each line indented by `indent`). */
export function table(headers: string[], rows: Cell[][], indent = '  '): string {
  const text = rows.map((r) => headers.map((_, j) => {
    const c = r[j];
    return c === null || c === undefined ? '–' : typeof c === 'number' ? num(c) : c;
  }));
  const widths = headers.map((h, j) => Math.max(h.length, ...text.map((r) => r[j]!.length)));
  const right = headers.map((_, j) => text.length > 0 && text.every((r) => isNumeric(r[j]!)));
  const line = (cells: string[]) => indent + cells.map((c, j) => (right[j] ? c.padStart(widths[j]!) : c.padEnd(widths[j]!))).join('  ').trimEnd();
  return [line(headers), indent + widths.map((w) => '─'.repeat(w)).join('  '), ...text.map(line)].join('\n') + '\n';
}
