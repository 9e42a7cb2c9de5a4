import { test } from 'node:test';
import assert from 'node:assert/strict';
import { barChart, escapeXml, histogram, lineChart, niceTicks, scatter } from '../../src/report/svg.js';

/** Crude XML well-formedness check: balanced, properly nested tags; no raw '<' or '&' in text. */
function assertWellFormed(svg: string): string[] {
  const stack: string[] = [];
  const tags: string[] = [];
  const re = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(svg))) {
    const between = svg.slice(last, m.index);
    assert.ok(!/[<>]/.test(between), `stray markup near ${JSON.stringify(between.slice(0, 40))}`);
    assert.ok(!/&(?!(amp|lt|gt|quot|apos);)/.test(between), 'unescaped &');
    last = re.lastIndex;
    const [, close, name, , self] = m;
    if (!close) tags.push(name); // opening and self-closing tags only
    if (close) assert.equal(stack.pop(), name, `mismatched </${name}>`);
    else if (!self) stack.push(name);
  }
  assert.equal(svg.slice(last).trim(), '');
  assert.deepEqual(stack, []);
  assert.equal(tags[0], 'svg');
  return tags;
}

test('line chart: well-formed, one path per series, bands, escaped names, ticks', () => {
  const x = Array.from({ length: 100 }, (_, i) => i);
  const svg = lineChart({
    title: 'Scores <A & B>',
    xLabel: 'time',
    yLabel: 'value',
    series: [
      { name: 'series "one"', x, y: x.map((v) => Math.sin(v / 5)) },
      { name: 'score', x, y: x.map((v) => (v === 50 ? NaN : v / 100)), color: '#000' },
    ],
    bands: [{ start: 20, end: 30, label: 'window 1' }, { start: 70, end: 75 }],
  });
  const tags = assertWellFormed(svg);
  assert.equal(tags.filter((t) => t === 'path').length, 2);
  assert.ok(svg.includes('Scores &lt;A &amp; B&gt;'));
  assert.ok(svg.includes('data-name="series &quot;one&quot;"'));
  assert.ok(svg.includes('>window 1</text>'));
  assert.equal((svg.match(/<g class="bands">[\s\S]*?<\/g>/)![0].match(/<rect /g) ?? []).length, 2);
  // The NaN splits the second series into two pieces (two 'M' commands).
  const d2 = /data-name="score" d="([^"]*)"/.exec(svg)![1];
  assert.equal((d2.match(/M/g) ?? []).length, 2);
  assert.equal((d2.match(/[ML]/g) ?? []).length, 99);
  for (const t of ['0', '20', '40', '60', '80']) assert.ok(svg.includes(`>${t}</text>`), `x tick ${t}`);
  const log = lineChart({ series: [{ name: 'loss', x: [1, 2, 3], y: [1000, 10, 0.5] }], logY: true });
  assertWellFormed(log);
  for (const t of ['0.1', '1', '10', '100', '1000']) assert.ok(log.includes(`>${t}</text>`), `log tick ${t}`);
});

test('histogram, scatter and bar chart are well-formed and carry their data', () => {
  const h = histogram({ title: 'h', values: [1, 2, 2, 3, 3, 3, 10], bins: 3, xLabel: 'v' });
  assertWellFormed(h);
  // Bins over [1, 10]: [1,4) holds 6 values, [7,10] holds 1.
  assert.ok(h.includes(': 6</title>') && h.includes(': 1</title>') && h.includes(': 0</title>'));
  const h2 = histogram({ edges: [0, 1, 2], counts: [4, 5] });
  assert.equal((h2.match(/<rect [^>]*><title>/g) ?? []).length, 2);
  assert.throws(() => histogram({ edges: [0, 1], counts: [1, 2] }), /edges/);
  const s = scatter({ title: 'codes', points: [{ x: 0, y: 1, label: 1 }, { x: 2, y: 3, label: 0 }, { x: 1, y: 1, label: 1 }] });
  const st = assertWellFormed(s);
  assert.equal(st.filter((t) => t === 'circle').length, 3);
  assert.equal((s.match(/<g class="legend">/g) ?? []).length, 1);
  const b = barChart({ title: 'ARI', categories: ['raw', 'PCA', 'SAE'], series: [{ name: 'ARI', values: [0.3, 0.35, 0.5] }, { name: 'NMI', values: [0.4, 0.45, -0.1] }] });
  const bt = assertWellFormed(b);
  assert.ok(b.includes('>PCA</text>') && b.includes('NMI / SAE: -0.1'));
  assert.equal(bt.filter((t) => t === 'rect').length, 1 + 6 + 2); // background + bars + legend keys
});

test('helpers', () => {
  assert.equal(escapeXml(`<&>"'`), '&lt;&amp;&gt;&quot;&apos;');
  assert.deepEqual(niceTicks(0, 1, 6), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(-3, 17, 5), [0, 5, 10, 15]);
  assert.deepEqual(niceTicks(-0.03, 0.021, 4), [-0.02, 0, 0.02]);
});
