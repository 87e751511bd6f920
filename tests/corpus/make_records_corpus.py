"""Tabular cases with several named inputs of mixed types (float, int64, string), as scikit-learn
users export a ColumnTransformer over a DataFrame with skl2onnx; ground truth from onnxruntime.

Reproducible (fixed seeds; versions pinned in tests/corpus/requirements-records.txt). Run from the
repository root:
    python3 -m venv target/records-corpus-venv
    target/records-corpus-venv/bin/pip install -r tests/corpus/requirements-records.txt
    target/records-corpus-venv/bin/python tests/corpus/make_records_corpus.py

Writes tests/corpus/<case>/{model.onnx,case.json}. These case.json files differ from make_corpus.py's:
they hold the graph's inputs ("graph_inputs": name, dtype, the feature columns feeding it, each
input being [None, len(features)]) and one record per row keyed by feature name ("records"; a
missing float is null); "expected" is onnxruntime's output for all the records run in one batch,
with exactly the values written (floats rounded to 6 digits), rounded to 7 digits.
Each model is trained on a seeded synthetic DataFrame of 600 rows whose label depends on both the
numeric and the categorical columns; the 120 test rows include categories never seen in training
where the encoder handles them. Scratch files go to target/corpus-build.
"""

import json
import pathlib
import shutil
import sys
import warnings

import numpy as np
import pandas as pd

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_corpus import OPSET, ROWS, TOL_FLOAT, rounded  # noqa: E402

import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from skl2onnx import convert_sklearn  # noqa: E402
from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler  # noqa: E402

REPO = HERE.parent.parent
BUILD = REPO / "target" / "corpus-build"
TRAIN = 600
TYPES = {"float32": FloatTensorType, "int64": Int64TensorType, "string": StringTensorType}
NUMPY = {"float32": np.float32, "int64": np.int64, "string": object}
WRITTEN = []


# ----------------------------------------------------------------------------------------------
# Writing a case


