"""Trains, exports and quantizes the bundled models, and writes their bundles.

Reproducible: fixed seeds, pinned versions (models/requirements.txt), a fixed creation date.
Run from the repository root:  python models/train.py
Each bundle is models/<name>/<version>/{model.onnx,manifest.json}; the onnxruntime outputs for
every holdout row go to tests/golden/<name>-<version>.json for the differential tests. Then
`wasm-predict plan` compiles each bundle for the runtime (model.plan, and its entry in the manifest).
"""

import hashlib
import json
import pathlib
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from skl2onnx import to_onnx
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ROOT = pathlib.Path(__file__).resolve().parent.parent
CREATED = "2026-11-23T00:00:00Z"
OPSET = {"": 17, "ai.onnx.ml": 3}
REFERENCE_BINS = 10


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def compact_number(v, digits):
    r = round(float(v), digits)
    return int(r) if r.is_integer() and abs(r) < 2**53 else r


def rounded(values, digits=6):
    """Plain JSON numbers, integral ones written without a fraction to keep bundles small."""
    return [compact_number(v, digits) for v in values]


def quantile_histogram(values):
    """Quantile bin edges of the training values and the count of values in each bin.

    Bins are (-inf, e0], (e0, e1], ..., (e_last, +inf): one more count than edges.
    """
    qs = np.quantile(values, np.linspace(0, 1, REFERENCE_BINS + 1)[1:-1])
    edges = sorted(set(rounded(qs)))
    idx = np.searchsorted(np.array(edges, dtype=np.float64), values, side="left")
    counts = np.bincount(idx, minlength=len(edges) + 1)
    return {"edges": edges, "counts": [int(c) for c in counts]}


class RowReader(CalibrationDataReader):
    def __init__(self, input_name, rows):
        self.rows = iter([{input_name: r[None, :]} for r in rows])

    def get_next(self):
        return next(self.rows, None)


def quantize_int8(float_path, int8_path, input_name, calibration):
    """onnxruntime's static QDQ quantizer: int8 per-channel weights, uint8 activations, as users
    of onnxruntime make their int8 models.

    Softmax stays float: quantizing it adds nothing to the download size and costs accuracy.
    The outputs of MatMul/Gemm/Conv stay float too (the inputs of the next layer are quantized):
    one activation rounding per layer instead of two, which keeps the int8 plan as short as the
    float one.
    """
    quantize_static(
        str(float_path),
        str(int8_path),
        RowReader(input_name, calibration),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        weight_type=QuantType.QInt8,
        activation_type=QuantType.QUInt8,
        op_types_to_quantize=["MatMul", "Gemm", "Conv"],
        extra_options={"OpTypesToExcludeOutputQuantization": ["MatMul", "Gemm", "Conv"]},
    )


def weight_only_int8(float_path, int8_path):
    """Stores every MatMul/Gemm weight as int8, symmetric per output column, behind a
    DequantizeLinear; activations stay float.

    The download is as small as with static quantization, the answers are the float model's up to
    weight rounding, and the browser runs the same float plan: int8 compute is no faster than
    float in wasm for models this small, so quantizing activations would only add work.
    """
    model = onnx.load(str(float_path))
    graph = model.graph
    weights = {t.name: t for t in graph.initializer}
    nodes = []
    for node in graph.node:
        if node.op_type in ("MatMul", "Gemm") and len(node.input) > 1 and node.input[1] in weights:
            name = node.input[1]
            w = numpy_helper.to_array(weights[name]).astype(np.float32)
            transposed = node.op_type == "Gemm" and any(a.name == "transB" and a.i == 1 for a in node.attribute)
            axis = 0 if transposed else 1
            scale = np.abs(w).max(axis=1 - axis) / 127.0
            scale[scale == 0] = 1.0
            shape = (-1, 1) if axis == 0 else (1, -1)
            q = np.clip(np.round(w / scale.reshape(shape)), -127, 127).astype(np.int8)
            graph.initializer.remove(weights[name])
            graph.initializer.extend(
                [
                    numpy_helper.from_array(q, f"{name}_int8"),
                    numpy_helper.from_array(scale.astype(np.float32), f"{name}_scale"),
                    numpy_helper.from_array(np.zeros(scale.shape, dtype=np.int8), f"{name}_zero_point"),
                ]
            )
            nodes.append(
                helper.make_node(
                    "DequantizeLinear",
                    [f"{name}_int8", f"{name}_scale", f"{name}_zero_point"],
                    [name],
                    name=f"{name}_DequantizeLinear",
                    axis=axis,
                )
            )
        nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(int8_path))


