"""Tree-ensemble cases for the differential corpus: ground truth from onnxruntime for the tree kernel.

Reproducible (fixed seeds; versions pinned in tests/corpus/requirements-trees.txt). Run from the
repository root:
    python3 -m venv target/tree-corpus-venv
    target/tree-corpus-venv/bin/pip install -r tests/corpus/requirements-trees.txt
    target/tree-corpus-venv/bin/python tests/corpus/make_tree_corpus.py

Writes tests/corpus/<case>/{model.onnx,case.json} with make_corpus.write_case, for
- models as libraries make them: scikit-learn (skl2onnx), LightGBM and XGBoost (onnxmltools'
  converters, run through skl2onnx so that the graph targets opset 17 / ai.onnx.ml 3 - onnxmltools'
  own convert_* stop at opset 15), CatBoost (its own ONNX export, ZipMap removed);
- graphs made with onnx.helper that hit every branch of every node mode, with inputs equal to the
  thresholds and missing values (NaN): TreeEnsembleRegressor/Classifier (ai.onnx.ml 3) and
  TreeEnsemble (ai.onnx.ml 5).
Multi-target regressions, which case.json cannot hold (one value per row), go to
tests/corpus-extra/<case>/{model.onnx,outputs.json}.
Scratch files go to target/corpus-build.
"""

import itertools
import json
import math
import pathlib
import shutil
import sys
import warnings

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_corpus import ROWS, TOL_FLOAT, rounded, sklearn_case, write_case  # noqa: E402

import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits  # noqa: E402
from sklearn.ensemble import (  # noqa: E402
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.model_selection import train_test_split  # noqa: E402

REPO = HERE.parent.parent
BUILD = REPO / "target" / "corpus-build"
EXTRA = HERE.parent / "corpus-extra"
SUMMARY = []
SKIPPED = []


# ----------------------------------------------------------------------------------------------
# Data: the splits of make_corpus.py, and the same with ~10% of the values missing.


def datasets():
    cancer = load_breast_cancer()
    xc, yc = cancer.data.astype(np.float32), cancer.target
    xc_train, xc_test, yc_train, _ = train_test_split(xc, yc, test_size=0.25, random_state=0, stratify=yc)
    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    xg_train, xg_test, yg_train, _ = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    diabetes = load_diabetes()
    xd, yd = diabetes.data.astype(np.float32), diabetes.target.astype(np.float32)
    xd_train, xd_test, yd_train, _ = train_test_split(xd, yd, test_size=0.25, random_state=0)
    rng = np.random.default_rng(7)
    gaps_train = xc_train.copy()
    gaps_train[rng.random(gaps_train.shape) < 0.1] = np.nan
    gaps_test = xc_test.copy()
    gaps_test[rng.random(gaps_test.shape) < 0.1] = np.nan
    return {
        "cancer": (xc_train, yc_train, xc_test),
        "digits": (xg_train, yg_train, xg_test),
        "diabetes": (xd_train, yd_train, xd_test),
        "cancer-gaps": (gaps_train, yc_train, gaps_test),
    }


def case_inputs(name):
    case = json.loads((HERE / name / "case.json").read_text())
    x = np.array([[np.nan if v is None else v for v in row] for row in case["inputs"]], dtype=np.float32)
    return case, x


# ----------------------------------------------------------------------------------------------
# What a graph holds, for the report.


def tree_stats_v3(attrs):
    treeids, nodeids = attrs["nodes_treeids"], attrs["nodes_nodeids"]
    modes = [m.decode() if isinstance(m, bytes) else m for m in attrs["nodes_modes"]]
    true_ids, false_ids = attrs["nodes_truenodeids"], attrs["nodes_falsenodeids"]
    trees = {}
    for i, (t, n) in enumerate(zip(treeids, nodeids)):
        trees.setdefault(t, {})[n] = i
    depths, leaves = [], []
    for t, nodes in trees.items():
        root = min(nodes)
        stack, deepest = [(root, 0)], 0
        while stack:
            n, d = stack.pop()
            i = nodes[n]
            if modes[i] == "LEAF":
                deepest = max(deepest, d)
            else:
                stack += [(true_ids[i], d + 1), (false_ids[i], d + 1)]
        depths.append(deepest)
        leaves.append(sum(modes[nodes[n]] == "LEAF" for n in nodes))
    return len(trees), max(depths), max(leaves), sorted(set(modes))


def tree_stats_v5(attrs):
    roots = attrs["tree_roots"]
    true_ids, false_ids = attrs["nodes_truenodeids"], attrs["nodes_falsenodeids"]
    true_leaf, false_leaf = attrs["nodes_trueleafs"], attrs["nodes_falseleafs"]
    depths, leaves = [], []
    for r in roots:
        stack, deepest, reached = [(r, False, 0)], 0, set()
        while stack:
            n, is_leaf, d = stack.pop()
            if is_leaf:
                deepest = max(deepest, d)
                reached.add(n)
            else:
                stack += [(true_ids[n], bool(true_leaf[n]), d + 1), (false_ids[n], bool(false_leaf[n]), d + 1)]
        depths.append(deepest)
        leaves.append(len(reached))
    modes = sorted(set(int(m) for m in numpy_helper.to_array(attrs["nodes_modes"])))
    return len(roots), max(depths), max(leaves), modes


def short(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, onnx.TensorProto):
        a = numpy_helper.to_array(value)
        return f"tensor {a.dtype} {list(a.shape)}" + (f" {a.tolist()}" if a.size <= 10 else "")
    if isinstance(value, list) and len(value) > 10:
        return f"[{len(value)} values]"
    if isinstance(value, list):
        return [short(v) for v in value]
    return value


def describe(name, model_path, output, classes=None, where="tests/corpus"):
    model = onnx.load(str(model_path))
    entry = {
        "case": name,
        "where": where,
        "size": pathlib.Path(model_path).stat().st_size,
        "output": output,
        "classes": classes,
        "opsets": {o.domain or "ai.onnx": o.version for o in model.opset_import},
        "ir_version": model.ir_version,
        "inputs": [(i.name, [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]) for i in model.graph.input],
        "outputs": [o.name for o in model.graph.output],
        "ops": [f"{n.domain + ':' if n.domain else ''}{n.op_type}" for n in model.graph.node],
        "trees": [],
    }
    for node in model.graph.node:
        if node.op_type not in ("TreeEnsembleClassifier", "TreeEnsembleRegressor", "TreeEnsemble"):
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "TreeEnsemble":
            trees, depth, leaves, modes = tree_stats_v5(attrs)
        else:
            trees, depth, leaves, modes = tree_stats_v3(attrs)
        missing = attrs.get("nodes_missing_value_tracks_true")
        entry["trees"].append(
            {
                "op": node.op_type,
                "attributes": sorted(attrs),
                "trees": trees,
                "max_depth": depth,
                "max_leaves": leaves,
                "modes": modes,
                "missing_tracks_true": None if missing is None else f"{int(sum(1 for v in missing if v))} of {len(missing)}",
                "post_transform": short(attrs.get("post_transform", "NONE" if node.op_type != "TreeEnsemble" else 0)),
                "aggregate_function": short(attrs.get("aggregate_function")) if "aggregate_function" in attrs else None,
                "base_values": short(attrs.get("base_values", attrs.get("base_values_as_tensor"))),
                "n_targets": attrs.get("n_targets"),
                "classlabels": short(attrs.get("classlabels_int64s", attrs.get("classlabels_strings"))),
                "ids_used": sorted(set(attrs.get("class_ids", attrs.get("target_ids", attrs.get("leaf_targetids", []))))),
            }
        )
    SUMMARY.append(entry)
    t = entry["trees"]
    print(
        f"  {name}: {entry['size']} bytes, opsets {entry['opsets']}, ops {entry['ops']}, output {output!r}, "
        + "; ".join(f"{x['op']} trees={x['trees']} depth={x['max_depth']} leaves<={x['max_leaves']} modes={x['modes']} "
                    f"missing_true={x['missing_tracks_true']} post={x['post_transform']} agg={x['aggregate_function']} "
                    f"base={x['base_values']}" for x in t)
    )


def skip(name, reason):
    SKIPPED.append((name, reason))
    print(f"SKIPPED {name}: {reason}")


# ----------------------------------------------------------------------------------------------
# Library models.


def native_check(name, predict):
    """onnxruntime's outputs (case.json) against the library's own prediction on the same inputs."""
    case, x = case_inputs(name)
    native = np.asarray(predict(x), dtype=np.float64).reshape(len(x), -1)
    diff = float(np.abs(native - np.array(case["expected"], dtype=np.float64)).max())
    print(f"  {name}: max |onnxruntime - native| = {diff:.3g} over {len(x)} rows")
    return diff


def register_converters():
    """onnxmltools' converters, registered in skl2onnx so that the graph targets make_corpus.OPSET (opset 17, ai.onnx.ml 3)."""
    from lightgbm import LGBMClassifier, LGBMRegressor
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )
    from xgboost import XGBClassifier, XGBRegressor

    clf = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    update_registered_converter(LGBMClassifier, "LightGbmLGBMClassifier", calculate_linear_classifier_output_shapes, convert_lightgbm, options=clf)
    update_registered_converter(LGBMRegressor, "LightGbmLGBMRegressor", calculate_linear_regressor_output_shapes, convert_lightgbm)
    update_registered_converter(XGBClassifier, "XGBoostXGBClassifier", calculate_linear_classifier_output_shapes, convert_xgboost, options=clf)
    update_registered_converter(XGBRegressor, "XGBoostXGBRegressor", calculate_linear_regressor_output_shapes, convert_xgboost)


