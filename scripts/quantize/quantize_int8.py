"""Derive Orchard's int8 feature model from the fp32 one, and measure what it costs in fidelity.

Step of scripts/build-int8-model.sh (Python's onnxruntime.quantization is the build tool; the workers run the result
with onnxruntime-node). The recipe, pinned here and recorded beside the model:
  - static quantization, QDQ format, per-channel int8 weights, uint8 activations, MinMax calibration;
  - calibrated on the 300 sample images of scripts/quantize/calibration.txt (every third, 20 per label), decoded by
    Orchard's own decoders (calibrationInputs.js), so the ranges are those inference sees;
  - the first EXCLUDED_CONVS convolutions (the stem and first blocks) stay fp32: MobileNetV2's early depthwise layers
    lose the most when quantized (cosine 0.94 with every layer quantized, 0.99 with these kept).
Fidelity is measured against the fp32 model on the 600 sample images outside the calibration set (and reported for all
900): cosine per image, leave-one-out 1-NN by folder label, and the explained variance of a k=5 PCA.

usage: quantize_int8.py FP32.onnx CALIBRATION.u8 ALL.u8 OUT.onnx OUT.json
"""
import hashlib
import json
import os
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

EXCLUDED_CONVS = int(os.environ.get("ORCHARD_INT8_EXCLUDED_CONVS", "10"))
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


def features(model_path, images, batch=25):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
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
