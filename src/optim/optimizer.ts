/**
 * The Optimizer base: parameter groups, per-parameter state, zeroGrad, and a checkpointable state.
 *
 * A group is a list of parameters plus hyperparameters (lr and the optimiser's own options); a
 * plain Tensor[] is one group. Per-parameter state is a few scalars (e.g. the step count) and a few
 * tensors (moments), allocated once, outside any scope, the first time the parameter is updated.
 *
 * `stateDict()` is split so it can be written anywhere: `groups` and `state` are plain JSON, and
 * `tensors` maps `"<paramIndex>.<name>"` (e.g. `"3.exp_avg"`) to copies of the state tensors.
 * Parameter indices count across groups in order, so a state dict applies to any optimiser built
 * over the same parameter list. Loading it and continuing gives bit-identical updates.
 */
import { Tensor, shapeStr } from '../core/tensor.js';

/** Hyperparameters every group has. Optimisers add their own options, all numbers or booleans. */
export interface GroupOptions {
  lr: number;
}

export interface ParamGroup<O extends GroupOptions = GroupOptions> {
  params: Tensor[];
  options: O;
}

/** A group as given to a constructor: its params and any options overriding the defaults. */
export type ParamGroupSpec<O extends GroupOptions> = { params: Tensor[] } & Partial<O>;

/** Per-parameter state: JSON scalars plus named float32 buffers of the parameter's size. */
export interface ParamState {
  scalars: Record<string, number>;
  tensors: Record<string, Float32Array>;
}

export interface OptimizerStateDict {
  /** The optimiser's class name, checked on load. */
  type: string;
  /** Each group's options and the (global) indices of its parameters. */
  groups: { options: Record<string, number | boolean>; params: number[] }[];
  /** Scalar state by parameter index (only parameters that have state). */
  state: Record<string, Record<string, number>>;
  /** State tensors by `"<paramIndex>.<name>"` (copies). */
  tensors: Map<string, Tensor>;
}

export abstract class Optimizer<O extends GroupOptions = GroupOptions> {
  readonly groups: ParamGroup<O>[];
  protected readonly state = new Map<Tensor, ParamState>();

  constructor(params: Tensor[] | ParamGroupSpec<O>[], defaults: O) {
    if (params.length === 0) throw new Error(`${new.target.name}: got an empty parameter list`);
    const specs: ParamGroupSpec<O>[] = params.length > 0 && params[0] instanceof Tensor
      ? [{ params: params as Tensor[] } as ParamGroupSpec<O>]
      : (params as ParamGroupSpec<O>[]);
    const seen = new Set<Tensor>();
    this.groups = specs.map((spec, gi) => {
      const { params: ps, ...rest } = spec;
      for (const p of ps) {
        if (!(p instanceof Tensor)) throw new Error(`${this.constructor.name}: group ${gi} holds something that is not a Tensor`);
        if (!p.requiresGrad) throw new Error(`${this.constructor.name}: parameter ${p.name ?? shapeStr(p.shape)} in group ${gi} does not require grad`);
        if (seen.has(p)) throw new Error(`${this.constructor.name}: parameter ${p.name ?? shapeStr(p.shape)} appears in more than one place`);
        seen.add(p);
      }
      const options = { ...defaults } as O;
      for (const [k, v] of Object.entries(rest)) {
        if (!(k in defaults)) throw new Error(`${this.constructor.name}: unknown option '${k}' in group ${gi} (known: ${Object.keys(defaults).join(', ')})`);
        (options as unknown as Record<string, number | boolean>)[k] = v as number | boolean;
      }
      return { params: [...ps], options };
    });
  }

  /** Every parameter, in group order (the indexing used by stateDict). */
  params(): Tensor[] {
    return this.groups.flatMap((g) => g.params);
  }

  /** The first group's learning rate. */
  get lr(): number {
    return this.groups[0]?.options.lr ?? 0;
  }

  /** Sets the learning rate of every group. */
  set lr(value: number) {
    for (const g of this.groups) g.options.lr = value;
  }

