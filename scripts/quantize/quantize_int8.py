"""Derive Orchard's int8 feature model from the fp32 one, and measure what it costs in fidelity.

Step of scripts/build-int8-model.sh (Python's onnxruntime.quantization is the build tool; the workers run the result
with onnxruntime-node). The recipe, pinned here and recorded beside the model:
  - static quantization, QDQ format, per-channel int8 weights, uint8 activations, MinMax calibration;
  - calibrated on the 300 sample images of scripts/quantize/calibration.txt (every third, 20 per label), decoded by
    Orchard's own decoders (calibrationInputs.js), so the ranges are those inference sees;
  - the first EXCLUDED_CONVS convolutions stay fp32: the stem's and the first block's (depthwise, projection), which
    lose the most when quantized; the fp32 part ends at the first block's 112 x 112 x 16 output, the smallest tensor
    of the early layers, so the boundary costs least there (bench/README.md, "int8", has the others measured);
  - bias correction (Nagel et al. 2019, "Data-Free Quantization Through Weight Equalization and Bias Correction", its
    empirical form): rounding a convolution's weights shifts the mean of its output by conv(W - Q(W), E[x]); each
    quantized convolution's bias gets that shift back, E[x] being its mean fp32 input over the calibration images. The
    graph is unchanged; only the int32 biases differ. Without it, quantizing every layer cost cosine 0.87.
Fidelity is measured against the fp32 model on the 600 sample images outside the calibration set (and reported for all
900): cosine per image, leave-one-out 1-NN by folder label, and the explained variance of a k=5 PCA.

usage: quantize_int8.py FP32.onnx CALIBRATION.u8 ALL.u8 OUT.onnx OUT.json
"""
import hashlib
import json
import os
import sys
import tempfile
from collections import namedtuple

import numpy as np
import onnx
import onnx.helper
import onnx.numpy_helper
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

EXCLUDED_CONVS = int(os.environ.get("ORCHARD_INT8_EXCLUDED_CONVS", "3"))
# 1 (the recipe) or 0, to measure what it returns.
BIAS_CORRECTION = os.environ.get("ORCHARD_INT8_BIAS_CORRECTION", "1") == "1"
# MinMax, Percentile or Entropy: the recipe's is MinMax; the others are there to measure against it.
CALIBRATION = os.environ.get("ORCHARD_INT8_CALIBRATION", "MinMax")
SIZE = 224


def load_pixels(path):
    """N x 224 x 224 x 4 uint8 (Orchard's decoded RGBA) -> the model's input: RGB float32 in [-1, 1]."""
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, SIZE, SIZE, 4)
    return (raw[..., :3].astype(np.float32) / 127.5) - 1.0


def names_of(path):
    with open(path + ".names") as f:
        return [line for line in f.read().split("\n") if line]


class Calibration(CalibrationDataReader):
    def __init__(self, images, batch=10):
        self.batches = iter([images[i : i + batch] for i in range(0, len(images), batch)])

    def get_next(self):
        batch = next(self.batches, None)
        return None if batch is None else {"input": batch}


def cpu_session(model):
    """An onnxruntime CPU session on one thread, of a model file's path or a serialized model's bytes."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def mean_conv_inputs(model_path, conv_names, images, batch=25):
    """Each named convolution's mean input over the images, per channel and position (C x H x W), in the fp32 model."""
    model = onnx.load(model_path)
    inputs = {node.name: node.input[0] for node in model.graph.node if node.name in conv_names}
    tensors = sorted(set(inputs.values()))
    model.graph.output.extend([onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None) for name in tensors])
    session = cpu_session(model.SerializeToString())
    sums = {}
    for i in range(0, len(images), batch):
        for name, value in zip(tensors, session.run(tensors, {"input": images[i : i + batch]})):
            sums[name] = sums.get(name, 0) + value.sum(axis=0, dtype=np.float64)
    return {conv: (sums[tensor] / len(images)).astype(np.float32) for conv, tensor in inputs.items()}


def conv_output_mean(conv, weights, mean_input):
    """The spatial mean, per output channel, of `conv` (its strides, pads, groups) with `weights` and no bias applied to
    one C x H x W input: by linearity, the mean output shift the weights cause over inputs of that mean."""
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Conv", ["x", "w"], ["y"], **{a.name: onnx.helper.get_attribute_value(a) for a in conv.attribute})],
        "shift",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, *mean_input.shape])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        [onnx.numpy_helper.from_array(weights.astype(np.float32), "w")],
    )
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 13)])
    model.ir_version = 8
    return cpu_session(model.SerializeToString()).run(["y"], {"x": mean_input[None]})[0].mean(axis=(0, 2, 3), dtype=np.float64)


# A constant the QDQ model dequantizes: its float value, and the quantized initializer behind it with its scale and
# zero point (per channel along the node's axis, or one for the tensor).
Dequantized = namedtuple("Dequantized", "value name scale zero_point")


def dequantize_linear(node, initializers):
    """What a DequantizeLinear node of constant inputs produces."""
    quantized, scale, zero_point = (initializers[name] for name in node.input[:3])
    axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
    per_channel = scale.ndim == 1 and quantized.ndim > 1
    along_axis = (lambda v: v.reshape([-1 if d == axis else 1 for d in range(quantized.ndim)])) if per_channel else (lambda v: v)
    value = (quantized.astype(np.float64) - along_axis(zero_point.astype(np.float64))) * along_axis(scale.astype(np.float64))
    return Dequantized(value, node.input[0], scale.astype(np.float64), zero_point.astype(np.float64))