def library_case(name, estimator, data, task, note):
    """Fits, converts with skl2onnx (and the converters registered above), writes the case."""
    x_train, y_train, x_test = data
    sklearn_case(name, estimator, x_train, y_train, x_test, task, BUILD, note=note)
    # skl2onnx lists the opsets in set order, which changes from run to run: sort them.
    path = HERE / name / "model.onnx"
    model = onnx.load(str(path))
    imports = sorted(model.opset_import, key=lambda o: (o.domain, o.version))
    del model.opset_import[:]
    model.opset_import.extend(imports)
    onnx.save(model, str(path))
    case = json.loads((HERE / name / "case.json").read_text())
    describe(name, HERE / name / "model.onnx", case["output"], case["classes"])
    if task == "classification":
        native_check(name, estimator.predict_proba)
    else:
        native_check(name, estimator.predict)


def library_cases(data):
    from lightgbm import LGBMClassifier, LGBMRegressor
    from xgboost import XGBClassifier, XGBRegressor

    register_converters()
    clf, reg = "classification", "regression"
    lgbm = dict(num_leaves=15, random_state=0, n_jobs=1, verbose=-1)
    xgb = dict(max_depth=4, random_state=0, n_jobs=1)
    cases = [
        ("bench-forest-clf", RandomForestClassifier(n_estimators=30, max_depth=6, random_state=0), "cancer", clf,
         "sklearn RandomForestClassifier(30 trees, depth 6) via skl2onnx"),
        ("bench-gboost-reg", GradientBoostingRegressor(n_estimators=50, max_depth=3, random_state=0), "diabetes", reg,
         "sklearn GradientBoostingRegressor(50 trees, depth 3) via skl2onnx"),
        ("lgbm-clf-binary", LGBMClassifier(n_estimators=100, **lgbm), "cancer", clf,
         "LightGBM LGBMClassifier(100 trees, 15 leaves) via onnxmltools' converter"),
        ("lgbm-clf-10class", LGBMClassifier(n_estimators=60, **lgbm), "digits", clf,
         "LightGBM LGBMClassifier(60 rounds x 10 classes, 15 leaves) via onnxmltools' converter"),
        ("lgbm-reg", LGBMRegressor(n_estimators=100, **lgbm), "diabetes", reg,
         "LightGBM LGBMRegressor(100 trees, 15 leaves) via onnxmltools' converter"),
        ("lgbm-clf-missing", LGBMClassifier(n_estimators=100, **lgbm), "cancer-gaps", clf,
         "LightGBM LGBMClassifier(100 trees, 15 leaves) trained and tested with ~10% NaN, via onnxmltools' converter"),
        ("xgb-clf-binary", XGBClassifier(n_estimators=100, **xgb), "cancer", clf,
         "XGBoost XGBClassifier(100 trees, depth 4) via onnxmltools' converter"),
        ("xgb-clf-multi", XGBClassifier(n_estimators=30, **xgb), "digits", clf,
         "XGBoost XGBClassifier(30 rounds x 10 classes, depth 4) via onnxmltools' converter"),
        ("xgb-reg", XGBRegressor(n_estimators=100, **xgb), "diabetes", reg,
         "XGBoost XGBRegressor(100 trees, depth 4) via onnxmltools' converter"),
        ("xgb-clf-missing", XGBClassifier(n_estimators=100, **xgb), "cancer-gaps", clf,
         "XGBoost XGBClassifier(100 trees, depth 4) trained and tested with ~10% NaN, via onnxmltools' converter"),
    ]
    for name, estimator, dataset, task, note in cases:
        library_case(name, estimator, data[dataset], task, note)

    hgb = HistGradientBoostingClassifier(max_iter=50, max_leaf_nodes=15, random_state=0)
    try:
        library_case("hgb-clf-missing", hgb, data["cancer-gaps"], clf,
                     "sklearn HistGradientBoostingClassifier(50 trees, 15 leaves) trained and tested with ~10% NaN, via skl2onnx")
    except Exception as e:  # noqa: BLE001
        cause = e.__cause__ or e.__context__ or e
        skip("hgb-clf-missing", f"skl2onnx could not convert it: {type(cause).__name__}: {str(cause)[:200]}")


