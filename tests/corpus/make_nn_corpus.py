"""Benchmark-size float neural networks for the differential corpus: ground truth from onnxruntime.

Reproducible (fixed seeds; versions pinned in tests/corpus/requirements-trees.txt, the same venv as
make_tree_corpus.py). Run from the repository root:
    target/tree-corpus-venv/bin/python tests/corpus/make_nn_corpus.py

Writes tests/corpus/<case>/{model.onnx,case.json} with make_corpus.write_case, for
- bench-mlp: a 64-256-128-10 MLP on the sklearn digits (Gemm, Relu, Gemm, Relu, Gemm, Softmax),
  weights trained by scikit-learn's MLPClassifier, graph built with onnx.helper;
- bench-lenet: a LeNet-5-size CNN on 1x28x28 images (the digits' 8x8 images upscaled by 3 with
  np.kron and padded by 2): Conv 6@5x5 pad 2, Relu, MaxPool, Conv 16@5x5, Relu, MaxPool, Flatten,
  Gemm 400-120, Relu, Gemm 120-84, Relu, Gemm 84-10, Softmax. Convolutions and the first two Gemms
  are He-initialised random weights (seeded); the last Gemm is fitted by logistic regression on
  the 84 features onnxruntime computes for the training images. 40 rows (784 values each).
Scratch files go to target/corpus-build.
"""

import json
import pathlib
import sys
import warnings

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_corpus import TOL_FLOAT, constants, float_input, save_graph, write_case  # noqa: E402

import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import helper  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402

REPO = HERE.parent.parent
BUILD = REPO / "target" / "corpus-build"
DIGITS = [str(c) for c in range(10)]
LENET_ROWS = 40


def digits_split():
    """The digits split of make_corpus.py."""
    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    return x_train, x_test, y_train, y_test


