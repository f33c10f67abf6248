// A minimal ONNX ModelProto encoder: just enough protobuf to describe small graphs without weights, so a kernel
// such as a Gram matrix product can run on onnxruntime's MLAS without shipping a .onnx file or a protobuf library.
// Field numbers are those of onnx/onnx.proto.

/** ONNX TensorProto.DataType codes of the element types these graphs use. */
export const ELEMENT_TYPE = { float32: 1, int64: 7, float64: 11 } as const;

/** A graph input or output; a string dimension is symbolic (e.g. the batch size). */
export interface OnnxTensor {
  name: string;
  type: keyof typeof ELEMENT_TYPE;
  shape: (number | string)[];
}

/** An attribute: a whole number is an INT, a list of them INTS, `{ float }` a FLOAT, a string a STRING. */
export type OnnxAttribute = number | number[] | string | { float: number };

/** One operator node; an empty input name skips an optional input. */
export interface OnnxNode {
  opType: string;
  inputs: string[];
  outputs: string[];
  attributes?: Record<string, OnnxAttribute>;
}

/** A graph without initializers (weights). */
export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  inputs: OnnxTensor[];
  outputs: OnnxTensor[];
}

const IR_VERSION = 8;
const ATTRIBUTE_TYPE = { float: 1, int: 2, string: 3, ints: 7 } as const;
const WIRE_VARINT = 0;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

/** A non-negative safe integer as protobuf varint bytes. Division rather than >>> keeps values above 2^32 exact. */
function varintBytes(value: number): number[] {
  const bytes: number[] = [];
  while (value >= 0x80) {
    bytes.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  bytes.push(value);
  return bytes;
}

/** Append-only protobuf writer: varint and length-delimited fields, nested messages encoded bottom-up. */
class ProtoWriter {
  readonly #bytes: number[] = [];

  #varint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new Error(`onnxGraph: varint needs a non-negative safe integer, got ${value}`);
    this.#bytes.push(...varintBytes(value));
  }

  #key(field: number, wireType: number): void {
    this.#varint(field * 8 + wireType);
  }

  int(field: number, value: number): this {
    this.#key(field, WIRE_VARINT);
    this.#varint(value);
    return this;
  }

  /** An int64 field; negative values take ten bytes, two's complement, as protobuf encodes them. */
  signed(field: number, value: number): this {
    if (value >= 0) return this.int(field, value);
    this.#key(field, WIRE_VARINT);
    let rest = BigInt.asUintN(64, BigInt(value));
    while (rest >= 0x80n) {
      this.#bytes.push(Number(rest & 0x7fn) | 0x80);
      rest >>= 7n;
    }
    this.#bytes.push(Number(rest));
    return this;
  }

  float(field: number, value: number): this {
    this.#key(field, WIRE_FIXED32);
    const buffer = new DataView(new ArrayBuffer(4));
    buffer.setFloat32(0, value, true);
    for (let i = 0; i < 4; i++) this.#bytes.push(buffer.getUint8(i));
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.#key(field, WIRE_BYTES);
    this.#varint(value.length);
    for (const b of value) this.#bytes.push(b);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  /** Bytes already serialized (whole fields). */
  raw(value: Uint8Array): this {
    for (const b of value) this.#bytes.push(b);
    return this;
  }

  message(field: number, build: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.#bytes);
  }
}

// ValueInfoProto { name = 1, type = 2 { tensor_type = 1 { elem_type = 1, shape = 2 { dim = 1 { dim_value = 1 | dim_param = 2 } } } } }
function valueInfo(w: ProtoWriter, tensor: OnnxTensor): void {
  w.string(1, tensor.name).message(2, (type) =>
    type.message(1, (tensorType) =>
      tensorType.int(1, ELEMENT_TYPE[tensor.type]).message(2, (shape) => {
        for (const dim of tensor.shape) shape.message(1, (d) => (typeof dim === 'number' ? d.int(1, dim) : d.string(2, dim)));
      }),
    ),
  );
}

// AttributeProto { name = 1, f = 2, i = 3, s = 4, ints = 8, type = 20 }
function attribute(w: ProtoWriter, value: OnnxAttribute): void {
  if (Array.isArray(value)) {
    for (const item of value) w.signed(8, item);
    w.int(20, ATTRIBUTE_TYPE.ints);
  } else if (typeof value === 'number') w.signed(3, value).int(20, ATTRIBUTE_TYPE.int);
  else if (typeof value === 'string') w.string(4, value).int(20, ATTRIBUTE_TYPE.string);
  else w.float(2, value.float).int(20, ATTRIBUTE_TYPE.float);
}

/** Serialize a graph as an ONNX ModelProto (IR version 8, default-domain opset `opset`) that InferenceSession.create accepts. */
export function encodeOnnxModel(graph: OnnxGraph, opset = 13): Uint8Array {
  return (
    new ProtoWriter()
      .int(1, IR_VERSION)
      .string(2, 'orchard')
      .message(7, (g) => {
        g.raw(encodeNodes(graph.nodes));
        g.string(2, graph.name);
        for (const input of graph.inputs) g.message(11, (v) => valueInfo(v, input));
        for (const output of graph.outputs) g.message(12, (v) => valueInfo(v, output));
      })
      // OperatorSetIdProto { domain = 1 (empty: the default ONNX domain), version = 2 }
      .message(8, (o) => o.string(1, '').int(2, opset))
      .finish()
  );
}

/** Serialized NodeProto fields (field 1 of a GraphProto) for `nodes`. */
function encodeNodes(nodes: OnnxNode[]): Uint8Array {
  const w = new ProtoWriter();
  nodes.forEach((node, index) =>
    w.message(1, (n) => {
      for (const input of node.inputs) n.string(1, input);
      for (const output of node.outputs) n.string(2, output);
      n.string(3, `${node.opType}_${index}`).string(4, node.opType);
      for (const [name, value] of Object.entries(node.attributes ?? {})) n.message(5, (a) => attribute(a.string(1, name), value));
    }),
  );
  return w.finish();
}
