/**
 * The mixedae and multimae kinds of `aelab train` (hooked into train-models.ts by three calls):
 *
 *   aelab train mixedae --data mnist --mix 2 --lambda 1 --out runs/mixedae
 *   aelab train multimae --data mnist --modalities edges,foreground,depth --out runs/multimae
 *
 * Both take MAE's data and model flags (--patch, --mask-ratio, --latent = encoder width,
 * --hidden = decoder width, --depth encoder,decoder); mixedae adds --mix (r, images per mixed
 * image, must divide --batch) and --lambda (homologous contrastive weight); multimae adds
 * --modalities (pseudo-labels besides the pixels) and masks across modalities with a Dirichlet
 * split of MAE's visible budget (so --mask does not apply).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../args.js';
import { mixedaeRunSetup, mixedaeSampleGrid, type MixedAE } from '../../models/mixedae.js';
import { multimaeRunSetup, multimaeSampleGrid, type MultiMAE } from '../../models/multimae.js';
import { PSEUDO_LABELS } from '../../data/pseudo-labels.js';
import type { MaskKind } from '../../models/masking.js';
import type { Dataset } from '../../train/fit.js';
import type { ModelType } from '../../models/io.js';
import type { TrainKind, TrainModelsConfig } from './train-models.js';

type Flags = Record<string, string | number | boolean | undefined>;

/**
 * The run config of a mixedae/multimae run (null for other kinds, after refusing --mix and
 * --modalities there). `base` is train-models' configFromFlags, used as for mae for the shared flags.
 */
export function mixedMultiConfig(kind: TrainKind, f: Flags, base: (k: TrainKind, f: Flags) => TrainModelsConfig): TrainModelsConfig | null {
  if (kind !== 'mixedae' && kind !== 'multimae') {
    if (f.mix !== undefined) throw new UsageError(`aelab train ${kind}: --mix applies to mixedae only`);
    if (f.modalities !== undefined) throw new UsageError(`aelab train ${kind}: --modalities applies to multimae only`);
    return null;
  }
  const { mix, modalities, lambda, ...rest } = f;
  if (kind === 'multimae' && (mix !== undefined || lambda !== undefined)) throw new UsageError('aelab train multimae: --mix and --lambda apply to mixedae only');
  if (kind === 'mixedae' && modalities !== undefined) throw new UsageError('aelab train mixedae: --modalities applies to multimae only');
  if (kind === 'multimae' && rest.mask !== undefined) throw new UsageError('aelab train multimae: --mask does not apply (masks are drawn across modalities with Dirichlet proportions)');
  const c = base('mae', rest);
  let r: number | null = null, mods: string[] | null = null;
  if (kind === 'mixedae') {
    r = (mix as number | undefined) ?? 2;
    if (!Number.isInteger(r) || r < 2) throw new UsageError(`aelab train mixedae: --mix must be an integer ≥ 2 (images per mixed image), got ${r}`);
    if (c.batch % r !== 0) throw new UsageError(`aelab train mixedae: --mix ${r} does not divide --batch ${c.batch} (each batch is cut into mixing groups of ${r} images)`);
    if (lambda !== undefined && !((lambda as number) >= 0)) throw new UsageError(`aelab train mixedae: --lambda must be ≥ 0, got ${lambda}`);
  } else {
    mods = modalities !== undefined ? String(modalities).split(',').map((s) => s.trim()).filter(Boolean) : [...PSEUDO_LABELS];
    for (const m of mods) if (!(PSEUDO_LABELS as readonly string[]).includes(m)) throw new UsageError(`aelab train multimae: --modalities: unknown modality '${m}' (pseudo-labels: ${PSEUDO_LABELS.join(', ')})`);
    if (!mods.length || new Set(mods).size !== mods.length) throw new UsageError(`aelab train multimae: --modalities must name distinct pseudo-labels, got '${String(modalities)}'`);
  }
  return {
    ...c, kind, mask: kind === 'mixedae' ? c.mask : null, lambda: kind === 'mixedae' ? ((lambda as number | undefined) ?? 1) : null, mix: r, modalities: mods,
  };
}

/** The dataset and model config of a mixedae/multimae run (null for other kinds). */
export function prepareMixedMulti(c: TrainModelsConfig): { data: Dataset; type: ModelType; config: object; scaler: null; names: string[] } | null {
  const o = { data: c.data, patch: c.patch, maskRatio: c.maskRatio, dim: c.latent, decoderDim: c.hidden[0], depth: c.depth, seed: c.seed };
  if (c.kind === 'mixedae') {
    const r = mixedaeRunSetup({ ...o, mask: c.mask as MaskKind, mixGroup: c.mix, homologousWeight: c.lambda, batch: c.batch });
    return { data: r.data, type: 'mixedae', config: r.config, scaler: null, names: [] };
  }
  if (c.kind === 'multimae') {
    const r = multimaeRunSetup({ ...o, modalities: c.modalities });
    return { data: r.data, type: 'multimae', config: r.config, scaler: null, names: [] };
  }
  return null;
}

/** Writes <out>/reconstructions.png for a finished mixedae/multimae run and returns the line to print (null for other kinds). */
export function mixedMultiGrid(kind: TrainKind, model: unknown, data: { x: Float32Array; n: number }, out: string, seed: number): string | null {
  const path = join(out, 'reconstructions.png');
  if (kind === 'mixedae') {
    writeFileSync(path, mixedaeSampleGrid(model as MixedAE, data, 8, seed));
    return `reconstructions: ${path} (rows: masked mixed input | reconstruction | mixed image)`;
  }
  if (kind === 'multimae') {
    const m = model as MultiMAE;
    writeFileSync(path, multimaeSampleGrid(m, data, 8, seed));
    return `reconstructions: ${path} (rows; per modality ${m.config.modalities.map((x) => x.name).join(', ')}: masked input | reconstruction | original)`;
  }
  return null;
}
