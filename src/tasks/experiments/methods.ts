/**
 * `aelab experiment methods`: the headline claims of issue 14's training methods and efficient
 * architectures, each measured at small scale against the baseline it claims to beat, one row per
 * method: claim | baseline | ours | held? | command.
 *
 * Adding a method: write a `MethodSpec` (a name, and `run(budget, seed)` returning a `MethodRow`)
 * and append it to `METHODS`. Nothing else needs to change: the CLI prints every row in order.
 *
 * NoProp (src/models/noprop.ts): NoProp-DT against the same block network trained end to end with
 * back-propagation, same data, steps, batch, learning rate and seed; MNIST test accuracy and
 * training time. Paper (Li, Teh & Pascanu 2025, Table 1): NoProp-DT 99.47% vs backprop 99.46% on
 * MNIST, i.e. comparable accuracy without back-propagating through the network. "Held" = NoProp's
 * test accuracy is at least the backprop network's minus one percentage point.
 */
import { loadMnist } from '../../data/mnist.js';
import { NoProp, type NoPropConfig } from '../../models/noprop.js';
import { train } from '../../train/fit.js';
import { slabMethodRow } from '../../models/slab-vit.js';
import { fitMethodRow } from '../../models/fit.js';
import { starbucksMethodRow } from '../../models/starbucks.js';
import { met2netMethodRow } from '../../models/met2net.js';
import { defaultNabRoot } from './nab.js';
import { cbnetMethodRow } from '../../models/cbnet.js';
import { ecoM2FMethodRow } from '../../models/eco-m2f.js';
import { hyperZZW1dMethodRow, hyperZZWMethodRow } from '../../models/hyperzzw.js';

export type MethodBudget = 'tiny' | 'quick';
export const METHOD_BUDGETS: readonly MethodBudget[] = ['tiny', 'quick'];

/** One row of the methods table (cells as printed) plus the raw numbers behind it. */
export interface MethodRow {
  method: string;
  claim: string;
  baseline: string;
  ours: string;
  /** null: not decidable at this budget. */
  held: boolean | null;
  command: string;
  numbers: Record<string, number | string | boolean>;
}

export interface MethodSpec {
  name: string;
  run(budget: MethodBudget, seed: number): MethodRow;
}

// ---- NoProp ----------------------------------------------------------------------------------------

export interface NoPropMethodOptions {
  trainCount: number;
  testCount: number;
  steps: number;
  batchSize: number;
  lr: number;
  blocks: number;
  hidden: number;
  seed: number;
}

export const NOPROP_BUDGETS: Record<MethodBudget, Omit<NoPropMethodOptions, 'seed'>> = {
  tiny: { trainCount: 2000, testCount: 500, steps: 150, batchSize: 64, lr: 3e-3, blocks: 4, hidden: 64 },
  quick: { trainCount: 8000, testCount: 2000, steps: 1500, batchSize: 64, lr: 2e-3, blocks: 10, hidden: 128 },
};

export interface NoPropComparison {
  options: NoPropMethodOptions;
  noprop: NoPropRun;
  backprop: NoPropRun;
}

/** trainSeconds: wall clock; cpuSeconds: this process's user + system CPU time (steadier on a shared machine). */
export interface NoPropRun {
  testAccuracy: number;
  trainSeconds: number;
  cpuSeconds: number;
  finalLoss: number;
}

/** Trains NoProp-DT and the same blocks with backprop at the same budget; test accuracy and time. */
export function runNoPropComparison(o: NoPropMethodOptions): NoPropComparison {
  const { train: tr, test: te } = loadMnist({ trainCount: o.trainCount, testCount: o.testCount, seed: o.seed });
  const data = { x: tr.x, y: tr.y, n: tr.n, sampleShape: [784] };
  const one = (backprop: boolean) => {
    const cfg: NoPropConfig = { inputDim: 784, classes: 10, blocks: o.blocks, hidden: o.hidden, backprop, seed: o.seed };
    const model = new NoProp(cfg);
    const t0 = performance.now(), c0 = process.cpuUsage();
    const r = train(model, data, { steps: o.steps, batchSize: o.batchSize, lr: o.lr, seed: o.seed });
    const trainSeconds = (performance.now() - t0) / 1000, cu = process.cpuUsage(c0), cpuSeconds = (cu.user + cu.system) / 1e6;
    model.eval();
    return { testAccuracy: model.accuracy(te.x, te.y, o.seed), trainSeconds, cpuSeconds, finalLoss: r.lastLoss };
  };
  return { options: o, noprop: one(false), backprop: one(true) };
}

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
const secs = (r: NoPropRun) => `${r.trainSeconds.toFixed(1)} s (CPU ${r.cpuSeconds.toFixed(1)} s)`;

