/**
 * The dashboard in a real browser (headless Chromium through playwright-core): the index lists the
 * run, a click opens its page, every chart's SVG has points, and a metrics line appended to the run's
 * log shows up in the live curve (server-sent events). Screenshots go to the artefact folder
 * (test/web/browser.ts). Skips, saying why, where /usr/bin/chromium is missing.
 */
import assert from 'node:assert/strict';
import { appendFileSync, rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { serve, type RunningServer } from '../../src/serve/server.js';
import { ARTEFACTS, artefact, fixture, launch, metricsLine, randomSae, skipReason } from './browser.js';

const skip = skipReason();
let browser: Browser | undefined;
let srv: RunningServer | undefined;
let page: Page;
let fx: ReturnType<typeof fixture>;

before(async () => {
  if (skip) return;
  fx = fixture(randomSae(16, 64, 'topk', 4, 3));
  srv = await serve({ roots: [fx.root], host: '127.0.0.1', port: 0, pollMs: 50 });
  browser = await launch();
  page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  page.setDefaultTimeout(15_000);
});

after(async () => {
  await browser?.close();
  await srv?.close();
  if (fx) rmSync(fx.root, { recursive: true, force: true });
});

/** Points drawn per chart title (the numbers in each polyline's `points`). */
// (Browser-side code is passed as strings: the project compiles without the DOM typings.)
const chartPoints = (p: Page) => p.evaluate(`Object.fromEntries(Array.from(document.querySelectorAll('.chart')).map((b) => [
  b.querySelector('h3').textContent,
  Array.from(b.querySelectorAll('polyline')).reduce((n, l) => n + (l.getAttribute('points') || '').trim().split(/\\s+/).filter(Boolean).length, 0),
]))`) as Promise<Record<string, number>>;

test('the dashboard lists the run, opens its page, draws its curves and follows it live', { skip: skip ?? false, timeout: 90_000 }, async () => {
  await page.goto(`${srv!.url}/`);
  const listed = await page.textContent('#runs');
  assert.match(listed ?? '', /exp1/);
  assert.match(listed ?? '', /training/, 'the run has a .lock, so it shows as training');
  assert.match((await page.textContent('#models')) ?? '', /exp1\/sae/);
  await page.screenshot({ path: artefact('dashboard-index.png'), fullPage: true });

  // Click through; the page opens its event stream once loaded, so wait for that response.
  const stream = page.waitForResponse((r) => r.url().includes('/api/runs/exp1/events'));
  await page.click('#runs a:text-is("exp1")');
  await page.waitForURL(/\/runs\/exp1$/);
  await stream;
  await page.waitForFunction(`document.querySelectorAll('.chart polyline').length >= 3`);
  const before = await chartPoints(page);
  assert.deepEqual(Object.keys(before).sort(), ['fvu', 'l0', 'loss']);
  for (const [k, n] of Object.entries(before)) assert.equal(n, 8, `${k}: 8 logged steps drawn`);
  assert.match((await page.textContent('#config')) ?? '', /"architecture": "topk"/);
  await page.screenshot({ path: artefact('dashboard-run.png'), fullPage: true });

  // Two more steps land in the log; the curves grow without a reload.
  appendFileSync(fx.metrics, metricsLine(90) + '\n' + metricsLine(100) + '\n');
  await page.waitForFunction(`Array.from(document.querySelectorAll('.chart')).every((b) => Number(b.getAttribute('data-points')) >= 10)`);
  const grown = await chartPoints(page);
  for (const [k, n] of Object.entries(grown)) assert.equal(n, 10, `${k}: the appended steps are drawn live`);
  assert.match((await page.textContent('#status')) ?? '', /live: step 100/);
  await page.screenshot({ path: artefact('dashboard-run-live.png'), fullPage: true });
  console.log(`screenshots in ${ARTEFACTS}`);
});
