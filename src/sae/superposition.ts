/**
 * Ground-truth synthetic activations in superposition (toy-model data for SAE evaluation).
 *
 * Model: n unit-norm feature directions f_i ∈ ℝ^d (n may exceed d). For every token t,
 *   x_t = Σ_i a_{t,i} m_{t,i} f_i + ε_t,
 * where a_{t,i} ~ Bernoulli(p_i) independently, the magnitudes m_{t,i} > 0 are i.i.d., and
 * ε_t ~ N(0, σ² I_d). Frequencies follow a power law p_i = p_max · (i + 1)^(−α) (feature 0 is
 * the most frequent), clipped below at p_min.
 *
 * Directions are Gaussian vectors normalised to unit length (nearly orthogonal when d is large).
 * With correlated groups, consecutive blocks of `size` features share a random centre c:
 *   f_i ∝ √ρ · c + √(1 − ρ) · g_i,
 * so two members of a group have expected cosine ≈ ρ. Groups can also co-fire: when any member of
 * a group is active on a token, every other member is switched on with probability `coactivation`
 * (this raises their empirical frequency above p_i; `counts` reports what was actually drawn).
 *
 * Bernoulli draws use geometric gaps (the gap to the next active token of feature i is
 * ⌊ln U / ln(1 − p_i)⌋), so the cost is proportional to the number of active pairs, not n·tokens.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readNpy, writeNpy, writeFileAtomic } from '../core/io/index.js';
import { Generator } from '../core/random.js';

export type MagnitudeSpec =
  | { kind: 'abs-normal'; scale?: number }
  | { kind: 'uniform'; lo: number; hi: number }
  | { kind: 'constant'; value?: number };

export interface SuperpositionConfig {
  /** Number of true features. */
  n: number;
  /** Ambient dimension. */
  d: number;
  /** Rows (tokens) to generate. */
  tokens: number;
  /** Frequency of feature 0. Default 0.05. */
  maxFrequency?: number;
  /** Power-law exponent α ≥ 0. Default 0.5. */
  exponent?: number;
  /** Lower clip for frequencies. Default 0. */
  minFrequency?: number;
  /** Magnitude distribution of an active feature. Default uniform on [0.5, 1.5]. */
  magnitude?: MagnitudeSpec;
  /** Standard deviation σ of isotropic Gaussian noise added to every row. Default 0. */
  noise?: number;
  /** Correlated groups of consecutive features (see the file comment). */
  groups?: { size: number; correlation: number; coactivation?: number };
}

/** Sparse true codes in CSR form: row t's active features are indices[indptr[t] .. indptr[t+1]). */
export interface SparseRows {
  indptr: Int32Array;
  indices: Int32Array;
  values: Float32Array;
}

export interface SuperpositionData {
  config: Required<Omit<SuperpositionConfig, 'groups'>> & { groups: SuperpositionConfig['groups'] | null };
  /** [tokens, d] row-major. */
  activations: Float32Array;
  /** [n, d] row-major, unit-norm rows. */
  features: Float32Array;
  /** Target frequency p_i of each feature. */
  frequencies: Float64Array;
  /** How many tokens each feature was actually active on. */
  counts: Int32Array;
  /** The true sparse codes (active features and magnitudes per token); not saved by saveSuperposition. */
  codes?: SparseRows;
}

function normalised(cfg: SuperpositionConfig): SuperpositionData['config'] {
  const c = {
    n: cfg.n,
    d: cfg.d,
    tokens: cfg.tokens,
    maxFrequency: cfg.maxFrequency ?? 0.05,
    exponent: cfg.exponent ?? 0.5,
    minFrequency: cfg.minFrequency ?? 0,
    magnitude: cfg.magnitude ?? ({ kind: 'uniform', lo: 0.5, hi: 1.5 } as MagnitudeSpec),
    noise: cfg.noise ?? 0,
    groups: cfg.groups ?? null,
  };
  for (const k of ['n', 'd', 'tokens'] as const) {
    if (!Number.isSafeInteger(c[k]) || c[k] < 1) throw new RangeError(`superposition: ${k} must be a positive integer, got ${c[k]}`);
  }
  if (!(c.maxFrequency > 0 && c.maxFrequency <= 1)) throw new RangeError(`superposition: maxFrequency must be in (0, 1], got ${c.maxFrequency}`);
  if (!(c.exponent >= 0)) throw new RangeError(`superposition: exponent must be >= 0, got ${c.exponent}`);
  if (!(c.noise >= 0)) throw new RangeError(`superposition: noise must be >= 0, got ${c.noise}`);
  if (c.groups) {
    const g = c.groups;
    if (!Number.isSafeInteger(g.size) || g.size < 1) throw new RangeError(`superposition: groups.size must be a positive integer`);
    if (!(g.correlation >= 0 && g.correlation < 1)) throw new RangeError(`superposition: groups.correlation must be in [0, 1)`);
    if (g.coactivation !== undefined && !(g.coactivation >= 0 && g.coactivation <= 1)) throw new RangeError(`superposition: groups.coactivation must be in [0, 1]`);
  }
  const m = c.magnitude;
  if (m.kind === 'uniform' && !(m.lo < m.hi)) throw new RangeError('superposition: magnitude uniform needs lo < hi');
  return c;
}

