"""Builds the differential test corpus: models as users make them, inputs, and onnxruntime's outputs.

Reproducible (fixed seeds, versions pinned in models/requirements.txt). Run from the repository root:
    python tests/corpus/make_corpus.py
Each case is tests/corpus/<case>/{model.onnx,case.json}; case.json holds the task, the input and
output names, the class labels, the inputs and onnxruntime's outputs for them, and the tolerance.
"""

import json
import pathlib
import shutil

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)
from skl2onnx import to_onnx
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Binarizer, MinMaxScaler, Normalizer, OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

ROOT = pathlib.Path(__file__).resolve().parent
OPSET = {"": 17, "ai.onnx.ml": 3}
ROWS = 120
TOL_FLOAT = 1e-4
TOL_INT8 = 2e-2


def rounded(a, digits=6):
    """Rows of plain JSON numbers; a missing value (NaN) is null."""
    return [
        [None if np.isnan(v) else round(float(v), digits) for v in row] for row in np.asarray(a, dtype=np.float64)
    ]


def write_case(name, model_path, task, x, output, classes=None, tolerance=TOL_FLOAT, note="", group=None):
    """`group`: the batch size the model was exported with, when it fixes one: onnxruntime then
    runs the rows in groups of it, the last padded with zero rows."""
    case_dir = ROOT / name
    case_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(model_path, case_dir / "model.onnx")
    session = ort.InferenceSession(str(case_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    x = np.asarray(x, dtype=np.float32)[:ROWS]
    # onnxruntime sees exactly the values written to case.json, rounded, so that a tree's
    # threshold cannot fall between the two.
    shape = x.shape
    x = np.array([[np.nan if v is None else v for v in row] for row in rounded(x.reshape(len(x), -1))], dtype=np.float32)
    x = x.reshape(shape)
    if group:
        parts = []
        for start in range(0, len(x), group):
            chunk = x[start : start + group]
            padded = np.concatenate([chunk, np.zeros((group - len(chunk),) + x.shape[1:], np.float32)])
            parts.append(np.asarray(session.run([output], {input_name: padded})[0])[: len(chunk)])
        result = np.concatenate(parts)
    else:
        result = session.run([output], {input_name: x})[0]
    if isinstance(result, list):  # ZipMap: a list of {label: probability}
        result = np.array([[row[c] for c in sorted(row)] for row in result], dtype=np.float32)
    result = np.asarray(result, dtype=np.float32).reshape(len(x), -1)
    case = {
        "task": task,
        "input": input_name,
        "output": output,
        "classes": classes,
        "features": int(x.shape[1]) if x.ndim == 2 else list(x.shape[1:]),
        "tolerance": tolerance,
        "note": note,
        "inputs": rounded(x.reshape(len(x), -1)),
        "expected": rounded(result, 7),
    }
    (case_dir / "case.json").write_text(json.dumps(case, separators=(",", ":")) + "\n")
    print(f"{name}: {case_dir.joinpath('model.onnx').stat().st_size} bytes, {len(x)} rows")


class Rows(CalibrationDataReader):
    def __init__(self, name, rows):
        self.rows = iter([{name: r[None, ...]} for r in rows])

    def get_next(self):
        return next(self.rows, None)


def quantized_variants(prefix, float_path, input_name, calibration, x, output, classes, build, group=None):
    """The three formats of onnxruntime's quantizer on one float model (and its dynamic one);
    `group`: the batch size the model fixes, if any."""
    variants = {
        "qdq-s8": dict(quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8),
        "qdq-u8": dict(quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8),
        "qoperator": dict(quant_format=QuantFormat.QOperator, activation_type=QuantType.QUInt8),
    }
    for suffix, options in variants.items():
        path = build / f"{prefix}-{suffix}.onnx"
        quantize_static(
            str(float_path),
            str(path),
            Rows(input_name, calibration),
            per_channel=True,
            weight_type=QuantType.QInt8,
            **options,
        )
        write_case(f"{prefix}-{suffix}", path, "classification", x, output, classes, TOL_INT8, group=group)
    path = build / f"{prefix}-dynamic.onnx"
    # onnxruntime's CPU ConvInteger takes uint8 weights only.
    weights = QuantType.QUInt8 if "cnn" in prefix or prefix == "ops" else QuantType.QInt8
    quantize_dynamic(str(float_path), str(path), weight_type=weights)
    write_case(f"{prefix}-dynamic", path, "classification", x, output, classes, TOL_INT8, group=group)


def save_graph(name, nodes, inputs, outputs, initializers, path):
    """An opset-17 model from onnx's helper, checked, saved at `path`; returns `path`."""
    graph = helper.make_graph(nodes, name, inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def float_input(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def constants(pairs):
    return [numpy_helper.from_array(a, n) for a, n in pairs]


def mlp_with_helper(build, x_train, y_train, x_test):
    """A 64-64-10 MLP as onnx helper graph (Gemm, Relu, Gemm, Softmax), weights trained by sklearn."""
    mlp = MLPClassifier(hidden_layer_sizes=(64,), max_iter=500, random_state=0).fit(x_train, y_train)
    w0, w1 = (w.astype(np.float32) for w in mlp.coefs_)
    b0, b1 = (b.astype(np.float32) for b in mlp.intercepts_)
    return save_graph(
        "mlp",
        [
            helper.make_node("Gemm", ["input", "w0", "b0"], ["h"]),
            helper.make_node("Relu", ["h"], ["a"]),
            helper.make_node("Gemm", ["a", "w1", "b1"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        [float_input("input", ["N", 64])],
        [float_input("probabilities", ["N", 10])],
        constants([(w0, "w0"), (b0, "b0"), (w1, "w1"), (b1, "b1")]),
        build / "mlp-float.onnx",
    )


def conv2d(x, w, b):
    n, c, h, width = x.shape
    o, _, kh, kw = w.shape
    out = np.zeros((n, o, h - kh + 1, width - kw + 1), dtype=np.float32)
    for i in range(h - kh + 1):
        for j in range(width - kw + 1):
            patch = x[:, :, i : i + kh, j : j + kw].reshape(n, -1)
            out[:, :, i, j] = patch @ w.reshape(o, -1).T + b
    return out


def cnn_with_helper(build, x_train, y_train):
    """A LeNet-like CNN (Conv 3x3, Relu, MaxPool 2x2, Flatten, Gemm, Softmax) on 1x8x8 digits:
    random seeded filters, the last layer trained by logistic regression on their features."""
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.3, (8, 1, 3, 3)).astype(np.float32)
    b = np.zeros(8, dtype=np.float32)
    feats = np.maximum(conv2d(x_train.reshape(-1, 1, 8, 8), w, b), 0)
    pooled = feats.reshape(-1, 8, 3, 2, 3, 2).max(axis=(3, 5)).reshape(len(x_train), -1)
    head = LogisticRegression(max_iter=2000, random_state=0).fit(pooled, y_train)
    wg = head.coef_.astype(np.float32)
    bg = head.intercept_.astype(np.float32)
    return save_graph(
        "cnn",
        [
            helper.make_node("Conv", ["image", "w", "b"], ["c"], kernel_shape=[3, 3]),
            helper.make_node("Relu", ["c"], ["r"]),
            helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
            helper.make_node("Flatten", ["p"], ["f"], axis=1),
            helper.make_node("Gemm", ["f", "wg", "bg"], ["logits"], transB=1),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        [float_input("image", ["N", 1, 8, 8])],
        [float_input("probabilities", ["N", 10])],
        constants([(w, "w"), (b, "b"), (wg, "wg"), (bg, "bg")]),
        build / "cnn-float.onnx",
    )


def ops_with_helper(build, x_train, y_train):
    """A small graph that makes onnxruntime's QOperator quantizer emit the rest of the QLinear
    family: Conv, Sigmoid, LeakyRelu, Mul, Add, Concat, GlobalAveragePool, MatMul, Softmax.
    The convolution is random (seeded); the last MatMul is fitted by logistic regression."""
    rng = np.random.default_rng(1)
    w1 = rng.normal(0, 0.4, (6, 1, 3, 3)).astype(np.float32)
    b1 = rng.normal(0, 0.1, 6).astype(np.float32)
    body = [
        helper.make_node("Conv", ["image", "w1", "b1"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["c"], ["s"]),
        helper.make_node("LeakyRelu", ["c"], ["l"], alpha=0.1),
        helper.make_node("Mul", ["s", "l"], ["m"]),
        helper.make_node("Add", ["m", "c"], ["a"]),
        helper.make_node("Concat", ["a", "l"], ["cat"], axis=1),
        helper.make_node("GlobalAveragePool", ["cat"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"], axis=1),
    ]
    inits = constants([(w1, "w1"), (b1, "b1")])
    image = [float_input("image", ["N", 1, 8, 8])]
    features_path = save_graph("ops", body, image, [float_input("f", ["N", 12])], inits, build / "ops-features.onnx")
    session = ort.InferenceSession(str(features_path), providers=["CPUExecutionProvider"])
    features = session.run(None, {"image": x_train.reshape(-1, 1, 8, 8)})[0]
    head = LogisticRegression(max_iter=5000, random_state=0).fit(features, y_train)
    wm = head.coef_.T.astype(np.float32)
    bm = head.intercept_.astype(np.float32)
    nodes = body + [
        helper.make_node("MatMul", ["f", "wm"], ["mm"]),
        helper.make_node("Add", ["mm", "bm"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    extra = constants([(wm, "wm"), (bm, "bm")])
    outputs = [float_input("probabilities", ["N", 10])]
    return save_graph("ops", nodes, image, outputs, inits + extra, build / "ops-float.onnx")


def sklearn_case(name, estimator, x_train, y_train, x_test, task, build, zipmap=False, note=""):
    estimator.fit(x_train, y_train)
    options = None
    if task == "classification":
        options = {id(estimator): {"zipmap": zipmap}}
    model = to_onnx(estimator, x_train[:1].astype(np.float32), options=options, target_opset=OPSET)
    path = build / f"{name}.onnx"
    onnx.save(model, str(path))
    outputs = [o.name for o in model.graph.output]
    output = "probabilities" if "probabilities" in outputs else ("output_probability" if task == "classification" else outputs[0])
    classes = [str(c) for c in estimator.classes_] if task == "classification" else None
    write_case(name, path, task, x_test, output, classes, TOL_FLOAT, note)


def main():
    build = ROOT.parent.parent / "target" / "corpus-build"
    build.mkdir(parents=True, exist_ok=True)

    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    x_train, x_test, y_train, _ = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    digits = [str(c) for c in range(10)]
    mlp = mlp_with_helper(build, x_train, y_train, x_test)
    write_case("mlp-float", mlp, "classification", x_test, "probabilities", digits)
    quantized_variants("mlp", mlp, "input", x_train[:100], x_test, "probabilities", digits, build)
    cnn = cnn_with_helper(build, x_train, y_train)
    images = x_test.reshape(-1, 1, 8, 8)
    write_case("cnn-float", cnn, "classification", images, "probabilities", digits)
    quantized_variants("cnn", cnn, "image", x_train[:100].reshape(-1, 1, 8, 8), images, "probabilities", digits, build)

    ops = ops_with_helper(build, x_train, y_train)
    write_case("ops-float", ops, "classification", images, "probabilities", digits)
    quantized_variants("ops", ops, "image", x_train[:100].reshape(-1, 1, 8, 8), images, "probabilities", digits, build)

    cancer = load_breast_cancer()
    xc, yc = cancer.data.astype(np.float32), cancer.target
    xc_train, xc_test, yc_train, _ = train_test_split(xc, yc, test_size=0.25, random_state=0, stratify=yc)
    diabetes = load_diabetes()
    xd, yd = diabetes.data.astype(np.float32), diabetes.target.astype(np.float32)
    xd_train, xd_test, yd_train, _ = train_test_split(xd, yd, test_size=0.25, random_state=0)
    with_gaps = xd_train.copy()
    rng = np.random.default_rng(0)
    with_gaps[rng.random(with_gaps.shape) < 0.1] = np.nan
    gaps_test = xd_test.copy()
    gaps_test[rng.random(gaps_test.shape) < 0.1] = np.nan
    categories = np.round(xc[:, :4] / xc[:, :4].max(axis=0) * 3).astype(np.float32)
    cat_train, cat_test, ycat_train, _ = train_test_split(categories, yc, test_size=0.25, random_state=0, stratify=yc)

    clf = "classification"
    reg = "regression"
    cases = [
        ("skl-standard-logreg", make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)), xc_train, yc_train, xc_test, clf, False),
        ("skl-standard-logreg-zipmap", make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)), xc_train, yc_train, xc_test, clf, True),
        ("skl-minmax-linreg", make_pipeline(MinMaxScaler(), LinearRegression()), xd_train, yd_train, xd_test, reg, False),
        ("skl-imputer-ridge", make_pipeline(SimpleImputer(), Ridge()), with_gaps, yd_train, gaps_test, reg, False),
        ("skl-onehot-logreg", make_pipeline(OneHotEncoder(handle_unknown="ignore"), LogisticRegression(max_iter=2000)), cat_train, ycat_train, cat_test, clf, False),
        ("skl-normalizer-logreg", make_pipeline(Normalizer(), LogisticRegression(max_iter=2000)), xc_train, yc_train, xc_test, clf, False),
        ("skl-binarizer-logreg", make_pipeline(Binarizer(threshold=0.5), LogisticRegression(max_iter=2000)), xd_train, (yd_train > 140).astype(int), xd_test, clf, False),
        ("skl-ridge", Ridge(), xd_train, yd_train, xd_test, reg, False),
        ("skl-tree-clf", DecisionTreeClassifier(max_depth=5, random_state=0), xc_train, yc_train, xc_test, clf, False),
        ("skl-forest-clf", RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0), xc_train, yc_train, xc_test, clf, False),
        ("skl-gboost-clf", GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0), xc_train, yc_train, xc_test, clf, False),
        ("skl-tree-reg", DecisionTreeRegressor(max_depth=5, random_state=0), xd_train, yd_train, xd_test, reg, False),
        ("skl-forest-reg", RandomForestRegressor(n_estimators=10, max_depth=5, random_state=0), xd_train, yd_train, xd_test, reg, False),
        ("skl-gboost-reg", GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=0), xd_train, yd_train, xd_test, reg, False),
        ("skl-mlp-clf", MLPClassifier(hidden_layer_sizes=(32,), max_iter=500, random_state=0), x_train, y_train, x_test, clf, False),
        ("skl-mlp-clf-zipmap", MLPClassifier(hidden_layer_sizes=(32,), max_iter=500, random_state=0), x_train, y_train, x_test, clf, True),
    ]
    for name, estimator, xt, yt, xs, task, zipmap in cases:
        sklearn_case(name, estimator, xt, yt, xs, task, build, zipmap)


if __name__ == "__main__":
    main()
