/**
 * The Module base class: a container of parameters, buffers and sub-modules, discovered by walking
 * the instance's own fields.
 *
 * Discovery rules (they reproduce PyTorch's names for the same structure):
 * - A field holding a Tensor with `requiresGrad` is a parameter, named by the field.
 * - A field holding a Tensor registered with {@link buffer} (e.g. BatchNorm's running statistics)
 *   is a buffer: it is in `stateDict()` but not in `parameters()`. Other tensor fields (caches,
 *   constants) are ignored.
 * - A field holding a Module is a child; a field holding an array of Modules (or of Tensors) is a
 *   list whose elements are named by index, like `nn.ModuleList` / `nn.ParameterList`:
 *   `layers.0.weight`.
 * - A module's own tensors come first (in field order), then its children (in field order), as in
 *   PyTorch's `named_parameters()` / `state_dict()`.
 *
 * Field order is declaration order: with the ES2022 class-field semantics this project compiles to,
 * every declared field is defined (as `undefined` if not initialised inline) before the constructor
 * body runs, so assigning in the constructor keeps the declared order. Fields named like PyTorch's
 * (`in_proj_weight`, `running_mean`) exist so that PyTorch state dicts load unchanged.
 *
 * Parameters must be made with {@link param}: it marks the tensor `requiresGrad` and `keep()`s it,
 * so a training step's `scope()` never recycles parameter storage, even if the module was built
 * inside a scope.
 */
import { Tensor, shapeStr } from '../core/tensor.js';

/** Tensors registered as (non-trainable) buffers. A WeakSet keeps buffers free of marker fields. */
const bufferSet = new WeakSet<Tensor>();

/** Makes `t` a trainable parameter: requiresGrad, kept out of every scope. Returns t. */
export function param(t: Tensor): Tensor {
  return t.requireGrad(true).keep();
}

/** Marks `t` as a module buffer (saved in stateDict, not trained) and keeps it. Returns t. */
export function buffer(t: Tensor): Tensor {
  bufferSet.add(t);
  t.requiresGrad = false;
  return t.keep();
}

/** Whether `t` was registered with {@link buffer}. */
export function isBuffer(t: Tensor): boolean {
  return bufferSet.has(t);
}

/** Options for {@link Module.loadStateDict}. */
export interface LoadStateDictOptions {
  /** Throw when keys are missing or unexpected (default true). Shape mismatches always throw. */
  strict?: boolean;
}

/** What {@link Module.loadStateDict} did not match (both empty after a strict load). */
export interface LoadStateDictResult {
  missing: string[];
  unexpected: string[];
}

/** A module whose forward maps one tensor to one tensor (what Sequential chains). */
export interface Layer extends Module {
  forward(x: Tensor): Tensor;
}

function join(prefix: string, name: string): string {
  return prefix ? `${prefix}.${name}` : name;
}

export abstract class Module {
  /** Training mode (dropout active, batch statistics); set with train()/eval(). */
  training = true;

  /**
   * This module's direct children with their names. The default walks fields (see the file
   * comment); containers such as Sequential override it to name children `0`, `1`, ….
   */
  namedChildren(): [string, Module][] {
    const out: [string, Module][] = [];
    for (const [key, v] of Object.entries(this)) {
      if (v instanceof Module) out.push([key, v]);
      else if (Array.isArray(v)) v.forEach((m, i) => { if (m instanceof Module) out.push([`${key}.${i}`, m]); });
    }
    return out;
  }

  /** This module's own tensors (parameters and buffers, not its children's), with their names. */
  namedTensors(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const consider = (name: string, t: unknown) => {
      if (t instanceof Tensor && (t.requiresGrad || bufferSet.has(t))) out.push([name, t]);
    };
    for (const [key, v] of Object.entries(this)) {
      if (Array.isArray(v)) v.forEach((t, i) => consider(`${key}.${i}`, t));
      else consider(key, v);
    }
    return out;
  }

