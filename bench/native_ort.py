"""Times onnxruntime's Python package on corpus models (tests/corpus), as bench/run.mjs reports it
beside wasm-predict's native figures: one row and a batch of 256, default session options (as a
user gets them: onnxruntime picks its threads) and one thread. Prints JSON.

Usage: python bench/native_ort.py CASE...
"""

import json
import pathlib
import sys
import time

import numpy as np
import onnxruntime as ort

ROOT = pathlib.Path(__file__).resolve().parent.parent
BLOCKS = 15


def median_us(fn, per_block):
    for i in range(per_block):
        fn(i)
    means = []
    for _ in range(BLOCKS):
        start = time.perf_counter()
        for i in range(per_block):
            fn(i)
        means.append((time.perf_counter() - start) * 1e6 / per_block)
    return sorted(means)[BLOCKS // 2]


def timings(session, case):
    rows = np.array([[np.nan if v is None else v for v in r] for r in case["inputs"]], dtype=np.float32)
    features = case["features"] if isinstance(case["features"], list) else [case["features"]]
    single = [rows[i : i + 1].reshape([1, *features]) for i in range(len(rows))]
    batch = np.resize(rows, (256, rows.shape[1])).astype(np.float32).reshape([256, *features])
    name, output = case["input"], [case["output"]]
    return {
        "row_us": median_us(lambda i: session.run(output, {name: single[i % len(single)]}), 2000),
        "batch256_us": median_us(lambda i: session.run(output, {name: batch}), 20),
    }


def main():
    # CatBoost's regressor declares a [N] output and gives [N, 1]: onnxruntime warns on every call.
    ort.set_default_logger_severity(3)
    results = {"onnxruntime": ort.__version__}
    for name in sys.argv[1:]:
        case = json.loads((ROOT / "tests/corpus" / name / "case.json").read_text())
        model = str(ROOT / "tests/corpus" / name / "model.onnx")
        default = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        one = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        results[name] = {"default": timings(default, case), "one_thread": timings(one, case)}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