/** p_i = max(p_min, p_max · (i + 1)^(−α)). */
export function powerLawFrequencies(n: number, maxFrequency: number, exponent: number, minFrequency = 0): Float64Array {
  const p = new Float64Array(n);
  for (let i = 0; i < n; i++) p[i] = Math.max(minFrequency, maxFrequency * Math.pow(i + 1, -exponent));
  return p;
}

/** Random unit-norm directions [n, d], optionally in correlated groups of consecutive rows. */
export function randomFeatures(n: number, d: number, gen: Generator, groups?: { size: number; correlation: number } | null): Float32Array {
  const f = new Float32Array(n * d);
  gen.normal(f);
  if (groups && groups.correlation > 0) {
    const centre = new Float32Array(d);
    const a = Math.sqrt(groups.correlation);
    const b = Math.sqrt(1 - groups.correlation);
    for (let g0 = 0; g0 < n; g0 += groups.size) {
      gen.normal(centre);
      let cn = 0;
      for (let j = 0; j < d; j++) cn += centre[j] * centre[j];
      cn = Math.sqrt(cn);
      // Both parts have norm ≈ √d, so the mixture's member-member cosine is ≈ ρ.
      const scale = Math.sqrt(d) / cn;
      for (let i = g0; i < Math.min(n, g0 + groups.size); i++) {
        for (let j = 0; j < d; j++) f[i * d + j] = a * centre[j] * scale + b * f[i * d + j];
      }
    }
  }
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += f[i * d + j] * f[i * d + j];
    const inv = 1 / Math.sqrt(s);
    for (let j = 0; j < d; j++) f[i * d + j] *= inv;
  }
  return f;
}

function magnitudeSampler(m: MagnitudeSpec, gen: Generator): () => number {
  const one = new Float32Array(2);
  switch (m.kind) {
    case 'abs-normal': {
      const s = m.scale ?? 1;
      return () => Math.abs(gen.normal(one)[0]) * s;
    }
    case 'uniform':
      return () => m.lo + (m.hi - m.lo) * gen.nextFloat64();
    case 'constant': {
      const v = m.value ?? 1;
      return () => v;
    }
  }
}

/** Tag of the superposition generator's streams (ASCII 'SUPE'); see generate. */
export const SUPERPOSITION_STREAM_TAG = 0x53555045;

/**
 * Draws a data set. Deterministic given `gen`'s state: features, then activity, then magnitudes
 * and noise come from separate split children, so changing e.g. the noise level leaves the
 * features and the active sets unchanged. The children are tagged (Generator.split(tag)), so they
 * share no random numbers with an SAE initialised from a generator of the same seed: untagged, a
 * `--seed 1` data set and a `--seed 1` SAE would start with the decoder equal to the true features.
 */