def record_value(v):
    """A cell as JSON: a float rounded to 6 digits (NaN is null), an int, a string."""
    if isinstance(v, (str, np.str_)):
        return str(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    v = float(v)
    return None if np.isnan(v) else round(v, 6)


def records_of(frame):
    return [{c: record_value(v) for c, v in zip(frame.columns, row)} for row in frame.itertuples(index=False)]


def feeds_of(graph_inputs, records):
    """One numpy array [rows, len(features)] per graph input, from the values written."""
    feeds = {}
    for gi in graph_inputs:
        rows = [[r[f] for f in gi["features"]] for r in records]
        if gi["dtype"] == "float32":
            rows = [[np.nan if v is None else v for v in row] for row in rows]
        feeds[gi["name"]] = np.array(rows, dtype=NUMPY[gi["dtype"]])
    return feeds


def write_records_case(name, model_path, task, output, classes, graph_inputs, records, note):
    case_dir = HERE / name
    case_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(model_path, case_dir / "model.onnx")
    records = records[:ROWS]
    model = onnx.load(str(case_dir / "model.onnx"))
    # graph_inputs must be the graph's inputs, in its order, with their element types and widths.
    elem = {"float32": TensorProto.FLOAT, "int64": TensorProto.INT64, "string": TensorProto.STRING}
    assert [i.name for i in model.graph.input] == [gi["name"] for gi in graph_inputs], name
    for i, gi in zip(model.graph.input, graph_inputs):
        assert i.type.tensor_type.elem_type == elem[gi["dtype"]], (name, gi["name"])
        width = i.type.tensor_type.shape.dim[1].dim_value
        assert width == len(gi["features"]), (name, gi["name"], width)
    session = ort.InferenceSession(str(case_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    result = session.run([output], feeds_of(graph_inputs, records))[0]
    result = np.asarray(result, dtype=np.float32).reshape(len(records), -1)
    case = {
        "task": task,
        "output": output,
        "classes": classes,
        "tolerance": TOL_FLOAT,
        "note": note,
        "graph_inputs": graph_inputs,
        "records": records,
        "expected": rounded(result, 7),
    }
    (case_dir / "case.json").write_text(json.dumps(case, separators=(",", ":")) + "\n")
    WRITTEN.append(name)


def column_inputs(frame):
    """One graph input [None, 1] per DataFrame column, typed from its dtype."""
    out = []
    for c in frame.columns:
        kind = frame[c].dtype.kind
        dtype = "float32" if kind == "f" else "int64" if kind in "iu" else "string"
        out.append({"name": c, "dtype": dtype, "features": [c]})
    return out


def initial_types(graph_inputs):
    return [(gi["name"], TYPES[gi["dtype"]]([None, len(gi["features"])])) for gi in graph_inputs]


def sklearn_records_case(name, pipe, x_train, y_train, test_records, graph_inputs, task, note):
    pipe.fit(x_train, y_train)
    final = pipe.steps[-1][1]
    options = {id(final): {"zipmap": False}} if task == "classification" else None
    model = convert_sklearn(pipe, initial_types=initial_types(graph_inputs), options=options, target_opset=OPSET)
    # skl2onnx names the graph with a random uuid and lists the opsets in set order; fixed here so
    # that model.onnx is byte-stable.
    model.graph.name = name
    opsets = sorted((o.domain, o.version) for o in model.opset_import)
    del model.opset_import[:]
    model.opset_import.extend(helper.make_opsetid(d, v) for d, v in opsets)
    path = BUILD / f"{name}.onnx"
    onnx.save(model, str(path))
    outputs = [o.name for o in model.graph.output]
    output = "probabilities" if task == "classification" else outputs[0]
    assert output in outputs, (name, outputs)
    classes = [str(c) for c in final.classes_] if task == "classification" else None
    write_records_case(name, path, task, output, classes, graph_inputs, test_records, note)


def with_unseen(rng, frame, column, unseen, share):
    """`frame` with about `share` of its rows' `column` replaced by categories never trained on."""
    frame = frame.copy()
    rows = rng.choice(len(frame), size=int(round(share * len(frame))), replace=False)
    frame.loc[frame.index[rows], column] = rng.choice(unseen, size=len(rows))
    return frame


# ----------------------------------------------------------------------------------------------
# Data


def customers(seed):
    """age, income, city (6), plan (3) -> "no"/"yes"."""
    rng = np.random.default_rng(seed)
    n = TRAIN + ROWS
    cities = {"Lyon": 0.9, "Paris": 0.4, "Nantes": -0.2, "Lille": -0.8, "Nice": 1.3, "Brest": -1.4}
    plans = {"basic": -0.9, "plus": 0.2, "pro": 1.1}
    frame = pd.DataFrame(
        {
            "age": np.round(rng.uniform(18, 80, n), 1),
            "income": np.round(rng.lognormal(np.log(40000), 0.5, n), 2),
            "city": rng.choice(list(cities), n),
            "plan": rng.choice(list(plans), n, p=[0.5, 0.3, 0.2]),
        }
    )
    logit = (
        0.05 * (frame["age"] - 45)
        + 1.2 * np.log(frame["income"] / 40000)
        + frame["city"].map(cities)
        + frame["plan"].map(plans)
        + rng.logistic(0, 0.7, n)
    )
    y = np.where(logit > 0, "yes", "no")
    return frame[:TRAIN], y[:TRAIN], frame[TRAIN:].reset_index(drop=True), rng


def shapes(seed):
    """size, visits (int64), colour (5), shape (4) -> "alpha"/"beta"/"gamma"."""
    rng = np.random.default_rng(seed)
    n = TRAIN + ROWS
    colours = {"red": 2.0, "green": -1.0, "blue": 0.5, "yellow": -2.0, "black": 1.0}
    kinds = {"circle": 0.0, "square": 1.5, "triangle": -1.5, "star": 3.0}
    frame = pd.DataFrame(
        {
            "size": np.round(rng.uniform(0, 10, n), 3),
            "visits": rng.poisson(4, n).astype(np.int64),
            "colour": rng.choice(list(colours), n),
            "shape": rng.choice(list(kinds), n),
        }
    )
    score = (
        0.6 * frame["size"] + 0.5 * frame["visits"] + frame["colour"].map(colours) + frame["shape"].map(kinds)
        + rng.normal(0, 0.8, n)
    )
    y = np.select([score < 4, score < 7.5], ["alpha", "beta"], "gamma")
    return frame[:TRAIN], y[:TRAIN], frame[TRAIN:].reset_index(drop=True), rng


def sales(seed):
    """x0, x1, x2, region (4), channel (3) -> a value."""
    rng = np.random.default_rng(seed)
    n = TRAIN + ROWS
    regions = {"north": 4.0, "south": -3.0, "east": 1.0, "west": -1.5}
    channels = {"web": 2.5, "store": 0.0, "phone": -2.0}
    frame = pd.DataFrame(
        {
            "x0": np.round(rng.normal(0, 1, n), 4),
            "x1": np.round(rng.normal(5, 2, n), 4),
            "x2": np.round(rng.uniform(-3, 3, n), 4),
            "region": rng.choice(list(regions), n),
            "channel": rng.choice(list(channels), n),
        }
    )
    y = (
        3 * frame["x0"] - 2 * frame["x1"] + 0.5 * frame["x2"] + frame["region"].map(regions)
        + frame["channel"].map(channels) + rng.normal(0, 0.5, n)
    ).to_numpy()
    return frame[:TRAIN], y[:TRAIN], frame[TRAIN:].reset_index(drop=True), rng


def weather(seed):
    """temp (~15% missing), humidity, station (8) -> a value."""
    rng = np.random.default_rng(seed)
    n = TRAIN + ROWS
    stations = {f"ST-{i:02d}": e for i, e in enumerate([3.0, -2.0, 0.5, 5.0, -4.0, 1.5, -0.5, 2.5], start=1)}
    temp = np.round(rng.normal(15, 8, n), 2)
    frame = pd.DataFrame(
        {
            "temp": temp,
            "humidity": np.round(rng.uniform(20, 100, n), 2),
            "station": rng.choice(list(stations), n),
        }
    )
    y = (
        0.8 * temp - 0.15 * frame["humidity"] + frame["station"].map(stations) + 0.02 * temp * frame["humidity"] / 10
        + rng.normal(0, 1.0, n)
    ).to_numpy()
    frame.loc[rng.random(n) < 0.15, "temp"] = np.nan
    return frame[:TRAIN], y[:TRAIN], frame[TRAIN:].reset_index(drop=True), rng


# ----------------------------------------------------------------------------------------------
# Cases


def onehot_logreg(name, handle_unknown, seed):
    x_train, y_train, x_test, rng = customers(seed)
    if handle_unknown == "ignore":
        x_test = with_unseen(rng, x_test, "city", ["Atlantis", "Gotham"], 0.1)
    pipe = Pipeline(
        [
            (
                "features",
                ColumnTransformer(
                    [
                        ("num", StandardScaler(), ["age", "income"]),
                        ("cat", OneHotEncoder(handle_unknown=handle_unknown), ["city", "plan"]),
                    ]
                ),
            ),
            ("clf", LogisticRegression(max_iter=2000, random_state=0)),
        ]
    )
    if handle_unknown == "ignore":
        note = ("ColumnTransformer(StandardScaler on age, income; OneHotEncoder(handle_unknown='ignore') on city, "
                "plan) + LogisticRegression, binary no/yes; 12 of the 120 test rows have a city never trained on "
                "(Atlantis, Gotham): all-zero one-hot (OneHotEncoder zeros=1).")
    else:
        note = ("As records-onehot-logreg but OneHotEncoder(handle_unknown='error'); skl2onnx writes the "
                "ai.onnx.ml OneHotEncoder nodes with zeros=0 (onnxruntime then fails on an unknown category), so "
                "the test rows hold only known categories.")
    sklearn_records_case(name, pipe, x_train, y_train, records_of(x_test), column_inputs(x_train), "classification", note)


def ordinal_forest(name, seed):
    x_train, y_train, x_test, rng = shapes(seed)
    x_test = with_unseen(rng, x_test, "colour", ["purple", "orange"], 0.1)
    pipe = Pipeline(
        [
            (
                "features",
                ColumnTransformer(
                    [
                        (
                            "cat",
                            OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                            ["colour", "shape"],
                        ),
                        ("num", "passthrough", ["size", "visits"]),
                    ]
                ),
            ),
            ("clf", RandomForestClassifier(n_estimators=30, max_depth=6, random_state=0)),
        ]
    )
    note = ("ColumnTransformer(OrdinalEncoder(handle_unknown='use_encoded_value', unknown_value=-1) on colour, "
            "shape; passthrough size (float), visits (int64)) + RandomForestClassifier(30 trees, depth 6), classes "
            "alpha/beta/gamma; 12 of the 120 test rows have a colour never trained on (purple, orange): the "
            "LabelEncoder's default_int64=-1.")
    sklearn_records_case(name, pipe, x_train, y_train, records_of(x_test), column_inputs(x_train), "classification", note)


def multicolumn_ridge(name, seed):
    x_train, y_train, x_test, rng = sales(seed)
    x_test = with_unseen(rng, x_test, "region", ["central"], 0.1)
    x_test = with_unseen(rng, x_test, "channel", ["mail"], 0.05)
    pipe = Pipeline(
        [
            (
                "features",
                ColumnTransformer(
                    [
                        ("num", StandardScaler(), [0, 1, 2]),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), [3, 4]),
                    ]
                ),
            ),
            ("reg", Ridge(alpha=1.0)),
        ]
    )
    graph_inputs = [
        {"name": "num", "dtype": "float32", "features": ["x0", "x1", "x2"]},
        {"name": "cat", "dtype": "string", "features": ["region", "channel"]},
    ]
    note = ("Two graph inputs, num float [None,3] (x0, x1, x2) and cat string [None,2] (region, channel), as "
            "skl2onnx makes them for a ColumnTransformer with integer columns (StandardScaler on 0-2, "
            "OneHotEncoder(handle_unknown='ignore') on 3-4) trained on a numpy object array, + Ridge; some test "
            "rows have an unseen region (central) or channel (mail): all-zero one-hot for that column.")
    train = x_train.to_numpy(dtype=object)
    sklearn_records_case(name, pipe, train, y_train, records_of(x_test), graph_inputs, "regression", note)


def imputer_gboost(name, seed):
    x_train, y_train, x_test, _ = weather(seed)
    pipe = Pipeline(
        [
            (
                "features",
                ColumnTransformer(
                    [
                        ("num", SimpleImputer(strategy="median"), ["temp", "humidity"]),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), ["station"]),
                    ]
                ),
            ),
            ("reg", GradientBoostingRegressor(n_estimators=50, max_depth=3, random_state=0)),
        ]
    )
    missing = int(x_test["temp"].isna().sum())
    note = ("ColumnTransformer(SimpleImputer(strategy='median') on temp, humidity; "
            "OneHotEncoder(handle_unknown='ignore') on station, 8 stations) + GradientBoostingRegressor(50 trees, "
            f"depth 3); temp ~15% missing in training, {missing} of the 120 test rows have temp null (NaN), "
            "replaced by the training median; all test stations known.")
    sklearn_records_case(name, pipe, x_train, y_train, records_of(x_test), column_inputs(x_train), "regression", note)