def catboost_cases(data):
    try:
        from catboost import CatBoostClassifier, CatBoostRegressor
    except ImportError as e:
        for name in ("catboost-clf-binary", "catboost-clf-multi", "catboost-reg"):
            skip(name, f"catboost is not installed: {e}")
        return
    common = dict(random_seed=0, thread_count=1, verbose=0, allow_writing_files=False)
    cases = [
        ("catboost-clf-binary", CatBoostClassifier(iterations=100, depth=6, **common), "cancer", "classification",
         "CatBoostClassifier(100 oblivious trees, depth 6), CatBoost's own ONNX export, ZipMap removed"),
        ("catboost-clf-multi", CatBoostClassifier(iterations=60, depth=4, **common), "digits", "classification",
         "CatBoostClassifier(60 oblivious trees, depth 4, 10 classes: every leaf votes for every class), "
         "CatBoost's own ONNX export, ZipMap removed"),
        ("catboost-reg", CatBoostRegressor(iterations=100, depth=6, **common), "diabetes", "regression",
         "CatBoostRegressor(100 oblivious trees, depth 6), CatBoost's own ONNX export"),
    ]
    for name, estimator, dataset, task, note in cases:
        x_train, y_train, x_test = data[dataset]
        estimator.fit(x_train, y_train)
        raw = BUILD / f"{name}-catboost.onnx"
        estimator.save_model(str(raw), format="onnx")
        model = onnx.load(str(raw))
        # Byte-for-byte reproducible: drop the metadata that changes from run to run.
        for prop in [p for p in model.metadata_props if p.key in ("train_finish_time", "model_guid")]:
            model.metadata_props.remove(prop)
        if task == "classification":
            # CatBoost writes probabilities only through a ZipMap: keep the tensor before it.
            zipmaps = [n for n in model.graph.node if n.op_type == "ZipMap"]
            output = zipmaps[0].input[0] if zipmaps else "probabilities"
            for z in zipmaps:
                model.graph.node.remove(z)
                for o in list(model.graph.output):
                    if o.name in z.output:
                        model.graph.output.remove(o)
            if zipmaps:
                k = len(estimator.classes_)
                model.graph.output.append(helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", k]))
            tree = next(n for n in model.graph.node if n.op_type == "TreeEnsembleClassifier")
            attrs = {a.name: helper.get_attribute_value(a) for a in tree.attribute}
            labels = attrs.get("classlabels_int64s") or [s.decode() for s in attrs["classlabels_strings"]]
            classes = [str(c) for c in labels]
            assert classes == [str(c) for c in estimator.classes_], (classes, estimator.classes_)
            predict = estimator.predict_proba
        else:
            output = model.graph.output[0].name
            classes = None
            predict = estimator.predict
        onnx.checker.check_model(model)
        path = BUILD / f"{name}.onnx"
        onnx.save(model, str(path))
        write_case(name, path, task, x_test, output, classes, TOL_FLOAT, note)
        describe(name, HERE / name / "model.onnx", output, classes)
        native_check(name, predict)


# ----------------------------------------------------------------------------------------------
# Synthetic graphs. A tree is nested tuples: split(mode, feature, threshold, missing_tracks_true,
# true_subtree, false_subtree) or leaf(key); a model's leaf weights map key -> [(target, weight)].


def split(mode, feature, threshold, missing_true, yes, no):
    return ("split", mode, feature, threshold, missing_true, yes, no)


def leaf(key):
    return ("leaf", key)


V3_MODES = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"]
V5_MODE = {m: i for i, m in enumerate(V3_MODES + ["BRANCH_MEMBER"])}

# Four trees over four features: every mode, each with and without missing-value tracking; a
# single-leaf tree.
TREES_V3 = [
    split("BRANCH_LEQ", 0, 1.0, 1,
          split("BRANCH_LT", 1, 2.0, 0, leaf("a"), leaf("b")),
          split("BRANCH_GTE", 2, 0.5, 1, leaf("c"), split("BRANCH_GT", 3, -1.0, 0, leaf("d"), leaf("e")))),
    split("BRANCH_GT", 3, -1.0, 1,
          split("BRANCH_EQ", 0, 2.0, 0, leaf("f"), split("BRANCH_NEQ", 1, 3.0, 1, leaf("g"), leaf("h"))),
          leaf("i")),
    leaf("j"),
    split("BRANCH_NEQ", 2, 0.5, 0,
          split("BRANCH_EQ", 3, 0.0, 1, leaf("k"), leaf("l")),
          split("BRANCH_LT", 0, 1.5, 1,
                split("BRANCH_GTE", 1, 2.0, 0, leaf("m"), leaf("n")),
                split("BRANCH_LEQ", 3, 0.3, 0, leaf("o"), leaf("p")))),
]

# The same trees with thresholds that float32 cannot hold (compared as doubles).
DOUBLE_THRESHOLDS = {(0, 1.0): 0.1, (1, 2.0): 1 / 3, (3, -1.0): -0.7, (0, 2.0): 0.1, (1, 3.0): 2.2, (0, 1.5): 0.1, (3, 0.3): 0.3}

REG_WEIGHTS = {
    "a": [(0, 1.0)], "b": [(0, 2.0)], "c": [(0, 3.0)], "d": [(0, 4.0)], "e": [(0, 5.0)],
    "f": [(0, -3.0)], "g": [(0, 0.75)], "h": [(0, -0.75)], "i": [(0, -1.5)], "j": [(0, 0.125)],
    "k": [(0, 2.5)], "l": [(0, -2.5)], "m": [(0, 0.5)], "n": [(0, -0.5)], "o": [(0, 1.75)], "p": [(0, -1.25)],
}
# A leaf with two votes for the same target: onnxruntime 1.23 keeps only the first when there is
# one target (regressor), and adds them up for classifiers (see tree-v3-duplicate-votes-reg).
DUPLICATE_WEIGHTS = dict(REG_WEIGHTS, g=[(0, 0.25), (0, 0.5)])
MULTI_WEIGHTS = {
    "a": [(0, 1.0)], "b": [(1, 0.5), (2, 0.25)], "c": [(0, 0.2), (1, 0.3), (2, 0.5)], "d": [(2, 1.5)],
    "e": [(1, -0.5)], "f": [(0, 2.0), (2, -1.0)], "g": [(1, 1.0), (1, 0.5)], "h": [(2, 0.75)], "i": [(0, -0.25)],
    "j": [(0, 0.1), (1, 0.1), (2, 0.1)], "k": [(1, 0.6)], "l": [(0, 0.4), (2, 0.4)], "m": [(2, -0.3)],
    "n": [(0, 0.9)], "o": [(1, 1.2), (0, -0.2)], "p": [(2, 0.8)],
}
# Class scores that are exactly 0: classes absent from a row's leaves, votes that cancel, and
# leaves with no vote at all ("i").
ZERO_WEIGHTS = {
    "a": [(0, 1.0)], "b": [(1, 0.5)], "c": [(0, 0.5), (1, -0.5)], "d": [(0, -1.0)], "e": [(1, 2.0)],
    "f": [(2, 1.5)], "g": [(0, 0.5)], "h": [(1, 0.5)], "i": [], "j": [(1, 0.0)], "k": [(2, -1.5)],
    "l": [(0, -0.5)], "m": [(1, -0.5)], "n": [(0, 0.5)], "o": [(2, 0.25)], "p": [(1, 0.25)],
}
ONE_ID_WEIGHTS = {
    "a": [(1, 0.1)], "b": [(1, 0.2)], "c": [(1, 0.05)], "d": [(1, 0.15)], "e": [(1, 0.25)], "f": [(1, 0.3)],
    "g": [(1, 0.05), (1, 0.05)], "h": [(1, 0.0)], "i": [(1, 0.1)], "j": [(1, 0.05)], "k": [(1, 0.2)],
    "l": [(1, 0.1)], "m": [(1, 0.25)], "n": [(1, 0.0)], "o": [(1, 0.15)], "p": [(1, 0.3)],
}
NEGATIVE_WEIGHTS = {
    "a": [(1, -0.4)], "b": [(1, 0.3)], "c": [(1, 0.2)], "d": [(1, -0.1)], "e": [(1, 0.5)], "f": [(1, -0.6)],
    "g": [(1, 0.1), (1, 0.2)], "h": [(1, -0.3)], "i": [(1, 0.25)], "j": [(1, -0.05)], "k": [(1, 0.4)],
    "l": [(1, -0.2)], "m": [(1, 0.15)], "n": [(1, -0.35)], "o": [(1, 0.45)], "p": [(1, -0.5)],
}
TWO_TARGET_WEIGHTS = {
    "a": [(0, 1.0), (1, -1.0)], "b": [(0, 2.0)], "c": [(1, 3.0)], "d": [(0, 4.0), (1, 0.5)], "e": [(1, 5.0)],
    "f": [(0, -3.0), (1, 3.0)], "g": [(1, 0.25)], "h": [(0, -0.75)], "i": [(0, -1.5), (1, -1.5)], "j": [(0, 0.125), (1, 0.25)],
    "k": [(1, 2.5)], "l": [(0, -2.5)], "m": [(0, 0.5), (1, 0.5)], "n": [(1, -0.5)], "o": [(0, 1.75)], "p": [(1, -1.25)],
}

# TreeEnsemble (ai.onnx.ml 5): modes 0..6, sets with and without 0, a single-leaf tree (a root whose
# two branches are the same leaf). One leaf, one (target, weight).
# onnxruntime 1.23 quirks that these layouts avoid (see v5_ensemble and tree-v5-member-bigset):
# - a root whose nodes_truenodeids equals its nodes_falsenodeids, the true one a leaf, is read as a
#   single-leaf tree whose leaf is leaf_weights[root index] (even when the false one is a node);
#   so the single-leaf tree comes first: root 0, leaf 0;
# - members must be integers; a set with a member outside 0..30 truncates the input to an integer
#   before testing (2.75 is in {2, 31}), so tree-v5-member-bigset has integer inputs only.
TREES_V5 = [
    split("BRANCH_LEQ", 0, 100.0, 0, leaf("k"), leaf("k")),
    split("BRANCH_MEMBER", 0, [0.0, 2.0, 3.0], 1,
          split("BRANCH_LEQ", 1, 2.0, 0, leaf("a"), leaf("b")),
          split("BRANCH_GTE", 2, 0.5, 0, leaf("c"), leaf("d"))),
    split("BRANCH_LT", 3, 0.0, 1,
          split("BRANCH_MEMBER", 1, [1.0, 4.0], 0, leaf("e"), split("BRANCH_NEQ", 0, 1.0, 1, leaf("f"), leaf("g"))),
          split("BRANCH_GT", 2, 0.3, 1, split("BRANCH_EQ", 2, 1.0, 1, leaf("h"), leaf("i")), leaf("j"))),
    split("BRANCH_EQ", 1, 2.5, 0,
          leaf("l"),
          split("BRANCH_GT", 0, 1.5, 0,
                leaf("m"),
                split("BRANCH_LT", 2, 0.0, 1, leaf("n"), split("BRANCH_MEMBER", 3, [1.0, 30.0], 1, leaf("o"), leaf("p"))))),
]
V5_WEIGHTS = {
    "a": (0, 1.0), "b": (0, 2.0), "c": (0, -3.0), "d": (0, 4.0), "e": (0, 0.5), "f": (0, -1.5), "g": (0, 2.5),
    "h": (0, 0.25), "i": (0, -0.75), "j": (0, 1.25), "k": (0, 0.125), "l": (0, -2.0), "m": (0, 3.5),
    "n": (0, -0.25), "o": (0, 0.75), "p": (0, -1.0),
}
TREES_V5_BIGSET = [
    split("BRANCH_MEMBER", 0, [-1.0, 40.0], 0, leaf("a"), leaf("b")),
    split("BRANCH_MEMBER", 1, [2.0, 31.0], 1, leaf("c"), leaf("d")),
    split("BRANCH_MEMBER", 2, [0.0, 2.0, 3.0], 0, leaf("e"), leaf("f")),
    split("BRANCH_MEMBER", 3, [1.0, 30.0], 1, leaf("g"), leaf("h")),
]
V5_BIGSET_WEIGHTS = {
    "a": (0, 1.0), "b": (0, -1.0), "c": (0, 2.0), "d": (0, -2.0), "e": (0, 4.0), "f": (0, -4.0), "g": (0, 8.0), "h": (0, -8.0),
}
V5_THREE_TARGETS = {
    "a": (0, 1.0), "b": (1, 2.0), "c": (2, -3.0), "d": (0, 4.0), "e": (1, 0.5), "f": (2, -1.5), "g": (0, 2.5),
    "h": (1, 0.25), "i": (2, -0.75), "j": (0, 1.25), "k": (1, 0.125), "l": (2, -2.0), "m": (0, 3.5),
    "n": (1, -0.25), "o": (2, 0.75), "p": (0, -1.0),
}


def goes_true(mode, x, t, missing_true, double):
    """onnxruntime's rule: NaN follows missing_true, else compares false (so NEQ is true)."""
    if math.isnan(x):
        return bool(missing_true) or mode == "BRANCH_NEQ"
    if mode == "BRANCH_MEMBER":
        return x in [float(np.float32(v)) for v in t]
    if not double:
        t = float(np.float32(t))
    return {
        "BRANCH_LEQ": x <= t, "BRANCH_LT": x < t, "BRANCH_GTE": x >= t,
        "BRANCH_GT": x > t, "BRANCH_EQ": x == t, "BRANCH_NEQ": x != t,
    }[mode]


def category(mode, x, t, double):
    if math.isnan(x):
        return "nan"
    if mode == "BRANCH_MEMBER":
        return "in" if x in [float(np.float32(v)) for v in t] else "out"
    t = t if double else float(np.float32(t))
    if x == t and x == 0 and math.copysign(1, x) < 0:
        return "eq-negative-zero"
    return "lt" if x < t else ("eq" if x == t else "gt")


def walk(tree, row, double, path=(), seen=None):
    """The leaf a row reaches, recording (node path, category) and (leaf path) in `seen`."""
    if tree[0] == "leaf":
        if seen is not None:
            seen.add(("leaf", path))
        return tree[1]
    _, mode, f, t, mt, yes, no = tree
    if seen is not None:
        seen.add(("node", path, category(mode, row[f], t, double)))
    if goes_true(mode, row[f], t, mt, double):
        return walk(yes, row, double, path + (1,), seen)
    return walk(no, row, double, path + (0,), seen)


def thresholds_of(trees):
    out = {}

    def visit(tree):
        if tree[0] == "leaf":
            return
        _, mode, f, t, _, yes, no = tree
        out.setdefault(f, set()).update(t if isinstance(t, list) else [t])
        visit(yes)
        visit(no)

    for tree in trees:
        visit(tree)
    return out


def covering_rows(trees, features, seed, double=False, step=0.25):
    """Rows over each feature's thresholds, neighbours, -0.0 and NaN, chosen so that every node
    sees every category (below, equal, above, missing; in/out of a set) and every leaf is reached,
    then filled up to ROWS with seeded random picks."""
    per_feature = thresholds_of(trees)
    candidates = []
    for f in range(features):
        values = {"nan": np.nan}  # keyed by repr: keeps -0.0 beside 0.0
        for t in per_feature.get(f, []):
            for v in (t - step, t, t + step):
                values[repr(round(v, 6))] = round(v, 6)
            if t == 0:
                values["-0.0"] = -0.0
        candidates.append(sorted(values.values(), key=lambda v: (math.isnan(v), v, math.copysign(1, v) if v == 0 else 0)))
    grid = [tuple(float(np.float32(v)) for v in row) for row in itertools.product(*candidates)]
    key = lambda row: tuple(repr(v) for v in row)  # noqa: E731
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(grid))

    def coverage(row):
        seen = set()
        for i, tree in enumerate(trees):
            walk(tree, row, double, (i,), seen)
        return seen

    goal = set().union(*(coverage(r) for r in grid))
    rows, covered = [], set()
    for i in order:
        new = coverage(grid[i]) - covered
        if new:
            rows.append(grid[i])
            covered |= new
    assert covered == goal
    assert len(rows) <= ROWS, len(rows)
    chosen = {key(r) for r in rows}
    for i in order:
        if len(rows) >= ROWS:
            break
        if key(grid[i]) not in chosen:
            rows.append(grid[i])
            chosen.add(key(grid[i]))
    if not double:
        # every comparison node met below, equal, above and NaN (sets: in, out, NaN)
        for tree_index, tree in enumerate(trees):
            check_all_categories(tree, (tree_index,), covered)
    return np.array(rows, dtype=np.float32), len(covered)