  /** Clears every parameter's gradient (to null). */
  zeroGrad(): void {
    for (const p of this.params()) p.zeroGrad();
  }

  /** Updates every parameter that has a gradient; parameters without one are skipped. */
  step(): void {
    for (const g of this.groups) {
      for (const p of g.params) {
        if (!p.grad) continue;
        this.update(p, p.grad.f32('optimizer'), g.options, this.stateOf(p));
      }
    }
  }

  /** One parameter's update, in place on p.data. */
  protected abstract update(p: Tensor, grad: Float32Array, opts: O, state: ParamState): void;

  /** The state of p, created empty on first use. */
  protected stateOf(p: Tensor): ParamState {
    let s = this.state.get(p);
    if (!s) this.state.set(p, (s = { scalars: {}, tensors: {} }));
    return s;
  }

  /** A zero-filled state buffer of p's size, owned by the optimiser (never in a scope). */
  protected newBuffer(p: Tensor): Float32Array {
    return new Float32Array(p.size);
  }

  stateDict(): OptimizerStateDict {
    const all = this.params();
    const index = new Map(all.map((p, i) => [p, i]));
    let next = 0;
    const groups = this.groups.map((g) => ({ options: { ...g.options } as unknown as Record<string, number | boolean>, params: g.params.map(() => next++) }));
    const state: Record<string, Record<string, number>> = {};
    const tensors = new Map<string, Tensor>();
    for (const [p, s] of this.state) {
      const i = index.get(p)!;
      state[i] = { ...s.scalars };
      for (const [name, buf] of Object.entries(s.tensors)) tensors.set(`${i}.${name}`, new Tensor(buf.slice(), p.shape));
    }
    return { type: this.constructor.name, groups, state, tensors };
  }

  /** Restores options and state from {@link stateDict} (copying the tensors). */
  loadStateDict(sd: OptimizerStateDict): void {
    const me = this.constructor.name;
    if (sd.type !== me) throw new Error(`${me}.loadStateDict: state is from a ${sd.type}`);
    if (sd.groups.length !== this.groups.length) throw new Error(`${me}.loadStateDict: state has ${sd.groups.length} parameter groups, optimizer has ${this.groups.length}`);
    sd.groups.forEach((g, gi) => {
      if (g.params.length !== this.groups[gi]!.params.length) {
        throw new Error(`${me}.loadStateDict: group ${gi} has ${g.params.length} parameters in the state, ${this.groups[gi]!.params.length} in the optimizer`);
      }
    });
    const all = this.params();
    const fresh = new Map<Tensor, ParamState>();
    for (const [key, scalars] of Object.entries(sd.state)) {
      const p = all[Number(key)];
      if (!p) throw new Error(`${me}.loadStateDict: state for parameter ${key}, but there are ${all.length}`);
      fresh.set(p, { scalars: { ...scalars }, tensors: {} });
    }
    for (const [key, t] of sd.tensors) {
      const dot = key.indexOf('.');
      const i = Number(key.slice(0, dot)), name = key.slice(dot + 1);
      const p = all[i];
      const s = p && fresh.get(p);
      if (!p || !s || dot < 0) throw new Error(`${me}.loadStateDict: tensor '${key}' has no matching parameter state`);
      if (t.size !== p.size) throw new Error(`${me}.loadStateDict: tensor '${key}' has shape ${shapeStr(t.shape)}, parameter ${i} has ${shapeStr(p.shape)}`);
      const buf = new Float32Array(p.size);
      buf.set(t.f32(`${me}.loadStateDict`));
      s.tensors[name] = buf;
    }
    sd.groups.forEach((g, gi) => {
      const o = this.groups[gi]!.options as unknown as Record<string, number | boolean>;
      for (const [k, v] of Object.entries(g.options)) if (k in o) o[k] = v;
    });
    this.state.clear();
    for (const [p, s] of fresh) this.state.set(p, s);
  }
}
