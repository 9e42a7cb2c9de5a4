/**
 * Reading HF-style model folders: `config.json` beside `model.safetensors`, or beside
 * `model.safetensors.index.json` and its shards. Tensors are read one at a time (F32, F16, BF16 and
 * F64 widened to float32 by the safetensors reader) and checked against the shape the config
 * implies, so a config that does not match its tensors fails naming the tensor and both shapes.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError } from '../core/io/errors.js';
import { openSafetensors, type SafetensorsFile } from '../core/io/safetensors.js';
import type { Tensor } from '../core/tensor.js';

export type HfConfig = Record<string, unknown>;

/** Reads DIR/config.json (or the given file) as an object. */
export function readHfConfig(dir: string): { path: string; config: HfConfig } {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) throw new FormatError(dir, 'config.json', 'no config.json in this folder (an HF-style model folder holds config.json and model.safetensors)');
  let config: unknown;
  try {
    config = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new FormatError(path, 'json', `not valid JSON: ${(e as Error).message}`);
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new FormatError(path, 'json', 'must hold a JSON object');
  return { path, config: config as HfConfig };
}

/** A config field that must be a positive integer. */
export function cfgInt(path: string, cfg: HfConfig, key: string, fallback?: number): number {
  const v = cfg[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new FormatError(path, key, `field '${key}' must be a positive integer, got ${JSON.stringify(cfg[key])}`);
  return v;
}

/** A config field that must be a positive number. */
export function cfgNum(path: string, cfg: HfConfig, key: string, fallback: number): number {
  const v = cfg[key] ?? fallback;
  if (typeof v !== 'number' || !(v > 0)) throw new FormatError(path, key, `field '${key}' must be a positive number, got ${JSON.stringify(cfg[key])}`);
  return v;
}

/** Name → file for every tensor of the folder's safetensors (single file or an index of shards). */
export class HfWeights {
  private readonly files = new Map<string, SafetensorsFile>();
  private readonly where = new Map<string, SafetensorsFile>();
  readonly used = new Set<string>();

  constructor(readonly dir: string) {
    const index = join(dir, 'model.safetensors.index.json');
    const single = join(dir, 'model.safetensors');
    try {
      if (existsSync(index)) {
        let map: Record<string, string>;
        try {
          map = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map: Record<string, string> }).weight_map;
        } catch (e) {
          throw new FormatError(index, 'json', `not a valid safetensors index: ${(e as Error).message}`);
        }
        if (!map || typeof map !== 'object') throw new FormatError(index, 'weight_map', "missing 'weight_map'");
        for (const [name, file] of Object.entries(map)) {
          let f = this.files.get(file);
          if (!f) { f = openSafetensors(join(dir, file)); this.files.set(file, f); }
          this.where.set(name, f);
        }
      } else if (existsSync(single) && statSync(single).isFile()) {
        const f = openSafetensors(single);
        this.files.set('model.safetensors', f);
        for (const n of f.names()) this.where.set(n, f);
      } else {
        throw new FormatError(dir, 'model.safetensors', 'no model.safetensors or model.safetensors.index.json in this folder');
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  has(name: string): boolean {
    return this.where.has(name);
  }

  names(): string[] {
    return [...this.where.keys()];
  }

  /** Reads tensor `name`, checks its shape and returns its float32 values. */
  read(name: string, shape: readonly number[]): Float32Array {
    const f = this.where.get(name);
    if (!f) throw new FormatError(this.dir, name, `tensor '${name}' is missing from the model's safetensors`);
    const info = f.info(name);
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new FormatError(f.path, name, `tensor '${name}' has shape [${info.shape.join(', ')}], the config implies [${shape.join(', ')}]`);
    }
    const a = f.read(name);
    if (!(a.data instanceof Float32Array)) throw new FormatError(f.path, name, `tensor '${name}' holds integers (${info.fileDtype}), expected floating point`);
    this.used.add(name);
    return a.data;
  }

  /** Reads `name` into a parameter of the same number of elements (optionally transformed). */
  into(name: string, shape: readonly number[], target: Tensor, transform?: (d: Float32Array) => Float32Array): void {
    const d = this.read(name, shape);
    target.f32().set(transform ? transform(d) : d);
  }

  close(): void {
    for (const f of this.files.values()) f.close();
    this.files.clear();
  }
}

/** Row-major transpose [rows, cols] -> [cols, rows] (Conv1D [in, out] to Linear [out, in]). */
export function transposeMatrix(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c]!;
  return out;
}