class Spec:
    def __init__(self, name, version, task, feature_names, x_train, x_hold, y_hold, classes, source, tolerance):
        self.name, self.version, self.task = name, version, task
        self.feature_names = feature_names
        self.x_train, self.x_hold, self.y_hold = x_train, x_hold, y_hold
        self.classes, self.source, self.tolerance = classes, source, tolerance


def run_onnxruntime(path, x, output_names):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    results = session.run(output_names, {input_name: x.astype(np.float32)})
    return dict(zip(output_names, results))


def fixture_rows(spec):
    """A sample of holdout rows (one per class first), plus zeros and the training extremes."""
    rows, picked = [], set()
    if spec.task == "classification":
        for cls in spec.classes:
            i = int(np.flatnonzero(np.array([str(v) for v in spec.y_hold]) == cls)[0])
            picked.add(i)
            rows.append(spec.x_hold[i])
    wanted = max(len(rows), 8) + 4
    rng = np.random.default_rng(0)
    for i in rng.permutation(len(spec.x_hold)):
        if len(picked) >= wanted:
            break
        if int(i) not in picked:
            picked.add(int(i))
            rows.append(spec.x_hold[int(i)])
    rows.append(np.zeros(spec.x_hold.shape[1], dtype=np.float32))
    rows.append(spec.x_train.min(axis=0))
    rows.append(spec.x_train.max(axis=0))
    return np.array(rows, dtype=np.float32)


def write_bundle(spec, model_path, outputs, parent=None):
    bundle_dir = ROOT / "models" / spec.name / spec.version
    bundle_dir.mkdir(parents=True, exist_ok=True)
    target = bundle_dir / "model.onnx"
    target.write_bytes(model_path.read_bytes())
    model = onnx.load(str(target))
    input_name = model.graph.input[0].name

    if spec.task == "classification":
        out_names = [outputs["probabilities"]]
        hold = run_onnxruntime(target, spec.x_hold, out_names)[outputs["probabilities"]]
        train = run_onnxruntime(target, spec.x_train, out_names)[outputs["probabilities"]]
        predicted = [spec.classes[i] for i in hold.argmax(axis=1)]
        achieved = float(np.mean([p == str(t) for p, t in zip(predicted, spec.y_hold)]))
        metric = "accuracy"
        train_labels = train.argmax(axis=1)
        prediction_reference = {
            "labels": {c: int((train_labels == i).sum()) for i, c in enumerate(spec.classes)},
            "confidence": quantile_histogram(train.max(axis=1)),
        }
        golden = {"probabilities": [rounded(r, 7) for r in hold], "labels": predicted}
    else:
        out_names = [outputs["score"]]
        hold = run_onnxruntime(target, spec.x_hold, out_names)[outputs["score"]].reshape(-1)
        train = run_onnxruntime(target, spec.x_train, out_names)[outputs["score"]].reshape(-1)
        y = np.asarray(spec.y_hold, dtype=np.float64)
        achieved = float(1 - ((y - hold) ** 2).sum() / ((y - y.mean()) ** 2).sum())
        metric = "r2"
        prediction_reference = {"value": quantile_histogram(train)}
        golden = {"values": rounded(hold, 5)}

    fixtures = []
    x_fix = fixture_rows(spec)
    fix_out = run_onnxruntime(target, x_fix, out_names)[out_names[0]]
    for row, out in zip(x_fix, fix_out):
        if spec.task == "classification":
            expected = {"probabilities": rounded(out, 7), "label": spec.classes[int(np.argmax(out))]}
        else:
            expected = {"value": compact_number(np.reshape(out, -1)[0], 5)}
        fixtures.append({"input": rounded(row), "expected": expected})

    manifest = {
        "$schema": "../../manifest.schema.json",
        "format": 1,
        "name": spec.name,
        "version": spec.version,
        "sha256": sha256(target),
        "task": spec.task,
        "inputs": [
            {
                "name": input_name,
                "dtype": "float32",
                "shape": ["N", len(spec.feature_names)],
                "features": spec.feature_names,
            }
        ],
        "outputs": dict(outputs, **({"classes": spec.classes} if spec.task == "classification" else {})),
        "performance": {
            "metric": metric,
            "minimum": float(np.floor((achieved - 0.02) * 100) / 100),
            "achieved": round(achieved, 6),
            "holdout": {
                "inputs": [rounded(r) for r in spec.x_hold],
                "targets": [str(t) for t in spec.y_hold]
                if spec.task == "classification"
                else rounded(spec.y_hold, 6),
            },
        },
        "fixtures": {"tolerance": spec.tolerance, "cases": fixtures},
        "reference": {
            "features": [
                dict(name=n, **quantile_histogram(spec.x_train[:, j])) for j, n in enumerate(spec.feature_names)
            ],
            "predictions": prediction_reference,
        },
        "provenance": {
            "training_data": {"source": spec.source, "rows": int(len(spec.x_train)), "window": None},
            "parent_version": parent,
            "created": CREATED,
            "producer": f"models/train.py (onnxruntime {ort.__version__}, onnx {onnx.__version__})",
        },
    }
    (bundle_dir / "manifest.json").write_text(json.dumps(manifest, separators=(",", ":")) + "\n")
    golden_dir = ROOT / "tests" / "golden"
    golden_dir.mkdir(parents=True, exist_ok=True)
    (golden_dir / f"{spec.name}-{spec.version}.json").write_text(json.dumps(golden, separators=(",", ":")) + "\n")
    print(f"{spec.name}@{spec.version}: {metric} {achieved:.4f}, {target.stat().st_size} bytes")