  /** Every module in the tree, pre-order, with dotted names ('' for this one). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this.namedChildren()) out.push(...child.namedModules(join(prefix, name)));
    return out;
  }

  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /** Trainable parameters with dotted names, each tensor once (a tied weight keeps its first name). */
  namedParameters(): [string, Tensor][] {
    const seen = new Set<Tensor>();
    const out: [string, Tensor][] = [];
    for (const [prefix, m] of this.namedModules()) {
      for (const [name, t] of m.namedTensors()) {
        if (!t.requiresGrad || bufferSet.has(t) || seen.has(t)) continue;
        seen.add(t);
        out.push([join(prefix, name), t]);
      }
    }
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Total number of trainable scalars. */
  numParameters(): number {
    let n = 0;
    for (const p of this.parameters()) n += p.size;
    return n;
  }

  /**
   * Parameters and buffers by dotted name, in PyTorch's state_dict order. The tensors share storage
   * with the module (they are detached views, not copies): copy them to snapshot.
   */
  stateDict(): Map<string, Tensor> {
    return new Map(this.allTensors().map(([k, t]) => [k, t.detach()]));
  }

  /**
   * Copies tensors into this module's parameters and buffers in place (so optimisers holding them
   * keep working). A shape mismatch always throws, naming the key and both shapes; with `strict`
   * (the default) missing or unexpected keys throw too, listing all of them.
   */
  loadStateDict(state: Map<string, Tensor> | Record<string, Tensor>, opts: LoadStateDictOptions = {}): LoadStateDictResult {
    const strict = opts.strict ?? true;
    const src = state instanceof Map ? state : new Map(Object.entries(state));
    const own = new Map(this.allTensors());
    const missing = [...own.keys()].filter((k) => !src.has(k));
    const unexpected = [...src.keys()].filter((k) => !own.has(k));
    const mismatched: string[] = [];
    for (const [k, dst] of own) {
      const s = src.get(k);
      if (!s) continue;
      if (s.shape.length !== dst.shape.length || s.shape.some((d, i) => d !== dst.shape[i])) {
        mismatched.push(`'${k}': checkpoint has ${shapeStr(s.shape)}, module has ${shapeStr(dst.shape)}`);
      }
    }
    const problems: string[] = [];
    if (mismatched.length) problems.push(`shape mismatch for ${mismatched.join('; ')}`);
    if (strict && missing.length) problems.push(`missing keys: ${missing.map((k) => `'${k}'`).join(', ')}`);
    if (strict && unexpected.length) problems.push(`unexpected keys: ${unexpected.map((k) => `'${k}'`).join(', ')}`);
    if (problems.length) throw new Error(`loadStateDict(${this.constructor.name}): ${problems.join('; ')}`);
    for (const [k, dst] of own) {
      const s = src.get(k);
      if (!s || s.data === dst.data) continue;
      if (dst.dtype === 'int32') {
        const d = dst.data;
        for (let i = 0; i < d.length; i++) d[i] = Math.round(s.data[i]!);
      } else dst.data.set(s.data);
    }
    return { missing, unexpected };
  }

  /** Sets training mode on this module and every descendant. Returns this. */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  /** Evaluation mode (train(false)). Returns this. */
  eval(): this {
    return this.train(false);
  }

  /** Clears every parameter's gradient (sets it to null, returning its buffer to the pool). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  /** Names every parameter and buffer tensor (`t.name`) by its dotted path, for error messages. Returns this. */
  nameTensors(): this {
    for (const [k, t] of this.allTensors()) t.name = k;
    return this;
  }

  /** One line per parameter/buffer: name, shape (buffers marked), then the trainable count. */
  summary(): string {
    const lines = this.allTensors().map(([k, t]) => `${k} ${shapeStr(t.shape)}${bufferSet.has(t) ? ' (buffer)' : ''}`);
    lines.push(`${this.numParameters()} trainable parameters`);
    return lines.join('\n');
  }

  /** Every parameter and buffer with its dotted name (the live tensors), in state_dict order. */
  private allTensors(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [prefix, m] of this.namedModules()) for (const [name, t] of m.namedTensors()) out.push([join(prefix, name), t]);
    return out;
  }
}