def check_all_categories(tree, path, covered):
    if tree[0] == "leaf":
        assert ("leaf", path) in covered, path
        return
    _, mode, _, _, _, yes, no = tree
    wanted = ("in", "out", "nan") if mode == "BRANCH_MEMBER" else ("lt", "eq", "gt", "nan")
    for c in wanted:
        assert ("node", path, c) in covered, (path, mode, c)
    check_all_categories(yes, path + (1,), covered)
    check_all_categories(no, path + (0,), covered)


def flatten_v3(trees, weights, thresholds=None):
    """v3 attributes; node ids are breadth-first (not pre-order), listed in id order per tree."""
    nodes = dict(treeids=[], nodeids=[], modes=[], featureids=[], values=[], truenodeids=[], falsenodeids=[], missing=[])
    votes = dict(treeids=[], nodeids=[], ids=[], weights=[])
    for tid, tree in enumerate(trees):
        queue, ids, order = [tree], {}, []
        ids[id(tree)] = 0
        while queue:
            node = queue.pop(0)
            order.append(node)
            if node[0] == "split":
                for child in (node[5], node[6]):
                    ids[id(child)] = len(ids)
                    queue.append(child)
        for node in order:
            nid = ids[id(node)]
            nodes["treeids"].append(tid)
            nodes["nodeids"].append(nid)
            if node[0] == "leaf":
                nodes["modes"].append("LEAF")
                nodes["featureids"].append(0)
                nodes["values"].append(0.0)
                nodes["truenodeids"].append(0)
                nodes["falsenodeids"].append(0)
                nodes["missing"].append(0)
                for target, w in weights[node[1]]:
                    votes["treeids"].append(tid)
                    votes["nodeids"].append(nid)
                    votes["ids"].append(target)
                    votes["weights"].append(w)
            else:
                _, mode, f, t, mt, yes, no = node
                nodes["modes"].append(mode)
                nodes["featureids"].append(f)
                nodes["values"].append((thresholds or {}).get((f, t), t))
                nodes["truenodeids"].append(ids[id(yes)])
                nodes["falsenodeids"].append(ids[id(no)])
                nodes["missing"].append(mt)
    return nodes, votes


