"""Models as torch and Keras exporters write them, for the differential corpus: ground truth from
onnxruntime. torch and tensorflow are not installed here, so the graphs are built with onnx's
helper in the exporters' forms:
- torch-cnn-batch1: `torch.onnx.export` without `dynamic_axes`: input [1, 1, 8, 8], Conv, Relu,
  MaxPool, a Reshape to the constant shape [1, -1] (torch's `x.view(1, -1)`), Gemm with transB,
  Softmax; and its int8 formats by onnxruntime's quantizer (torch-cnn-batch1-{qdq-u8, qdq-s8,
  qoperator, dynamic});
- torch-cnn-batch4: the same exported with a batch of 4 (onnxruntime runs groups of 4, the last
  padded);
- torch-mlp-bn: `dynamic_axes={"input": {0: "batch_size"}}`: Gemm (transB), BatchNormalization,
  Relu, Dropout (inference), Gemm (transB), Softmax;
- keras-mlp: tf2onnx's form: input [unk__0, 64], MatMul + Add (bias), Relu, MatMul + Add,
  Softmax, with Identity nodes on the way out.
Weights: seeded random filters and hidden layers, the last layer fitted by logistic regression on
the features onnxruntime computes, so that the outputs are real predictions of the digits.
Run from the repository root:
    target/tree-corpus-venv/bin/python tests/corpus/make_export_corpus.py
"""

import pathlib
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_corpus import constants, float_input, quantized_variants, save_graph, write_case  # noqa: E402

import onnxruntime as ort  # noqa: E402
from onnx import helper  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

REPO = HERE.parent.parent
BUILD = REPO / "target" / "corpus-build"
DIGITS = [str(c) for c in range(10)]


