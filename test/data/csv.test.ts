// CSV reader: parsing, column selection, timestamps and error messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { packageRoot } from '../../src/version.js';
import { DataError, assertFinite, constantColumns, parseCsv, parseTimestamp, readCsv } from '../../src/data/csv.js';

const NAB = join(packageRoot(), 'test', 'fixtures', 'nab');

test('parses header, selects columns by name and index, keeps order', () => {
  const t = parseCsv('a,b,c\n1,2,3\n4,5.5,-6e1\n');
  assert.deepEqual(t.columns, ['a', 'b', 'c']);
  assert.equal(t.n, 2);
  assert.deepEqual(Array.from(t.data), [1, 2, 3, 4, 5.5, -60]);
  const s = parseCsv('a,b,c\n1,2,3\n4,5,6\n', { columns: ['c', 0] });
  assert.deepEqual(s.columns, ['c', 'a']);
  assert.deepEqual(Array.from(s.data), [3, 1, 6, 4]);
});

test('quoted fields and blank lines', () => {
  const t = parseCsv('"x","y ""q"""\n"1.5",2\n\n3,"4"\n');
  assert.deepEqual(t.columns, ['x', 'y "q"']);
  assert.deepEqual(Array.from(t.data), [1.5, 2, 3, 4]);
});

test('timestamps: auto-detected column, UTC epoch ms', () => {
  const t = parseCsv('timestamp,value\n2015-09-01 13:45:00,3.06\n2015-09-01T13:50:00Z,6.44\n');
  assert.equal(t.timestampColumn, 'timestamp');
  assert.deepEqual(t.columns, ['value']);
  // Reference values from Python's datetime(…, tzinfo=utc).timestamp().
  assert.deepEqual(Array.from(t.timestamps!), [1441115100000, 1441115400000]);
  assert.equal(parseTimestamp('2014-04-10 07:15:00.000000'), Date.UTC(2014, 3, 10, 7, 15));
  assert.equal(parseTimestamp('2015-09-01 15:45:00+02:00'), 1441115100000);
  assert.equal(parseTimestamp('1441115100'), 1441115100000);
  assert.equal(parseTimestamp('2015-02-30 00:00:00'), undefined);
  assert.equal(parseTimestamp('yesterday'), undefined);
});

test('non-numeric value: error names file, line and column', () => {
  assert.throws(() => parseCsv('a,b\n1,2\n3,abc\n', {}, 'x.csv'), (e: unknown) => {
    assert.ok(e instanceof DataError);
    assert.match(e.message, /x\.csv:3: column "b" \(index 1\): cannot parse "abc"/);
    return true;
  });
  assert.throws(() => parseCsv('a,b\n1,\n', {}, 'y.csv'), /y\.csv:2: column "b" \(index 1\): empty value/);
  assert.throws(() => parseCsv('a,b\n1,2,3\n', {}, 'z.csv'), /z\.csv:2: expected 2 fields/);
  assert.throws(() => parseCsv('a,b\n1,2\n', { columns: ['q'] }, 'w.csv'), /no column named "q"/);
  assert.throws(() => parseCsv('t,v\nnot-a-date,2\n', { timestampColumn: 't' }, 't.csv'), /t\.csv:2: column "t" \(index 0\): cannot parse "not-a-date" as a timestamp/);
  assert.throws(() => readCsv('/nonexistent/file.csv'), /\/nonexistent\/file\.csv: cannot read/);
});

test('NaN / Inf rejected by default, kept on request', () => {
  assert.throws(() => parseCsv('a\n1\nNaN\n', {}, 'n.csv'), /n\.csv:3: column "a" \(index 0\): non-finite value "NaN"/);
  assert.throws(() => parseCsv('a\n-inf\n', {}, 'n.csv'), /non-finite/);
  const t = parseCsv('a,b\nnan,-Infinity\n,1\n', { allowNonFinite: true });
  assert.ok(Number.isNaN(t.data[0]));
  assert.equal(t.data[1], -Infinity);
  assert.ok(Number.isNaN(t.data[2]));
  assert.throws(() => assertFinite(Float64Array.from([1, 2, 3, NaN]), 2, 2, 'X', ['p', 'q']), /X: non-finite value NaN at row 1, column "q" \(index 1\)/);
});

test('constant column detection', () => {
  const X = [1, 5, 2, 1, 5, 3, 1, 5, 4];
  assert.deepEqual(constantColumns(X, 3, 3), [0, 1]);
  assert.deepEqual(constantColumns([1, 1.0001], 2, 1, 1e-3), [0]);
});

test('reads a NAB file from disk', () => {
  const t = readCsv(join(NAB, 'realTraffic', 'occupancy_6005.csv'));
  assert.equal(t.n, 2380); // `wc -l` minus the header
  assert.equal(t.timestamps![0], 1441115100000);
  assert.equal(t.data[0], 3.06);
});