def with_thresholds(trees, mapping):
    def convert(tree):
        if tree[0] == "leaf":
            return tree
        _, mode, f, t, mt, yes, no = tree
        return ("split", mode, f, mapping.get((f, t), t), mt, convert(yes), convert(no))

    return [convert(t) for t in trees]


def v3_node_attrs(nodes, double):
    attrs = dict(
        nodes_treeids=nodes["treeids"], nodes_nodeids=nodes["nodeids"], nodes_modes=nodes["modes"],
        nodes_featureids=nodes["featureids"], nodes_truenodeids=nodes["truenodeids"],
        nodes_falsenodeids=nodes["falsenodeids"], nodes_missing_value_tracks_true=nodes["missing"],
    )
    if double:
        attrs["nodes_values_as_tensor"] = numpy_helper.from_array(np.array(nodes["values"], dtype=np.float64), "nodes_values")
    else:
        attrs["nodes_values"] = nodes["values"]
    return attrs


def save_model(name, node, features, outputs, ml_opset):
    nodes = node if isinstance(node, list) else [node]
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", features])], outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", ml_opset)])
    model.ir_version = 8 if ml_opset < 5 else 10
    onnx.checker.check_model(model, full_check=True)
    path = BUILD / f"{name}.onnx"
    onnx.save(model, str(path))
    return path