def features(path, x, output, group=None):
    """What the graph at `path` computes for `x` at `output`, in groups of `group` rows if set."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    if not group:
        return session.run([output], {name: x})[0]
    parts = []
    for start in range(0, len(x), group):
        chunk = x[start : start + group]
        padded = np.concatenate([chunk, np.zeros((group - len(chunk),) + x.shape[1:], np.float32)])
        parts.append(session.run([output], {name: padded})[0][: len(chunk)])
    return np.concatenate(parts)


def head(feats, y):
    """A logistic-regression head on `feats`: (weight [10, k], bias [10])."""
    model = LogisticRegression(max_iter=3000, random_state=0).fit(feats, y)
    return model.coef_.astype(np.float32), model.intercept_.astype(np.float32)


def torch_cnn(batch, x_train, y_train):
    rng = np.random.default_rng(2)
    w = rng.normal(0, 0.3, (8, 1, 3, 3)).astype(np.float32)
    b = np.zeros(8, np.float32)
    trunk = [
        helper.make_node("Conv", ["input", "w", "b"], ["c"], kernel_shape=[3, 3], name="/conv1/Conv"),
        helper.make_node("Relu", ["c"], ["r"], name="/relu/Relu"),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2], name="/pool/MaxPool"),
        helper.make_node("Reshape", ["p", "shape"], ["f"], name="/Reshape"),
    ]
    shape = np.array([batch, -1], np.int64)
    images = x_train.reshape(-1, 1, 8, 8)
    probe = save_graph(
        f"torch-cnn-batch{batch}-trunk",
        trunk,
        [float_input("input", [batch, 1, 8, 8])],
        [float_input("f", [batch, 72])],
        constants([(w, "w"), (b, "b"), (shape, "shape")]),
        BUILD / f"torch-cnn-batch{batch}-trunk.onnx",
    )
    wg, bg = head(features(probe, images, "f", group=batch), y_train)
    return save_graph(
        f"torch-cnn-batch{batch}",
        trunk
        + [
            helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["logits"], transB=1, name="/fc/Gemm"),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1, name="/Softmax"),
        ],
        [float_input("input", [batch, 1, 8, 8])],
        [float_input("probabilities", [batch, 10])],
        constants([(w, "w"), (b, "b"), (shape, "shape"), (wg, "fc.weight"), (bg, "fc.bias")]),
        BUILD / f"torch-cnn-batch{batch}.onnx",
    )


def torch_mlp_bn(x_train, y_train):
    rng = np.random.default_rng(3)
    w1 = rng.normal(0, 0.15, (32, 64)).astype(np.float32)
    b1 = rng.normal(0, 0.1, 32).astype(np.float32)
    scale = rng.uniform(0.5, 1.5, 32).astype(np.float32)
    shift = rng.normal(0, 0.2, 32).astype(np.float32)
    mean = rng.normal(0, 0.5, 32).astype(np.float32)
    var = rng.uniform(0.5, 2.0, 32).astype(np.float32)
    trunk = [
        helper.make_node("Gemm", ["input", "fc1.weight", "fc1.bias"], ["h"], transB=1, name="/fc1/Gemm"),
        helper.make_node(
            "BatchNormalization", ["h", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"], ["n"],
            epsilon=1e-5, name="/bn/BatchNormalization",
        ),
        helper.make_node("Relu", ["n"], ["a"], name="/relu/Relu"),
        helper.make_node("Dropout", ["a"], ["d"], name="/dropout/Dropout"),
    ]
    weights = [(w1, "fc1.weight"), (b1, "fc1.bias"), (scale, "bn.weight"), (shift, "bn.bias"), (mean, "bn.running_mean"), (var, "bn.running_var")]
    probe = save_graph(
        "torch-mlp-bn-trunk", trunk, [float_input("input", ["batch_size", 64])], [float_input("d", ["batch_size", 32])],
        constants(weights), BUILD / "torch-mlp-bn-trunk.onnx",
    )
    w2, b2 = head(features(probe, x_train, "d"), y_train)
    return save_graph(
        "torch-mlp-bn",
        trunk
        + [
            helper.make_node("Gemm", ["d", "fc2.weight", "fc2.bias"], ["logits"], transB=1, name="/fc2/Gemm"),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1, name="/Softmax"),
        ],
        [float_input("input", ["batch_size", 64])],
        [float_input("probabilities", ["batch_size", 10])],
        constants(weights + [(w2, "fc2.weight"), (b2, "fc2.bias")]),
        BUILD / "torch-mlp-bn.onnx",
    )


def keras_mlp(x_train, y_train):
    rng = np.random.default_rng(4)
    w1 = rng.normal(0, 0.15, (64, 32)).astype(np.float32)
    b1 = rng.normal(0, 0.1, 32).astype(np.float32)
    trunk = [
        helper.make_node("MatMul", ["dense_input", "sequential/dense/MatMul/ReadVariableOp:0"], ["m1"], name="sequential/dense/MatMul"),
        helper.make_node("Add", ["m1", "sequential/dense/BiasAdd/ReadVariableOp:0"], ["z1"], name="sequential/dense/BiasAdd"),
        helper.make_node("Relu", ["z1"], ["a1"], name="sequential/dense/Relu"),
    ]
    weights = [(w1, "sequential/dense/MatMul/ReadVariableOp:0"), (b1, "sequential/dense/BiasAdd/ReadVariableOp:0")]
    probe = save_graph(
        "keras-mlp-trunk", trunk, [float_input("dense_input", ["unk__0", 64])], [float_input("a1", ["unk__0", 32])],
        constants(weights), BUILD / "keras-mlp-trunk.onnx",
    )
    w2, b2 = head(features(probe, x_train, "a1"), y_train)
    return save_graph(
        "keras-mlp",
        trunk
        + [
            helper.make_node("MatMul", ["a1", "sequential/dense_1/MatMul/ReadVariableOp:0"], ["m2"], name="sequential/dense_1/MatMul"),
            helper.make_node("Add", ["m2", "sequential/dense_1/BiasAdd/ReadVariableOp:0"], ["z2"], name="sequential/dense_1/BiasAdd"),
            helper.make_node("Softmax", ["z2"], ["s"], axis=-1, name="sequential/dense_1/Softmax"),
            helper.make_node("Identity", ["s"], ["dense_1"], name="Identity"),
        ],
        [float_input("dense_input", ["unk__0", 64])],
        [float_input("dense_1", ["unk__0", 10])],
        constants(weights + [(w2.T.copy(), "sequential/dense_1/MatMul/ReadVariableOp:0"), (b2, "sequential/dense_1/BiasAdd/ReadVariableOp:0")]),
        BUILD / "keras-mlp.onnx",
    )


def main():
    BUILD.mkdir(parents=True, exist_ok=True)
    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    x_train, x_test, y_train, _ = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    images = x_test.reshape(-1, 1, 8, 8)
    clf = "classification"
    cnn1 = torch_cnn(1, x_train, y_train)
    write_case("torch-cnn-batch1", cnn1, clf, images, "probabilities", DIGITS, group=1, note="fixed batch size 1, as torch.onnx.export writes without dynamic_axes")
    quantized_variants("torch-cnn-batch1", cnn1, "input", x_train[:100].reshape(-1, 1, 8, 8), images, "probabilities", DIGITS, BUILD, group=1)
    cnn4 = torch_cnn(4, x_train, y_train)
    write_case("torch-cnn-batch4", cnn4, clf, images, "probabilities", DIGITS, group=4, note="fixed batch size 4")
    write_case("torch-mlp-bn", torch_mlp_bn(x_train, y_train), clf, x_test, "probabilities", DIGITS, note="symbolic batch named batch_size; BatchNormalization and Dropout in inference mode")
    write_case("keras-mlp", keras_mlp(x_train, y_train), clf, x_test, "dense_1", DIGITS, note="tf2onnx's form: unk__0 batch, MatMul + Add")


if __name__ == "__main__":
    main()
