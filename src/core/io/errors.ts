/**
 * The single error type raised for malformed tensor files. Every parser in this folder
 * converts any fault in its input (bad header, truncated data, out-of-range offsets …) into
 * a FormatError, so callers can tell "this file is broken" apart from programming errors.
 */
export class FormatError extends Error {
  /** The file path, or '<buffer>' when parsing bytes that did not come from a file. */
  readonly file: string;
  /** Which part of the format was wrong: 'header', 'dtype', 'shape', 'data_offsets', 'data', 'zip', … */
  readonly field: string;

  /** `detail` should name the offending entry and value; the message is `${file}: ${detail}`. */
  constructor(file: string, field: string, detail: string) {
    super(`${file}: ${detail}`);
    this.name = 'FormatError';
    this.file = file;
    this.field = field;
  }
}

/** Short, bounded rendering of an untrusted value for error messages. */
export function show(v: unknown, max = 80): string {
  let s: string;
  try {
    s = typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > max ? s.slice(0, max) + '…' : s;
}