def run(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def bench_mlp(x_train, y_train, x_test, y_test):
    """A 64-256-128-10 MLP as onnx helper graph, weights trained by sklearn."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        mlp = MLPClassifier(hidden_layer_sizes=(256, 128), max_iter=300, random_state=0).fit(x_train, y_train)
    for w in caught:
        print(f"bench-mlp: sklearn warning: {w.category.__name__}: {w.message}")
    print(f"bench-mlp: sklearn n_iter_={mlp.n_iter_}, classes={[int(c) for c in mlp.classes_]}")
    assert list(mlp.classes_) == list(range(10))
    w0, w1, w2 = (w.astype(np.float32) for w in mlp.coefs_)
    b0, b1, b2 = (b.astype(np.float32) for b in mlp.intercepts_)
    assert w0.shape == (64, 256) and w1.shape == (256, 128) and w2.shape == (128, 10)
    path = save_graph(
        "bench_mlp",
        [
            helper.make_node("Gemm", ["input", "w0", "b0"], ["h0"]),
            helper.make_node("Relu", ["h0"], ["a0"]),
            helper.make_node("Gemm", ["a0", "w1", "b1"], ["h1"]),
            helper.make_node("Relu", ["h1"], ["a1"]),
            helper.make_node("Gemm", ["a1", "w2", "b2"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        [float_input("input", ["N", 64])],
        [float_input("probabilities", ["N", 10])],
        constants([(w0, "w0"), (b0, "b0"), (w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2")]),
        BUILD / "bench-mlp.onnx",
    )
    # The graph must agree with sklearn (same weights, same function).
    ort_p = run(path, x_test)
    skl_p = mlp.predict_proba(x_test)
    print(f"bench-mlp: max |onnxruntime - sklearn predict_proba| over {len(x_test)} test rows = "
          f"{np.abs(ort_p - skl_p).max():.3g}")
    print(f"bench-mlp: sklearn accuracy on all {len(x_test)} test rows = {mlp.score(x_test, y_test):.4f}, "
          f"onnxruntime argmax accuracy = {(ort_p.argmax(1) == y_test).mean():.4f}")
    return path


def upscale(x):
    """8x8 digits (0..16) -> 1x28x28 in 0..1: np.kron by 3 to 24x24, zero padding of 2."""
    images = x.reshape(-1, 8, 8)
    big = np.stack([np.kron(im, np.ones((3, 3), dtype=np.float32)) for im in images])
    big = np.pad(big, ((0, 0), (2, 2), (2, 2)))
    return (big / 16.0).astype(np.float32).reshape(-1, 1, 28, 28)


def bench_lenet(x_train, y_train, x_test, y_test):
    rng = np.random.default_rng(0)

    def he(shape, fan_in):
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), shape).astype(np.float32)

    def bias(n):
        return rng.normal(0.0, 0.01, n).astype(np.float32)

    c1w, c1b = he((6, 1, 5, 5), 25), bias(6)
    c2w, c2b = he((16, 6, 5, 5), 150), bias(16)
    f1w, f1b = he((120, 400), 400), bias(120)  # [out, in], Gemm transB=1 (torch Linear layout)
    f2w, f2b = he((84, 120), 120), bias(84)
    body = [
        helper.make_node("Conv", ["image", "c1w", "c1b"], ["c1"], kernel_shape=[5, 5], pads=[2, 2, 2, 2]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "c2w", "c2b"], ["c2"], kernel_shape=[5, 5]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("MaxPool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p2"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "f1w", "f1b"], ["g1"], transB=1),
        helper.make_node("Relu", ["g1"], ["r3"]),
        helper.make_node("Gemm", ["r3", "f2w", "f2b"], ["g2"], transB=1),
        helper.make_node("Relu", ["g2"], ["r4"]),
    ]
    inits = constants([(c1w, "c1w"), (c1b, "c1b"), (c2w, "c2w"), (c2b, "c2b"), (f1w, "f1w"), (f1b, "f1b"),
                       (f2w, "f2w"), (f2b, "f2b")])
    image = [float_input("image", ["N", 1, 28, 28])]
    features_path = save_graph("bench_lenet_features", body, image, [float_input("r4", ["N", 84])], inits,
                               BUILD / "bench-lenet-features.onnx")
    train_images, test_images = upscale(x_train), upscale(x_test)
    features = run(features_path, train_images)
    print(f"bench-lenet: 84 features on {len(features)} training images: "
          f"{(features > 0).mean():.3f} of them > 0, max {features.max():.3f}")
    head = LogisticRegression(max_iter=5000, random_state=0).fit(features, y_train)
    assert list(head.classes_) == list(range(10))
    f3w = head.coef_.astype(np.float32)  # [10, 84]
    f3b = head.intercept_.astype(np.float32)
    nodes = body + [
        helper.make_node("Gemm", ["r4", "f3w", "f3b"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    path = save_graph("bench_lenet", nodes, image, [float_input("probabilities", ["N", 10])],
                      inits + constants([(f3w, "f3w"), (f3b, "f3b")]), BUILD / "bench-lenet.onnx")
    p = run(path, test_images)
    print(f"bench-lenet: training accuracy {head.score(features, y_train):.4f}, onnxruntime argmax accuracy on "
          f"all {len(test_images)} test images {(p.argmax(1) == y_test).mean():.4f}")
    return path, test_images


def report(name, y_true):
    folder = HERE / name
    model = onnx.load(str(folder / "model.onnx"))
    onnx.checker.check_model(model, full_check=True)
    case = json.loads((folder / "case.json").read_text())
    expected = np.array(case["expected"], dtype=np.float64)
    inputs = np.array(case["inputs"], dtype=np.float64)
    rows = len(expected)
    accuracy = (expected.argmax(1) == y_true[:rows]).mean()
    distinct_rows = len({tuple(r) for r in expected.tolist()})
    print(f"\n{name}: model.onnx {(folder / 'model.onnx').stat().st_size} bytes, "
          f"case.json {(folder / 'case.json').stat().st_size} bytes; checker (full_check) passed")
    print(f"  task={case['task']} input={case['input']} output={case['output']} features={case['features']} "
          f"tolerance={case['tolerance']} classes={case['classes']}")
    print(f"  inputs {inputs.shape}, expected {expected.shape}; row sums in "
          f"[{expected.sum(1).min():.6f}, {expected.sum(1).max():.6f}]")
    print(f"  distinct expected rows {distinct_rows}/{rows}, per-class std over rows min "
          f"{expected.std(0).min():.4g}, predicted classes {sorted(set(expected.argmax(1).tolist()))}, "
          f"max probability per row in [{expected.max(1).min():.4f}, {expected.max(1).max():.4f}]")
    print(f"  rows whose largest probability rounds to >= 0.9999 (saturated): {(expected.max(1) >= 0.9999).sum()}/{rows}")
    print(f"  argmax accuracy of the case's expected outputs on its {rows} rows: {accuracy:.4f}")
    print("  nodes:")
    for node in model.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        print(f"    {node.op_type}({', '.join(node.input)}) -> {', '.join(node.output)} {attrs if attrs else ''}")
    # Confident rows can round (7 digits) to the same one-hot vector; that is not degenerate.
    assert distinct_rows >= rows // 2 and len(set(expected.argmax(1).tolist())) > 1, f"{name}: degenerate outputs"


def main():
    BUILD.mkdir(parents=True, exist_ok=True)
    x_train, x_test, y_train, y_test = digits_split()
    mlp = bench_mlp(x_train, y_train, x_test, y_test)
    write_case("bench-mlp", mlp, "classification", x_test, "probabilities", DIGITS, TOL_FLOAT)
    lenet, test_images = bench_lenet(x_train, y_train, x_test, y_test)
    write_case("bench-lenet", lenet, "classification", test_images[:LENET_ROWS], "probabilities", DIGITS, TOL_FLOAT)
    report("bench-mlp", y_test)
    report("bench-lenet", y_test)


if __name__ == "__main__":
    main()