def labelencoder_graph(name, seed):
    """city string [N,1] -> ai.onnx.ml LabelEncoder (a target encoding, default -1) -> Concat with
    x float [N,1] -> Gemm -> y [N,1]; the weights fitted by LinearRegression."""
    rng = np.random.default_rng(seed)
    n = TRAIN + ROWS
    effects = {"Lyon": 4.0, "Paris": 7.5, "Nantes": 1.0, "Lille": -2.0, "Nice": 5.5}
    city = rng.choice(list(effects), n)
    x = np.round(rng.normal(0, 3, n), 4)
    y = np.array([effects[c] for c in city]) + 2.0 * x + rng.normal(0, 0.5, n)
    train = slice(0, TRAIN)
    keys = sorted(effects)
    values = np.array([y[train][city[train] == k].mean() - 2.0 * x[train][city[train] == k].mean() for k in keys],
                      dtype=np.float32)
    encoded = np.array([values[keys.index(c)] for c in city[train]], dtype=np.float32)
    lin = LinearRegression().fit(np.c_[encoded, x[train]], y[train])
    w = lin.coef_.astype(np.float32).reshape(2, 1)
    b = np.array([lin.intercept_], dtype=np.float32)
    nodes = [
        helper.make_node("LabelEncoder", ["city"], ["city_code"], domain="ai.onnx.ml",
                         keys_strings=keys, values_floats=[float(v) for v in values], default_float=-1.0),
        helper.make_node("Concat", ["city_code", "x"], ["features"], axis=1),
        helper.make_node("Gemm", ["features", "w", "b"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        name,
        [
            helper.make_tensor_value_info("city", TensorProto.STRING, [None, 1]),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)]
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = BUILD / f"{name}.onnx"
    onnx.save(model, str(path))
    test = pd.DataFrame({"city": city[TRAIN:], "x": x[TRAIN:]})
    test = with_unseen(rng, test, "city", ["Atlantis", "Gotham"], 0.1)
    graph_inputs = [
        {"name": "city", "dtype": "string", "features": ["city"]},
        {"name": "x", "dtype": "float32", "features": ["x"]},
    ]
    note = ("onnx.helper graph (opset 17, ai.onnx.ml 3): ai.onnx.ml LabelEncoder(keys_strings=5 cities, "
            "values_floats=their target encoding, default_float=-1) on city, Concat with x on axis 1, Gemm to y "
            "[None,1] (weights from LinearRegression); 12 of the 120 test rows have an unseen city (Atlantis, "
            "Gotham), encoded as the default -1.")
    write_records_case(name, path, "regression", "y", None, graph_inputs, records_of(test), note)


# ----------------------------------------------------------------------------------------------
# Report


def attribute_value(a):
    v = helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, list):
        return [x.decode() if isinstance(x, bytes) else x for x in v]
    return v


def describe(name):
    path = HERE / name / "model.onnx"
    model = onnx.load(str(path))
    case = json.loads((HERE / name / "case.json").read_text())
    assert 100 <= len(case["records"]) <= 120 and len(case["expected"]) == len(case["records"]), name
    print(f"\n{name}: {path.stat().st_size} bytes, {len(case['records'])} records, output {case['output']!r}, "
          f"classes {case['classes']}")
    print("  opsets:", {o.domain or "": o.version for o in model.opset_import})
    for i in model.graph.input:
        t = i.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim]
        print(f"  input {i.name}: {TensorProto.DataType.Name(t.elem_type)} {dims}")
    print("  ops:", " ".join(n.op_type for n in model.graph.node))
    for n in model.graph.node:
        if n.op_type in ("OneHotEncoder", "LabelEncoder", "Imputer"):
            attrs = {a.name: attribute_value(a) for a in n.attribute}
            shown = {k: v for k, v in attrs.items() if k in ("zeros",) or k.startswith("default") or k.startswith("imputed")
                     or k.startswith("replaced")}
            lists = {k: v for k, v in attrs.items() if k.startswith(("cats_", "keys_", "values_"))}
            print(f"  {n.op_type} {n.input[0]}: attributes {sorted(attrs)} {shown} {lists}")


def main():
    BUILD.mkdir(parents=True, exist_ok=True)
    warnings.filterwarnings("ignore")
    onehot_logreg("records-onehot-logreg", "ignore", 11)
    ordinal_forest("records-ordinal-forest", 12)
    multicolumn_ridge("records-multicolumn-ridge", 13)
    imputer_gboost("records-imputer-gboost", 14)
    onehot_logreg("records-onehot-error", "error", 11)
    labelencoder_graph("records-labelencoder", 16)
    for name in WRITTEN:
        describe(name)


if __name__ == "__main__":
    main()
