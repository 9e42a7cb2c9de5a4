/**
 * A small ONNX graph builder over the `onnx-proto` message classes (protobufjs): nodes are added
 * in topological order, constants become initializers (raw little-endian bytes), and `finish`
 * wraps the graph in a ModelProto (IR version 8, default-domain opset {@link OPSET}) and encodes it.
 *
 * Value names are generated (`t0`, `t1`, …) except for graph inputs and outputs, which keep the
 * names the caller gives. Every tensor is float32 unless a builder method says otherwise; the
 * detectors' standardisation and PCA run in float64 (DOUBLE) to match aelab's own float64 code.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type INodeProto = onnxProto.onnx.INodeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type IValueInfoProto = onnxProto.onnx.IValueInfoProto;
type IAttributeProto = onnxProto.onnx.IAttributeProto;

/** The default-domain operator set the exported graphs use. */
export const OPSET = 17;
/** ONNX IR version written (8 = ONNX 1.10; read by every onnxruntime since 1.10). */
export const IR_VERSION = 8;

export const DT = { FLOAT: 1, INT32: 6, INT64: 7, BOOL: 9, DOUBLE: 11 } as const;
export type ElemType = (typeof DT)[keyof typeof DT];

export type AttrValue = number | number[] | string | { float: number } | { floats: number[] };

function attr(name: string, v: AttrValue): IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new TypeError(`onnx attribute ${name}: ${v} is not an integer (use { float })`);
    return { name, type: T.INT, i: v };
  }
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if ('float' in v) return { name, type: T.FLOAT, f: v.float };
  return { name, type: T.FLOATS, floats: v.floats };
}

function bytesOf(a: Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array): Uint8Array {
  // Typed arrays are little-endian on every platform Node supports, as ONNX raw_data requires.
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}

/** A dimension: a fixed size or a symbolic name (the dynamic batch). */
export type Dim = number | string;

export interface IoSpec {
  name: string;
  shape: Dim[];
  type?: ElemType;
}

export class GraphBuilder {
  readonly nodes: INodeProto[] = [];
  readonly initializers: ITensorProto[] = [];
  private n = 0;

  fresh(prefix = 't'): string {
    return `${prefix}${this.n++}`;
  }

  /** An initializer holding `data` with the given dims; returns its name. */
  constant(data: Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array, dims: number[], type: ElemType, name?: string): string {
    const nm = name ?? this.fresh('c');
    const size = dims.reduce((p, d) => p * d, 1);
    if (size !== data.length) throw new RangeError(`onnx constant ${nm}: ${data.length} values for dims [${dims.join(', ')}]`);
    this.initializers.push({ name: nm, dims, dataType: type, rawData: bytesOf(data) });
    return nm;
  }

  f32(data: ArrayLike<number>, dims: number[], name?: string): string {
    return this.constant(Float32Array.from(data), dims, DT.FLOAT, name);
  }

  f64(data: ArrayLike<number>, dims: number[], name?: string): string {
    return this.constant(Float64Array.from(data), dims, DT.DOUBLE, name);
  }

  i64(data: readonly number[], dims: number[] = [data.length], name?: string): string {
    return this.constant(BigInt64Array.from(data.map((v) => BigInt(v))), dims, DT.INT64, name);
  }

  /** Adds a node; returns its output names (fresh unless `outputs` names them). */
  node(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputs: number | string[] = 1): string[] {
    const outs = typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.fresh()) : outputs;
    this.nodes.push({
      opType: op, input: inputs, output: outs, name: `${op}_${this.nodes.length}`,
      attribute: Object.entries(attrs).map(([k, v]) => attr(k, v)),
    });
    return outs;
  }

  /** A single-output node. */
  op(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, output?: string): string {
    return this.node(op, inputs, attrs, output ? [output] : 1)[0]!;
  }

  /** Renames `value` to the graph output `name` (an Identity node). */
  output(value: string, name: string): string {
    return this.op('Identity', [value], {}, name);
  }

  /** Encodes the ModelProto. `metadata` goes to metadata_props (strings). */
  finish(name: string, inputs: IoSpec[], outputs: IoSpec[], metadata: Record<string, string> = {}, doc = ''): Uint8Array {
    const vi = (s: IoSpec): IValueInfoProto => ({
      name: s.name,
      type: { tensorType: { elemType: s.type ?? DT.FLOAT, shape: { dim: s.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
    });
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      producerName: 'aelab',
      producerVersion: metadata.aelab_version ?? '',
      domain: 'ai.aelab',
      modelVersion: 1,
      docString: doc,
      opsetImport: [{ domain: '', version: OPSET }],
      metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
      graph: {
        name,
        node: this.nodes,
        initializer: this.initializers,
        input: inputs.map(vi),
        output: outputs.map(vi),
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

/** Decodes an ONNX file (for inspection and tests). */
export function decodeModel(bytes: Uint8Array): onnxProto.onnx.ModelProto {
  return onnx.ModelProto.decode(bytes);
}
