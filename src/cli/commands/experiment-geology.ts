/**
 * `aelab experiment geology`: the CLI side of src/tasks/experiments/geology.ts (the seed paper's
 * stacked AE vs canonical AE vs PCA vs raw k-means comparison on a labelled multi-band raster).
 *
 *   aelab experiment geology                              # the synthetic scene (documented there)
 *   aelab experiment geology --out scene/                 # also write scene.npy [H, W, B], pixels.npy [H·W, B], gt.npy [H, W]
 *   aelab experiment geology --raster X.npy --labels gt.npy [--ignore-label 0]   # a real scene
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readNpy, writeNpy } from '../../core/io/index.js';
import { DataError } from '../../data/csv.js';
import { rasterFromArray } from '../../tasks/cluster-map.js';
import { GEOLOGY_SCENE_BUDGETS, runGeology, type GeologyInput } from '../../tasks/experiments/geology.js';
import { syntheticScene } from '../../tasks/experiments/geology-scene.js';
import { num, seconds, table } from '../../tasks/experiments/report.js';
import { UsageError } from '../args.js';
import { loadLabels } from './embed.js';

export function runGeologyCommand(flags: Record<string, unknown>, budget: 'tiny' | 'quick' | 'full'): number {
  const w = (s: string) => process.stdout.write(s);
  const o = { ...GEOLOGY_SCENE_BUDGETS[budget] };
  if (flags.seeds !== undefined) {
    const v = String(flags.seeds).split(',').map((t) => Number(t.trim()));
    if (!v.length || v.some((x) => !Number.isInteger(x) || x < 0)) throw new UsageError(`aelab experiment geology: --seeds must be non-negative integers separated by commas, got '${flags.seeds}'`);
    o.seeds = v;
  } else if (flags.seed !== undefined) o.seeds = [flags.seed as number];
  if (flags.epochs !== undefined) o.finetuneEpochs = flags.epochs as number;
  let input: GeologyInput;
  let synthetic = false;
  if (flags.raster) {
    if (!flags.labels) throw new UsageError('aelab experiment geology: --raster needs --labels <gt.npy> ([H, W] integer labels)');
    const r = rasterFromArray(readNpy(String(flags.raster)));
    const labels = loadLabels(String(flags.labels));
    if (labels.length !== r.H * r.W) throw new DataError(`--labels ${flags.labels}: ${labels.length} labels for the ${r.H}×${r.W} pixels of --raster ${flags.raster}`);
    const ig = flags['ignore-label'] === undefined ? (labels.includes(0) ? 0 : null) : String(flags['ignore-label']) === 'none' ? null : Number(flags['ignore-label']);
    if (ig !== null && !Number.isInteger(ig)) throw new UsageError(`aelab experiment geology: --ignore-label must be an integer label or 'none', got '${flags['ignore-label']}'`);
    input = { data: r.data, H: r.H, W: r.W, bands: r.bands, labels, ignore: ig, source: String(flags.raster) };
  } else {
    if (flags.labels) throw new UsageError('aelab experiment geology: --labels goes with --raster');
    const s = syntheticScene(o.scene);
    synthetic = true;
    input = { data: s.data, H: s.H, W: s.W, bands: s.bands, labels: s.labels, ignore: 0, source: `synthetic scene ${s.H}×${s.W}×${s.bands}, ${s.options.classes} units (src/tasks/experiments/geology-scene.ts, seed ${s.options.seed})` };
    if (flags.out) {
      const dir = String(flags.out);
      mkdirSync(dir, { recursive: true });
      writeNpy(join(dir, 'scene.npy'), { dtype: 'float32', shape: [s.H, s.W, s.bands], data: s.data });
      writeNpy(join(dir, 'gt.npy'), { dtype: 'int32', shape: [s.H, s.W], data: s.labels });
      // The same pixels as rows [H·W, bands] (row-major pixel order), for 'aelab train' and 'aelab embed'.
      writeNpy(join(dir, 'pixels.npy'), { dtype: 'float32', shape: [s.H * s.W, s.bands], data: s.data });
      w(`wrote ${join(dir, 'scene.npy')} (float32 [${s.H}, ${s.W}, ${s.bands}]), ${join(dir, 'pixels.npy')} (the same pixels as rows [${s.H * s.W}, ${s.bands}]) and ${join(dir, 'gt.npy')} (int32 [${s.H}, ${s.W}], 0 = no label)\n`);
    }
  }
  const r = runGeology(input, o, synthetic);
  const sizes = [r.bands, ...o.hidden, o.codeDim].join('-');
  w(`geology (${budget}) on ${r.source}${synthetic ? ' — SYNTHETIC data, not a real sensor' : ''}\n`);
  w(`k-means, k = ${r.k} (the number of classes), ${o.nInit} restarts, on all ${r.pixels.toLocaleString()} pixels; scored on the ${r.labelled.toLocaleString()} labelled pixels${r.ignore !== null ? ` (label ${r.ignore} = no label, left out)` : ''}\n`);
  w(`networks ${sizes}: stacked AE ${o.pretrainEpochs} pre-training epochs per layer + ${o.finetuneEpochs} fine-tuning; canonical AE ${o.finetuneEpochs} epochs end to end; batch ${o.batchSize}, lr ${o.lr}; bands z-scored first\n`);
  w(`mean ± sample std over ${o.seeds.length} seed${o.seeds.length > 1 ? 's' : ''} (${o.seeds.join(', ')}): initialisation, batch order and k-means seed; the scene is fixed\n\n`);
  const pm = (m: number, s: number) => `${num(m)} ± ${num(s)}`;
  w(table(['method', 'dims', 'ARI', 'NMI', 'accuracy', 'tiny clusters', 'time / seed'], r.methods.map((m) => [
    m.method, String(m.dim), pm(m.ariMean, m.ariStd), pm(m.nmiMean, m.nmiStd), num(m.accuracyMean), m.tiny.join(','), seconds(m.seconds),
  ])));
  w('  accuracy: share of labelled pixels in the class matched to their cluster (Hungarian); tiny clusters: per seed, clusters under 0.1% of the pixels (often one extreme pixel).\n\n');
  w(`paper's claim (stacked AE + k-means maps the units better than PCA or raw k-means): ${r.claim.text}\n\n`);
  w(JSON.stringify(r) + '\n');
  return 0;
}