def correct_biases(fp32_path, quantized_path, images):
    """Bias correction of every quantized convolution of the QDQ model at quantized_path, in place. Returns how many."""
    fp32 = onnx.load(fp32_path)
    fp32_weights = {t.name: onnx.numpy_helper.to_array(t) for t in fp32.graph.initializer}
    fp32_convs = {node.name: node for node in fp32.graph.node if node.op_type == "Conv"}
    model = onnx.load(quantized_path)
    initializers = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    producer = {output: node for node in model.graph.node for output in node.output}

    def dequantized_constant(tensor):
        node = producer.get(tensor)
        if node is None or node.op_type != "DequantizeLinear" or not all(name in initializers for name in node.input):
            return None
        return dequantize_linear(node, initializers)

    quantized = {}
    for conv in model.graph.node:
        if conv.op_type != "Conv" or len(conv.input) < 3:
            continue
        weights, biases = dequantized_constant(conv.input[1]), dequantized_constant(conv.input[2])
        if weights is None or biases is None:
            continue  # a convolution kept fp32
        assert conv.name in fp32_convs, f"{conv.name}: no convolution of that name in the fp32 model"
        quantized[conv.name] = (conv, weights.value, biases)
    means = mean_conv_inputs(fp32_path, set(quantized), images)
    replaced = {}
    for name, (conv, dequantized_weights, bias) in quantized.items():
        error = fp32_weights[fp32_convs[name].input[1]].astype(np.float64) - dequantized_weights
        corrected = bias.value + conv_output_mean(conv, error, means[name])
        requantized = np.rint(corrected / bias.scale) + bias.zero_point
        replaced[bias.name] = np.clip(requantized, -(2**31), 2**31 - 1).astype(np.int32)
    for tensor in model.graph.initializer:
        if tensor.name in replaced:
            tensor.CopyFrom(onnx.numpy_helper.from_array(replaced[tensor.name], tensor.name))
    onnx.save(model, quantized_path)
    return len(replaced)


def features(model_path, images, batch=25):
    session = cpu_session(model_path)
    return np.concatenate([session.run(["features"], {"input": images[i : i + batch]})[0] for i in range(0, len(images), batch)])


def loo_1nn(vectors, labels):
    normed = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    similarity = normed @ normed.T
    np.fill_diagonal(similarity, -np.inf)
    nearest = similarity.argmax(axis=1)
    return float(np.mean([labels[i] == labels[j] for i, j in enumerate(nearest)]))


def explained_variance(vectors, k=5):
    centred = vectors - vectors.mean(axis=0)
    singular = np.linalg.svd(centred, compute_uv=False)
    variance = singular**2
    return (variance[:k] / variance.sum()).tolist()


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def main():
    fp32_path, calibration_path, all_path, out_path, report_path = sys.argv[1:6]
    calibration = load_pixels(calibration_path)
    with tempfile.TemporaryDirectory() as work:
        prepared = os.path.join(work, "prepared.onnx")
        quant_pre_process(fp32_path, prepared, skip_symbolic_shape=True)
        graph = onnx.load(prepared).graph
        convs = [node.name for node in graph.node if node.op_type == "Conv"]
        excluded = convs[:EXCLUDED_CONVS]
        quantize_static(
            prepared,
            out_path,
            Calibration(calibration),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod[CALIBRATION],
            nodes_to_exclude=excluded,
        )
        corrected = correct_biases(prepared, out_path, calibration) if BIAS_CORRECTION else 0

    images = load_pixels(all_path)
    names = names_of(all_path)
    calibrated = set(names_of(calibration_path))
    held_out = np.array([name not in calibrated for name in names])
    labels = [name.split("/")[-2] for name in names]
    reference = features(fp32_path, images)
    quantized = features(out_path, images)
    cosine = np.sum(reference * quantized, axis=1) / (np.linalg.norm(reference, axis=1) * np.linalg.norm(quantized, axis=1))
    ev_fp32 = explained_variance(reference)
    ev_int8 = explained_variance(quantized)
    report = {
        "model": os.path.basename(out_path),
        "sha256": sha256(out_path),
        "derivedFrom": {"file": os.path.basename(fp32_path), "sha256": sha256(fp32_path)},
        "recipe": {
            "tool": f"onnxruntime.quantization {ort.__version__} (onnx {onnx.__version__})",
            "format": "QDQ",
            "weights": "int8 per channel",
            "activations": "uint8",
            "calibration": CALIBRATION,
            "calibrationImages": "scripts/quantize/calibration.txt",
            "calibrationListSha256": sha256(calibration_path + ".names"),
            "keptFp32": {"convolutions": EXCLUDED_CONVS, "nodes": excluded},
            "biasCorrection": {"convolutions": corrected, "meanInputsFrom": "the calibration images, fp32"},
            "quantizedConvolutions": len(convs) - len(excluded),
        },
        "fidelity": {
            "images": len(names),
            "heldOutImages": int(held_out.sum()),
            "cosineHeldOut": {"mean": float(cosine[held_out].mean()), "min": float(cosine[held_out].min())},
            "cosineAll": {"mean": float(cosine.mean()), "min": float(cosine.min())},
            "looOneNn": {"fp32": loo_1nn(reference, labels), "int8": loo_1nn(quantized, labels)},
            "explainedVarianceK5": {"fp32": ev_fp32, "int8": ev_int8, "maxDifference": max(abs(a - b) for a, b in zip(ev_fp32, ev_int8))},
        },
    }
    with open(report_path, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    fidelity = report["fidelity"]
    print(
        f"int8 model {out_path}: cosine to fp32 on held-out images mean {fidelity['cosineHeldOut']['mean']:.4f} "
        f"min {fidelity['cosineHeldOut']['min']:.4f}; 1-NN fp32 {fidelity['looOneNn']['fp32']:.4f} int8 "
        f"{fidelity['looOneNn']['int8']:.4f}; explained variance within {fidelity['explainedVarianceK5']['maxDifference']:.4f}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
