#!/usr/bin/env bash
# Derive the int8 feature model from the fp32 one (scripts/quantize/quantize_int8.py has the recipe), calibrated on the
# pinned sample images of scripts/quantize/calibration.txt decoded by Orchard's own decoders, and measure its fidelity
# to fp32. Writes .orchard/models/mobilenet_v2_int8.onnx and, beside it, mobilenet_v2_int8.json (sha256, recipe,
# fidelity). Skipped when both are newer than the fp32 model and the recipe. Python's onnxruntime (the quantization
# tool) is installed into .orchard/python. Needs the build (dist/) and the JPEG decoder. Prints the model's path.
set -euo pipefail
cd "$(dirname "$0")/.."
model="${ORCHARD_MODEL_PATH:-../shared/models/mobilenet_v2/mobilenet_v2_1.0_224_features.onnx}"
sample="${ORCHARD_SAMPLE_DIR:-../shared/data/fruits-360-sample}"
out=.orchard/models/mobilenet_v2_int8.onnx
report=.orchard/models/mobilenet_v2_int8.json
recipe=(scripts/quantize/quantize_int8.py scripts/quantize/calibration.txt scripts/quantize/calibrationInputs.ts "$0")
fresh=1
for input in "$model" "${recipe[@]}"; do
  { [ -f "$out" ] && [ -f "$report" ] && [ "$report" -nt "$input" ]; } || fresh=0
done
if [ "$fresh" = 0 ]; then
  python=.orchard/python
  if ! PYTHONPATH=$python python3 -c "import onnxruntime.quantization, onnx, numpy" 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check --target "$python" \
      onnxruntime==1.32.0 onnx==1.23.2 numpy==2.4.6 sympy==1.14.0 2>&1 | grep -v '^WARNING' >&2 || true
  fi
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  echo "building the int8 model (about a minute)..." >&2
  node dist/scripts/quantize/calibrationInputs.js "$sample" scripts/quantize/calibration.txt "$work/calibration.u8"
  node dist/scripts/quantize/calibrationInputs.js "$sample" - "$work/all.u8"
  mkdir -p .orchard/models
  PYTHONPATH=$python python3 scripts/quantize/quantize_int8.py "$model" "$work/calibration.u8" "$work/all.u8" "$out.tmp" "$report.tmp" 2>&1 |
    grep -v 'WARNING\|Please consider\|pre-process' >&2 || true
  [ -f "$out.tmp" ] && [ -f "$report.tmp" ] || { echo "the int8 model was not built" >&2; exit 1; }
  # The report names the file it describes.
  sed -i 's/"mobilenet_v2_int8.onnx.tmp"/"mobilenet_v2_int8.onnx"/' "$report.tmp"
  mv "$out.tmp" "$out"
  mv "$report.tmp" "$report"
fi
echo "$out"
