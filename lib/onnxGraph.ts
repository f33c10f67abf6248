// A minimal ONNX ModelProto encoder: just enough protobuf to describe small graphs without weights, so a kernel
// such as a Gram matrix product can run on onnxruntime's MLAS without shipping a .onnx file or a protobuf library.
// Field numbers are those of onnx/onnx.proto.

/** ONNX TensorProto.DataType codes of the element types these graphs use. */
export const ELEMENT_TYPE = { float32: 1, float64: 11 } as const;

/** A graph input or output; a string dimension is symbolic (e.g. the batch size). */
export interface OnnxTensor {
  name: string;
  type: keyof typeof ELEMENT_TYPE;
  shape: (number | string)[];
}

/** One operator node; attributes are non-negative INT attributes only. */
export interface OnnxNode {
  opType: string;
  inputs: string[];
  outputs: string[];
  attributes?: Record<string, number>;
}

/** A graph without initializers (weights). */
export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  inputs: OnnxTensor[];
  outputs: OnnxTensor[];
}

const IR_VERSION = 8;
const ATTRIBUTE_INT = 2;
const WIRE_VARINT = 0;
const WIRE_BYTES = 2;

/** Append-only protobuf writer: varint and length-delimited fields, nested messages encoded bottom-up. */
class ProtoWriter {
  readonly #bytes: number[] = [];

  #varint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new Error(`onnxGraph: varint needs a non-negative safe integer, got ${value}`);
    // Division rather than >>> keeps values above 2^32 exact.
    while (value >= 0x80) {
      this.#bytes.push((value % 0x80) | 0x80);
      value = Math.floor(value / 0x80);
    }
    this.#bytes.push(value);
  }

  #key(field: number, wireType: number): void {
    this.#varint(field * 8 + wireType);
  }

  int(field: number, value: number): this {
    this.#key(field, WIRE_VARINT);
    this.#varint(value);
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

/** Serialize a graph as an ONNX ModelProto (IR version 8, default-domain opset `opset`) that InferenceSession.create accepts. */
export function encodeOnnxModel(graph: OnnxGraph, opset = 13): Uint8Array {
  return new ProtoWriter()
    .int(1, IR_VERSION)
    .string(2, 'orchard')
    .message(7, (g) => {
      graph.nodes.forEach((node, index) =>
        g.message(1, (n) => {
          for (const input of node.inputs) n.string(1, input);
          for (const output of node.outputs) n.string(2, output);
          n.string(3, `${node.opType}_${index}`).string(4, node.opType);
          // AttributeProto { name = 1, i = 3, type = 20 }
          for (const [name, value] of Object.entries(node.attributes ?? {})) n.message(5, (a) => a.string(1, name).int(3, value).int(20, ATTRIBUTE_INT));
        }),
      );
      g.string(2, graph.name);
      for (const input of graph.inputs) g.message(11, (v) => valueInfo(v, input));
      for (const output of graph.outputs) g.message(12, (v) => valueInfo(v, output));
    })
    // OperatorSetIdProto { domain = 1 (empty: the default ONNX domain), version = 2 }
    .message(8, (o) => o.string(1, '').int(2, opset))
    .finish();
}