def v3_regressor(name, trees, weights, aggregate, post, base, n_targets=1, double=False):
    nodes, votes = flatten_v3(trees, weights)
    attrs = v3_node_attrs(nodes, double)
    attrs.update(n_targets=n_targets, aggregate_function=aggregate, post_transform=post,
                 target_treeids=votes["treeids"], target_nodeids=votes["nodeids"], target_ids=votes["ids"])
    if double:
        attrs["target_weights_as_tensor"] = numpy_helper.from_array(np.array(votes["weights"], dtype=np.float64), "w")
        attrs["base_values_as_tensor"] = numpy_helper.from_array(np.array(base, dtype=np.float64), "b")
    else:
        attrs["target_weights"] = votes["weights"]
        attrs["base_values"] = base
    if double:
        # onnxruntime reads the *_as_tensor attributes in the input's type: a double input.
        node = [helper.make_node("Cast", ["X"], ["X64"], to=TensorProto.DOUBLE),
                helper.make_node("TreeEnsembleRegressor", ["X64"], ["Y"], domain="ai.onnx.ml", **attrs)]
    else:
        node = helper.make_node("TreeEnsembleRegressor", ["X"], ["Y"], domain="ai.onnx.ml", **attrs)
    return save_model(name, node, 4, [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", n_targets])], 3)


def v3_classifier(name, trees, weights, labels, post, base=None):
    nodes, votes = flatten_v3(trees, weights)
    attrs = v3_node_attrs(nodes, False)
    attrs.update(post_transform=post, class_treeids=votes["treeids"], class_nodeids=votes["nodeids"],
                 class_ids=votes["ids"], class_weights=votes["weights"])
    if base is not None:
        attrs["base_values"] = base
    if isinstance(labels[0], str):
        attrs["classlabels_strings"] = labels
        label_type = TensorProto.STRING
    else:
        attrs["classlabels_int64s"] = labels
        label_type = TensorProto.INT64
    node = helper.make_node("TreeEnsembleClassifier", ["X"], ["label", "probabilities"], domain="ai.onnx.ml", **attrs)
    outputs = [helper.make_tensor_value_info("label", label_type, ["N"]),
               helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", len(labels)])]
    return save_model(name, node, 4, outputs, 3)


def v5_ensemble(name, trees, weights, n_targets, aggregate=1, post=0):
    """TreeEnsemble (ai.onnx.ml 5): internal nodes in pre-order (true branch first), so that
    membership_values, listed in node order, are also in traversal order."""
    nodes = dict(featureids=[], splits=[], modes=[], truenodeids=[], falsenodeids=[], trueleafs=[], falseleafs=[], missing=[])
    leaves = dict(targetids=[], weights=[])
    members, roots = [], []

    def emit(tree, tree_leaves):
        if tree[0] == "leaf":
            if tree[1] not in tree_leaves:
                tree_leaves[tree[1]] = len(leaves["weights"])
                target, w = weights[tree[1]]
                leaves["targetids"].append(target)
                leaves["weights"].append(w)
            return tree_leaves[tree[1]], 1
        _, mode, f, t, mt, yes, no = tree
        at = len(nodes["modes"])
        nodes["featureids"].append(f)
        nodes["modes"].append(V5_MODE[mode])
        nodes["missing"].append(mt)
        if mode == "BRANCH_MEMBER":
            nodes["splits"].append(0.0)
            members.extend(t + [np.nan])
        else:
            nodes["splits"].append(t)
        for key in ("truenodeids", "falsenodeids", "trueleafs", "falseleafs"):
            nodes[key].append(0)
        nodes["truenodeids"][at], nodes["trueleafs"][at] = emit(yes, tree_leaves)
        nodes["falsenodeids"][at], nodes["falseleafs"][at] = emit(no, tree_leaves)
        return at, 0

    for tree in trees:
        root, is_leaf = emit(tree, {})
        assert not is_leaf
        roots.append(root)
        same = nodes["truenodeids"][root] == nodes["falsenodeids"][root]
        # onnxruntime 1.23 reads such a root as a single leaf, leaf_weights[root]: keep it true
        assert not same or (nodes["trueleafs"][root] and nodes["falseleafs"][root] and nodes["truenodeids"][root] == root), name
    f32 = lambda v, n: numpy_helper.from_array(np.array(v, dtype=np.float32), n)  # noqa: E731
    attrs = dict(
        n_targets=n_targets, aggregate_function=aggregate, post_transform=post, tree_roots=roots,
        nodes_featureids=nodes["featureids"], nodes_splits=f32(nodes["splits"], "splits"),
        nodes_modes=numpy_helper.from_array(np.array(nodes["modes"], dtype=np.uint8), "modes"),
        nodes_truenodeids=nodes["truenodeids"], nodes_falsenodeids=nodes["falsenodeids"],
        nodes_trueleafs=nodes["trueleafs"], nodes_falseleafs=nodes["falseleafs"],
        nodes_missing_value_tracks_true=nodes["missing"], membership_values=f32(members, "members"),
        leaf_targetids=leaves["targetids"], leaf_weights=f32(leaves["weights"], "weights"),
    )
    node = helper.make_node("TreeEnsemble", ["X"], ["Y"], domain="ai.onnx.ml", **attrs)
    return save_model(name, node, 4, [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", n_targets])], 5)


def run_ort(path, x, output):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run([output], {"X": x})[0])


def reference_check(name, path, x, output, expected):
    """The ONNX reference implementation on the same inputs (information only)."""
    try:
        from onnx.reference import ReferenceEvaluator

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = np.asarray(ReferenceEvaluator(str(path)).run([output], {"X": x})[0], dtype=np.float64)
        got = got.reshape(len(x), -1)
        bad = ~np.isclose(got, expected, rtol=1e-5, atol=1e-6, equal_nan=True)
        rows = int(bad.any(axis=1).sum())
        msg = f"onnx reference agrees on all {len(x)} rows" if rows == 0 else f"onnx reference differs on {rows} of {len(x)} rows"
    except Exception as e:  # noqa: BLE001
        msg = f"onnx reference failed: {type(e).__name__}: {str(e)[:150]}"
    print(f"  {name}: {msg}")
    return msg


def sum_check(name, trees, weights, base, x, expected, double=False, v5=False):
    """For SUM/NONE models: base + the sum of the leaves reached, with goes_true's rule."""
    got = []
    for row in x.astype(np.float64):
        total = base
        for tree in trees:
            key = walk(tree, tuple(float(v) for v in row), double)
            total += weights[key][1] if v5 else sum(w for _, w in weights[key])
        got.append(total)
    diff = float(np.abs(np.array(got) - np.asarray(expected).reshape(-1)).max())
    print(f"  {name}: max |onnxruntime - (base + sum of leaves, rule NaN -> missing_true else compare false)| = {diff:.3g}")
    assert diff < 1e-5, name


def synthetic_case(name, path, rows, task, output, classes, note, ref=True):
    expected = run_ort(path, rows, output).reshape(len(rows), -1)
    keep = np.isfinite(expected).all(axis=1)
    if not keep.all():
        print(f"  {name}: dropped {int((~keep).sum())} rows whose onnxruntime output is not finite")
        rows = rows[keep]
    write_case(name, path, task, rows, output, classes, TOL_FLOAT, note)
    describe(name, HERE / name / "model.onnx", output, classes)
    case, x = case_inputs(name)
    if ref:
        reference_check(name, path, x, output, np.array(case["expected"], dtype=np.float64))
    return x, np.array(case["expected"], dtype=np.float64)


def extra_case(name, path, rows, output, n_targets, note):
    out_dir = EXTRA / name
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, out_dir / "model.onnx")
    x = np.array([[np.nan if v is None else v for v in row] for row in rounded(rows[:ROWS])], dtype=np.float32)
    expected = run_ort(out_dir / "model.onnx", x, output).reshape(len(x), -1)
    assert expected.shape[1] == n_targets and np.isfinite(expected).all()
    doc = {
        "input": "X", "output": output, "features": int(x.shape[1]), "n_targets": n_targets, "note": note,
        "inputs": rounded(x), "expected": rounded(expected, 7),
    }
    (out_dir / "outputs.json").write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"{name}: {(out_dir / 'model.onnx').stat().st_size} bytes, {len(x)} rows, {n_targets} targets (corpus-extra)")
    describe(name, out_dir / "model.onnx", output, None, where="tests/corpus-extra")
    reference_check(name, out_dir / "model.onnx", x, output, np.array(doc["expected"], dtype=np.float64))


def synthetic_cases():
    clf, reg = "classification", "regression"
    rows, covered = covering_rows(TREES_V3, 4, seed=3)
    print(f"v3 rows: {len(rows)}, covering {covered} (node, category) and leaf items")

    for aggregate in ("SUM", "AVERAGE", "MIN", "MAX"):
        name = "tree-v3-modes-reg" if aggregate == "SUM" else f"tree-v3-{aggregate.lower()}-reg"
        path = v3_regressor(name, TREES_V3, REG_WEIGHTS, aggregate, "NONE", [0.5])
        x, expected = synthetic_case(
            name, path, rows, reg, "Y", None,
            f"synthetic TreeEnsembleRegressor: 4 trees (one a single leaf), every v3 mode with and without "
            f"missing tracking, BFS node ids, aggregate {aggregate}, base 0.5")
        if aggregate == "SUM":
            sum_check(name, TREES_V3, REG_WEIGHTS, 0.5, x, expected)

    path = v3_regressor("tree-v3-duplicate-votes-reg", TREES_V3, DUPLICATE_WEIGHTS, "SUM", "NONE", [0.5])
    x, expected = synthetic_case(
        "tree-v3-duplicate-votes-reg", path, rows, reg, "Y", None,
        "synthetic TreeEnsembleRegressor, the modes trees, SUM, base 0.5, one leaf with two votes (0.25, 0.5) for "
        "target 0: onnxruntime 1.23 uses the first only")
    first = dict(REG_WEIGHTS, g=[(0, 0.25)])
    sum_check("tree-v3-duplicate-votes-reg (first vote only)", TREES_V3, first, 0.5, x, expected)

    probit = {k: [(t, w * 0.04) for t, w in v] for k, v in REG_WEIGHTS.items()}
    path = v3_regressor("tree-v3-probit-reg", TREES_V3, probit, "SUM", "PROBIT", [0.5])
    synthetic_case("tree-v3-probit-reg", path, rows, reg, "Y", None,
                   "synthetic TreeEnsembleRegressor, the modes trees with weights x0.04, SUM, base 0.5, post_transform PROBIT")

    path = v3_classifier("tree-v3-multi-clf", TREES_V3, MULTI_WEIGHTS, [0, 1, 2], "SOFTMAX", [0.1, -0.2, 0.3])
    synthetic_case("tree-v3-multi-clf", path, rows, clf, "probabilities", ["0", "1", "2"],
                   "synthetic TreeEnsembleClassifier, 3 classes, leaves voting for 1-3 classes, SOFTMAX, base_values [0.1,-0.2,0.3]")

    path = v3_classifier("tree-v3-softmax-zero-clf", TREES_V3, ZERO_WEIGHTS, [0, 1, 2], "SOFTMAX_ZERO")
    x, expected = synthetic_case("tree-v3-softmax-zero-clf", path, rows, clf, "probabilities", ["0", "1", "2"],
                                 "synthetic TreeEnsembleClassifier, 3 classes, SOFTMAX_ZERO, class scores exactly 0 "
                                 "(absent, cancelled, a leaf without votes), no base_values")
    print(f"  tree-v3-softmax-zero-clf: {int((expected == 0).any(axis=1).sum())} rows with a probability exactly 0")

    # Binary classifiers whose votes all go to one class. onnxruntime 1.23 completes the other
    # column only when that class is 0: [1-s, s] if every weight >= 0 (post_transform ignored),
    # else [-s, s] (NONE) or [sigmoid(-s), sigmoid(s)] (LOGISTIC). With class 1 it writes [0, s]
    # and applies the post_transform to both columns.
    binary = [
        ("tree-v3-binary-one-id-clf", 1, ONE_ID_WEIGHTS, "NONE", "class_ids all 1, weights >= 0, NONE"),
        ("tree-v3-binary-negative-clf", 1, NEGATIVE_WEIGHTS, "LOGISTIC", "class_ids all 1, some weights < 0, LOGISTIC"),
        ("tree-v3-binary-negative-none-clf", 1, NEGATIVE_WEIGHTS, "NONE", "class_ids all 1, some weights < 0, NONE"),
        ("tree-v3-binary-one-id0-clf", 0, ONE_ID_WEIGHTS, "NONE", "class_ids all 0, weights >= 0, NONE: [1-s, s]"),
        ("tree-v3-binary-one-id0-logistic-clf", 0, ONE_ID_WEIGHTS, "LOGISTIC",
         "class_ids all 0, weights >= 0, LOGISTIC, which onnxruntime ignores here: [1-s, s]"),
        ("tree-v3-binary-negative-id0-clf", 0, NEGATIVE_WEIGHTS, "LOGISTIC",
         "class_ids all 0, some weights < 0, LOGISTIC: [sigmoid(-s), sigmoid(s)]"),
        ("tree-v3-binary-negative-none-id0-clf", 0, NEGATIVE_WEIGHTS, "NONE", "class_ids all 0, some weights < 0, NONE: [-s, s]"),
    ]
    for name, class_id, weights, post, what in binary:
        weights = {k: [(class_id, w) for _, w in v] for k, v in weights.items()}
        path = v3_classifier(name, TREES_V3, weights, [0, 1], post)
        x, expected = synthetic_case(name, path, rows, clf, "probabilities", ["0", "1"], f"synthetic binary TreeEnsembleClassifier, {what}")
        s = np.array([sum(w for _, w in weights[walk(t, tuple(float(v) for v in row), False)]) for row in x.astype(np.float64)
                      for t in TREES_V3]).reshape(len(x), -1).sum(axis=1)
        sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
        forms = {"[1-s, s]": np.c_[1 - s, s], "[-s, s]": np.c_[-s, s], "[sigmoid(-s), sigmoid(s)]": np.c_[sig(-s), sig(s)],
                 "[0, s]": np.c_[0 * s, s], "[sigmoid(0), sigmoid(s)]": np.c_[0 * s + 0.5, sig(s)]}
        match = [f for f, v in forms.items() if np.abs(v - expected).max() < 1e-5]
        print(f"  {name}: onnxruntime writes {match or 'none of ' + str(list(forms))}")

    strings = ["cat", "dog", "bird"]
    path = v3_classifier("tree-v3-strings-clf", TREES_V3, MULTI_WEIGHTS, strings, "LOGISTIC")
    synthetic_case("tree-v3-strings-clf", path, rows, clf, "probabilities", strings,
                   "synthetic TreeEnsembleClassifier, classlabels_strings [cat, dog, bird] (not sorted), LOGISTIC")

    double_trees = with_thresholds(TREES_V3, DOUBLE_THRESHOLDS)
    drows, covered = covering_rows(double_trees, 4, seed=4, double=True)
    print(f"double rows: {len(drows)}, covering {covered} items")
    try:
        path = v3_regressor("tree-v3-double-thresholds", double_trees, REG_WEIGHTS, "SUM", "NONE", [0.5], double=True)
        run_ort(path, drows, "Y")
    except Exception as e:  # noqa: BLE001
        skip("tree-v3-double-thresholds", f"{type(e).__name__}: ...{str(e)[-300:]}")
    else:
        x, expected = synthetic_case(
            "tree-v3-double-thresholds", path, drows, reg, "Y", None,
            "synthetic Cast(float -> double) + TreeEnsembleRegressor with nodes_values_as_tensor, target_weights_as_tensor, "
            "base_values_as_tensor (double), thresholds 0.1, 1/3, -0.7, 2.2, 0.3 that float32 cannot hold, SUM, base 0.5")
        try:
            sum_check("tree-v3-double-thresholds", double_trees, REG_WEIGHTS, 0.5, x, expected, double=True)
            print("  tree-v3-double-thresholds: onnxruntime compares float32 inputs with the double thresholds as doubles")
        except AssertionError:
            sum_check("tree-v3-double-thresholds", double_trees, REG_WEIGHTS, 0.5, x, expected, double=False)
            print("  tree-v3-double-thresholds: onnxruntime compares with the thresholds rounded to float32")

    v5rows, covered = covering_rows(TREES_V5, 4, seed=5)
    print(f"v5 rows: {len(v5rows)}, covering {covered} items")
    try:
        path = v5_ensemble("tree-v5-modes", TREES_V5, V5_WEIGHTS, 1)
        run_ort(path, v5rows, "Y")
    except Exception as e:  # noqa: BLE001
        skip("tree-v5-modes", f"{type(e).__name__}: ...{str(e)[-300:]}")
    else:
        x, expected = synthetic_case(
            "tree-v5-modes", path, v5rows, reg, "Y", None,
            "synthetic TreeEnsemble (ai.onnx.ml 5): modes 0..6 incl. BRANCH_MEMBER (sets with 0), missing tracking, "
            "leaves via nodes_trueleafs/falseleafs, a tree whose two branches share a leaf, n_targets 1, SUM, NONE")
        sum_check("tree-v5-modes", TREES_V5, V5_WEIGHTS, 0.0, x, expected, v5=True)

    brows, covered = covering_rows(TREES_V5_BIGSET, 4, seed=6, step=1.0)
    print(f"v5 bigset rows: {len(brows)}, covering {covered} items")
    try:
        path = v5_ensemble("tree-v5-member-bigset", TREES_V5_BIGSET, V5_BIGSET_WEIGHTS, 1)
        run_ort(path, brows, "Y")
    except Exception as e:  # noqa: BLE001
        skip("tree-v5-member-bigset", f"{type(e).__name__}: ...{str(e)[-300:]}")
    else:
        x, expected = synthetic_case(
            "tree-v5-member-bigset", path, brows, reg, "Y", None,
            "synthetic TreeEnsemble (ai.onnx.ml 5): BRANCH_MEMBER only, sets {-1,40} {2,31} (onnxruntime's big-set path) "
            "and {0,2,3} {1,30} (its EQ-chain path), integer inputs, NaN, -0.0, SUM, NONE")
        sum_check("tree-v5-member-bigset", TREES_V5_BIGSET, V5_BIGSET_WEIGHTS, 0.0, x, expected, v5=True)

    try:
        path = v5_ensemble("tree-v5-multi-target", TREES_V5, V5_THREE_TARGETS, 3)
        run_ort(path, v5rows, "Y")
    except Exception as e:  # noqa: BLE001
        skip("tree-v5-multi-target", f"{type(e).__name__}: ...{str(e)[-300:]}")
    else:
        extra_case("tree-v5-multi-target", path, v5rows, "Y", 3,
                   "synthetic TreeEnsemble (ai.onnx.ml 5), the tree-v5-modes trees, n_targets 3 (each leaf one target), SUM, NONE")

    path = v3_regressor("tree-v3-multi-target", TREES_V3, TWO_TARGET_WEIGHTS, "SUM", "NONE", [0.5, -0.5], n_targets=2)
    extra_case("tree-v3-multi-target", path, rows, "Y", 2,
               "synthetic TreeEnsembleRegressor, the tree-v3-modes trees, n_targets 2 (leaves voting for one or both), SUM, base [0.5,-0.5]")


def main():
    BUILD.mkdir(parents=True, exist_ok=True)
    warnings.filterwarnings("ignore")
    data = datasets()
    library_cases(data)
    catboost_cases(data)
    synthetic_cases()
    (BUILD / "tree-corpus-summary.json").write_text(json.dumps({"cases": SUMMARY, "skipped": SKIPPED}, indent=1, default=str) + "\n")
    print("\nwritten:")
    for entry in SUMMARY:
        folder = REPO / entry["where"] / entry["case"]
        files = sorted(p.name for p in folder.iterdir())
        print(f"  {entry['where']}/{entry['case']}: {files} model {entry['size']} bytes, "
              f"total {sum(p.stat().st_size for p in folder.iterdir())} bytes")
    for name, reason in SKIPPED:
        print(f"  skipped {name}: {reason}")


if __name__ == "__main__":
    main()