def sklearn_to_onnx(estimator, x, path):
    options = {id(estimator): {"zipmap": False}} if hasattr(estimator, "predict_proba") else None
    model = to_onnx(estimator, x[:1], options=options, target_opset=OPSET)
    onnx.save(model, str(path))
    return model


def digits(build):
    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    x_train, x_hold, y_train, y_hold = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    mlp = MLPClassifier(hidden_layer_sizes=(64,), max_iter=500, random_state=0).fit(x_train, y_train)
    features = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]
    classes = [str(c) for c in mlp.classes_]
    source = "sklearn.datasets.load_digits (8x8 digits, 0..16 per pixel), 80/20 stratified split, seed 0"
    float_path, int8_path, qdq_path = (build / f"digits-{kind}.onnx" for kind in ("float", "int8", "qdq"))
    sklearn_to_onnx(mlp, x_train, float_path)
    weight_only_int8(float_path, int8_path)
    quantize_int8(float_path, qdq_path, "X", x_train[:200])
    outputs = {"probabilities": "probabilities", "label": "label"}
    for name, path, tolerance, parent in [
        ("digits-mlp", float_path, 1e-4, None),
        ("digits-mlp-int8", int8_path, 1e-4, "digits-mlp@1.0.0"),
        ("digits-mlp-qdq", qdq_path, 1e-3, "digits-mlp@1.0.0"),
    ]:
        spec = Spec(name, "1.0.0", "classification", features, x_train, x_hold, y_hold, classes, source, tolerance)
        write_bundle(spec, path, outputs, parent=parent)


def breast_cancer(build):
    data = load_breast_cancer()
    x, y = data.data.astype(np.float32), data.target
    x_train, x_hold, y_train, y_hold = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=0)).fit(x_train, y_train)
    path = build / "breast-cancer.onnx"
    sklearn_to_onnx(pipe, x_train, path)
    names = [str(n).replace(" ", "_") for n in data.feature_names]
    classes = [str(c) for c in pipe.classes_]
    source = "sklearn.datasets.load_breast_cancer, 80/20 stratified split, seed 0"
    write_bundle(
        Spec("breast-cancer-logreg", "1.0.0", "classification", names, x_train, x_hold, y_hold, classes, source, 1e-4),
        path,
        {"probabilities": "probabilities", "label": "label"},
    )


def diabetes(build):
    data = load_diabetes()
    x, y = data.data.astype(np.float32), data.target.astype(np.float32)
    x_train, x_hold, y_train, y_hold = train_test_split(x, y, test_size=0.2, random_state=0)
    pipe = make_pipeline(StandardScaler(), LinearRegression()).fit(x_train, y_train)
    path = build / "diabetes.onnx"
    sklearn_to_onnx(pipe, x_train, path)
    source = "sklearn.datasets.load_diabetes, 80/20 split, seed 0"
    write_bundle(
        Spec("diabetes-linreg", "1.0.0", "regression", list(data.feature_names), x_train, x_hold, y_hold, None, source, 1e-2),
        path,
        {"score": "variable"},
    )


def main():
    build = ROOT / "target" / "models-build"
    build.mkdir(parents=True, exist_ok=True)
    digits(build)
    breast_cancer(build)
    diabetes(build)
    names = ["digits-mlp", "digits-mlp-int8", "digits-mlp-qdq", "breast-cancer-logreg", "diabetes-linreg"]
    subprocess.run(
        ["cargo", "run", "--quiet", "-p", "wasm-predict-cli", "--", "plan", *(f"models/{n}/1.0.0" for n in names)],
        cwd=ROOT,
        check=True,
    )


if __name__ == "__main__":
    main()
