"""Features of the same images by the preprocessing the original pipelines used, for bench:fidelity.

usage: python fidelity.py MODEL.onnx FILES.json OUT_DIR
Writes OUT_DIR/<method>.f32 (rows x 1280 float32, in the order of FILES.json) for:
  keras-nearest  Keras load_img(target_size=(224, 224)): PIL convert('RGB'), resize with NEAREST (its default)
  pil-bicubic    PIL Image.resize((224, 224)) with its default filter (BICUBIC), as in the Spark notebooks
  opencv-linear  cv2.imread + cv2.resize INTER_LINEAR, as the independent loop (ceiling.py) does
"""
import json, os, sys

import cv2
import numpy as np
import onnxruntime as ort
from PIL import Image

model, listing, out = sys.argv[1:4]
files = json.load(open(listing))
options = ort.SessionOptions()
options.intra_op_num_threads = 1
session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
methods = {
    "keras-nearest": lambda f: np.asarray(Image.open(f).convert("RGB").resize((224, 224), Image.NEAREST)),
    "pil-bicubic": lambda f: np.asarray(Image.open(f).convert("RGB").resize((224, 224), Image.BICUBIC)),
    "opencv-linear": lambda f: cv2.cvtColor(cv2.resize(cv2.imread(f, cv2.IMREAD_COLOR), (224, 224), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB),
}
for name, load in methods.items():
    rows = []
    for i in range(0, len(files), 16):
        x = np.stack([load(f) for f in files[i : i + 16]]).astype(np.float32) / 127.5 - 1.0
        rows.append(session.run(None, {"input": x})[0])
    np.concatenate(rows).astype(np.float32).tofile(os.path.join(out, name + ".f32"))
print(json.dumps(list(methods)))