export function generate(config: SuperpositionConfig, gen: Generator): SuperpositionData {
  const cfg = normalised(config);
  const { n, d, tokens } = cfg;
  const [gFeat, gAct, gMag, gNoise] = gen.fork(4, SUPERPOSITION_STREAM_TAG);
  const features = randomFeatures(n, d, gFeat, cfg.groups);
  const frequencies = powerLawFrequencies(n, cfg.maxFrequency, cfg.exponent, cfg.minFrequency);

  // Active (token, feature) pairs, collected per token.
  const perToken: number[][] = Array.from({ length: tokens }, () => []);
  for (let i = 0; i < n; i++) {
    const p = frequencies[i];
    if (p <= 0) continue;
    if (p >= 1) {
      for (let t = 0; t < tokens; t++) perToken[t].push(i);
      continue;
    }
    const logq = Math.log1p(-p);
    let t = -1;
    for (;;) {
      // Gap until the next success of a Bernoulli(p) sequence: Geometric(p) on {1, 2, …}.
      const u = 1 - gAct.nextFloat64(); // (0, 1]
      t += 1 + Math.floor(Math.log(u) / logq);
      if (t >= tokens || !Number.isFinite(t)) break;
      perToken[t].push(i);
    }
  }
  if (cfg.groups && (cfg.groups.coactivation ?? 0) > 0) {
    const size = cfg.groups.size;
    const q = cfg.groups.coactivation as number;
    for (let t = 0; t < tokens; t++) {
      const active = new Set(perToken[t]);
      const groupsOn = new Set(perToken[t].map((i) => Math.floor(i / size)));
      for (const g of [...groupsOn].sort((a, b) => a - b)) {
        for (let i = g * size; i < Math.min(n, (g + 1) * size); i++) {
          if (!active.has(i) && gAct.nextFloat64() < q) active.add(i);
        }
      }
      perToken[t] = [...active];
    }
  }

  const counts = new Int32Array(n);
  let nnz = 0;
  for (const row of perToken) {
    row.sort((a, b) => a - b);
    nnz += row.length;
  }
  const indptr = new Int32Array(tokens + 1);
  const indices = new Int32Array(nnz);
  const values = new Float32Array(nnz);
  const activations = new Float32Array(tokens * d);
  const mag = magnitudeSampler(cfg.magnitude, gMag);
  let k = 0;
  for (let t = 0; t < tokens; t++) {
    indptr[t] = k;
    const o = t * d;
    for (const i of perToken[t]) {
      const m = Math.fround(mag());
      indices[k] = i;
      values[k++] = m;
      counts[i]++;
      const fo = i * d;
      for (let j = 0; j < d; j++) activations[o + j] += m * features[fo + j];
    }
  }
  indptr[tokens] = k;
  if (cfg.noise > 0) {
    const eps = new Float32Array(d);
    for (let t = 0; t < tokens; t++) {
      gNoise.normal(eps, 0, cfg.noise);
      for (let j = 0; j < d; j++) activations[t * d + j] += eps[j];
    }
  }
  return { config: cfg, activations, features, frequencies, counts, codes: { indptr, indices, values } };
}

interface TruthJson {
  format: 'aelab-superposition';
  version: 1;
  config: SuperpositionData['config'];
  frequencies: number[];
  counts: number[];
}

/** Writes `dir`/activations.npy [tokens, d], features.npy [n, d] and truth.json (config, frequencies, counts). */
export function saveSuperposition(dir: string, data: SuperpositionData): void {
  mkdirSync(dir, { recursive: true });
  const { n, d, tokens } = data.config;
  writeNpy(join(dir, 'activations.npy'), { dtype: 'float32', shape: [tokens, d], data: data.activations });
  writeNpy(join(dir, 'features.npy'), { dtype: 'float32', shape: [n, d], data: data.features });
  const truth: TruthJson = {
    format: 'aelab-superposition',
    version: 1,
    config: data.config,
    frequencies: Array.from(data.frequencies),
    counts: Array.from(data.counts),
  };
  // truth.json last: a folder with truth.json is complete.
  writeFileAtomic(join(dir, 'truth.json'), [new TextEncoder().encode(JSON.stringify(truth, null, 2) + '\n')]);
}

/** Reads a folder written by saveSuperposition (activations are loaded whole; stream them with openActivations instead for large sets). */
export function loadSuperposition(dir: string, opts: { activations?: boolean } = {}): SuperpositionData {
  const truth = JSON.parse(readFileSync(join(dir, 'truth.json'), 'utf8')) as TruthJson;
  if (truth.format !== 'aelab-superposition') throw new Error(`${join(dir, 'truth.json')}: not an aelab superposition truth file`);
  const feats = readNpy(join(dir, 'features.npy'));
  const { n, d, tokens } = truth.config;
  if (feats.shape.length !== 2 || feats.shape[0] !== n || feats.shape[1] !== d) {
    throw new Error(`${join(dir, 'features.npy')}: shape [${feats.shape.join(', ')}] does not match truth.json [${n}, ${d}]`);
  }
  let activations: Float32Array = new Float32Array(0);
  if (opts.activations ?? true) {
    const a = readNpy(join(dir, 'activations.npy'));
    if (a.shape.length !== 2 || a.shape[0] !== tokens || a.shape[1] !== d) {
      throw new Error(`${join(dir, 'activations.npy')}: shape [${a.shape.join(', ')}] does not match truth.json [${tokens}, ${d}]`);
    }
    activations = a.data as Float32Array;
  }
  return {
    config: truth.config,
    activations,
    features: feats.data as Float32Array,
    frequencies: Float64Array.from(truth.frequencies),
    counts: Int32Array.from(truth.counts),
  };
}