export const NOPROP_METHOD: MethodSpec = {
  name: 'noprop',
  run(budget, seed) {
    const o = { ...NOPROP_BUDGETS[budget], seed };
    const r = runNoPropComparison(o);
    return {
      method: 'NoProp-DT',
      claim: `blocks trained alone to denoise label embeddings match backprop accuracy (MNIST ${o.trainCount / 1000}k imgs, ${o.steps} steps, T=${o.blocks})`,
      baseline: `backprop, same blocks: ${pct(r.backprop.testAccuracy)} in ${secs(r.backprop)}`,
      ours: `${pct(r.noprop.testAccuracy)} in ${secs(r.noprop)}`,
      held: r.noprop.testAccuracy >= r.backprop.testAccuracy - 0.01,
      command: `aelab experiment methods --budget ${budget} --only noprop${seed !== 0 ? ` --seed ${seed}` : ''}`,
      numbers: {
        nopropTestAccuracy: r.noprop.testAccuracy, backpropTestAccuracy: r.backprop.testAccuracy,
        nopropTrainSeconds: r.noprop.trainSeconds, backpropTrainSeconds: r.backprop.trainSeconds,
        nopropCpuSeconds: r.noprop.cpuSeconds, backpropCpuSeconds: r.backprop.cpuSeconds,
        timeRatio: r.noprop.trainSeconds / r.backprop.trainSeconds, cpuRatio: r.noprop.cpuSeconds / r.backprop.cpuSeconds,
      },
    };
  },
};

// ---- the table -------------------------------------------------------------------------------------

/** Every method row, in table order. Later methods (SLAB, FIT, …) append their spec here. */
export const METHODS: MethodSpec[] = [NOPROP_METHOD];

// ---- SLAB (src/nn/slab.ts, src/models/slab-vit.ts: runSlabComparison; scripts/slab-bench.mjs) ----
export const SLAB_METHOD: MethodSpec = { name: 'slab', run: (budget, seed) => slabMethodRow(budget, seed) };
METHODS.push(SLAB_METHOD);

// ---- FIT (src/models/fit.ts: runFitComparison, fitScaling; bench/methods.ts) ----
export const FIT_METHOD: MethodSpec = { name: 'fit', run: (budget, seed) => fitMethodRow(budget, seed) };
METHODS.push(FIT_METHOD);

// ---- Starbucks 2D Matryoshka embeddings (src/models/starbucks.ts: runStarbucksComparison) ----
export const STARBUCKS_METHOD: MethodSpec = { name: 'starbucks', run: (budget, seed) => starbucksMethodRow(budget, seed) };
METHODS.push(STARBUCKS_METHOD);

// ---- Met²Net (src/models/met2net.ts: runMet2NetComparison; NAB files shipped under test/fixtures/nab) ----
export const MET2NET_METHOD: MethodSpec = { name: 'met2net', run: (budget, seed) => met2netMethodRow(budget, seed, defaultNabRoot()) };
METHODS.push(MET2NET_METHOD);

// ---- CBNet (src/models/cbnet.ts: runCBNetComparison) ----
export const CBNET_METHOD: MethodSpec = { name: 'cbnet', run: (budget, seed) => cbnetMethodRow(budget, seed) };
METHODS.push(CBNET_METHOD);

// ---- ECO-M2F (src/models/eco-m2f.ts: runEcoM2FComparison; scenes from src/data/digit-scenes.ts) ----
export const ECO_M2F_METHOD: MethodSpec = { name: 'eco-m2f', run: (budget, seed) => ecoM2FMethodRow(budget, seed) };
METHODS.push(ECO_M2F_METHOD);

// ---- HyperZ·Z·W / Terminator-lite (src/models/hyperzzw.ts: runHyperZZWComparison) ----
export const HYPERZZW_METHOD: MethodSpec = { name: 'hyperzzw', run: (budget, seed) => hyperZZWMethodRow(budget, seed) };
METHODS.push(HYPERZZW_METHOD);
// Pixel-level 1D (sequential MNIST) Terminator-lite against a 1D ResNet-lite of matched size.
export const HYPERZZW_1D_METHOD: MethodSpec = { name: 'hyperzzw-1d', run: (budget, seed) => hyperZZW1dMethodRow(budget, seed) };
METHODS.push(HYPERZZW_1D_METHOD);

export interface MethodsOptions {
  budget: MethodBudget;
  seed?: number;
  /** Run only these method names (default all). */
  only?: string[];
  /** Called after each row (progress). */
  onRow?: (row: MethodRow) => void;
}

export function runMethods(o: MethodsOptions): { budget: MethodBudget; rows: MethodRow[] } {
  if (!METHOD_BUDGETS.includes(o.budget)) throw new Error(`methods: budget must be one of ${METHOD_BUDGETS.join(', ')}, got '${o.budget}'`);
  const names = METHODS.map((m) => m.name);
  for (const n of o.only ?? []) if (!names.includes(n)) throw new Error(`methods: unknown method '${n}' (choose from ${names.join(', ')})`);
  const rows: MethodRow[] = [];
  for (const m of METHODS) {
    if (o.only && o.only.length > 0 && !o.only.includes(m.name)) continue;
    const row = m.run(o.budget, o.seed ?? 0);
    rows.push(row);
    o.onRow?.(row);
  }
  return { budget: o.budget, rows };
}

/** Table cells: claim | baseline | ours | held? | command. */
export const METHODS_HEADERS = ['claim', 'baseline', 'ours', 'held?', 'command'];
export function methodsTableRows(rows: MethodRow[]): string[][] {
  return rows.map((r) => [`${r.method}: ${r.claim}`, r.baseline, r.ours, r.held === null ? '—' : r.held ? 'yes' : 'no', r.command]);
}
