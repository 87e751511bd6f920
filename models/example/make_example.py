"""The worked example of the model lifecycle (README, "Model operations").

Writes, reproducibly (fixed seed, pinned versions in models/requirements.txt):
- history.csv: 24 months of credit applications (2025-01 to 2026-12, 300 a month) with six
  features and whether the loan defaulted. A drift is put in on purpose from 2025-10 on: incomes
  fall (the features shift) and the debt ratio weighs more than late payments (the concept moves).
- credit-risk-v1.onnx: the champion, trained on 2025-01..2025-06, before the drift;
  holdout-v1.csv: rows of those months it did not see.
- credit-risk-v2.onnx: the challenger, trained on 2025-10..2025-12, after it;
  holdout-v2.csv: rows of those months it did not see.
Both are StandardScaler + LogisticRegression exported by skl2onnx (probabilities, no ZipMap).
- credit-risk-v2-mlp.onnx: a float StandardScaler + MLPClassifier (64, 32) on v2's training rows,
  the model the walk-through quantizes to int8 (`wasm-predict quantize`).
onnxruntime's outputs on each holdout row go to tests/golden/credit-risk-<version>.json, for the
bundles the README's walk-through makes (1.0.0 from v1, 1.1.0 from v2).
Run from the repository root:  python models/example/make_example.py
"""

import json
import pathlib

import numpy as np
import onnxruntime as ort
from skl2onnx import to_onnx
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = pathlib.Path(__file__).resolve().parent
GOLDEN = HERE.parent.parent / "tests" / "golden"
VERSIONS = {"v1": "1.0.0", "v2": "1.1.0"}
FEATURES = ["age", "income", "debt_ratio", "credit_lines", "late_payments", "years_employed"]
PER_MONTH = 300
DRIFT_FROM = 9  # month index of 2025-10


def months():
    return [(2025 + m // 12, m % 12 + 1) for m in range(24)]


def applications(rng, index):
    drifted = index >= DRIFT_FROM
    n = PER_MONTH
    age = rng.normal(41, 11, n).clip(19, 80)
    income = rng.lognormal(np.log(38 if drifted else 55), 0.35, n)
    debt_ratio = rng.beta(2.2, 4.5 if drifted else 5.5, n)
    credit_lines = rng.poisson(4, n)
    late_payments = rng.poisson(0.9, n)
    years_employed = (rng.gamma(2.0, 3.5, n)).clip(0, age - 18)
    if drifted:
        logit = -3.6 + 9.0 * debt_ratio + 0.15 * late_payments - 0.012 * income - 0.03 * years_employed
    else:
        logit = -2.2 + 2.0 * debt_ratio + 1.1 * late_payments - 0.03 * income - 0.05 * years_employed
    defaulted = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    x = np.column_stack([age, income, debt_ratio, credit_lines, late_payments, years_employed])
    return np.round(x, 3), defaulted


def write_csv(path, header, rows):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for row in rows:
            f.write(",".join(str(v) for v in row) + "\n")


def train(x, y, path, classifier=None):
    model = make_pipeline(StandardScaler(), classifier or LogisticRegression(max_iter=1000))
    model.fit(x, y)
    onnx_model = to_onnx(model, x[:1].astype(np.float32), options={"zipmap": False}, target_opset={"": 17, "ai.onnx.ml": 3})
    path.write_bytes(onnx_model.SerializeToString())
    return model


def write_golden(model_path, rows, version):
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    probabilities = session.run(["probabilities"], {"X": rows.astype(np.float32)})[0]
    golden = {
        "probabilities": [[round(float(p), 7) for p in row] for row in probabilities],
        "labels": [str(i) for i in probabilities.argmax(axis=1)],
    }
    (GOLDEN / f"credit-risk-{version}.json").write_text(json.dumps(golden, separators=(",", ":")) + "\n")


def main():
    rng = np.random.default_rng(20261123)
    rows, by_month = [], []
    for index, (year, month) in enumerate(months()):
        x, y = applications(rng, index)
        days = rng.integers(1, 29, len(y))
        stamps = [f"{year}-{month:02d}-{d:02d}" for d in days]
        by_month.append((x, y))
        rows += [[s, *xi, yi] for s, xi, yi in zip(stamps, x.tolist(), y.tolist())]
    rows.sort(key=lambda r: r[0])
    write_csv(HERE / "history.csv", ["applied_on", *FEATURES, "defaulted"], rows)

    fits = {}
    for name, span in [("v1", range(0, 6)), ("v2", range(9, 12))]:
        x = np.vstack([by_month[i][0] for i in span])
        y = np.concatenate([by_month[i][1] for i in span])
        order = rng.permutation(len(y))
        cut = int(len(y) * 0.8)
        fit, held = order[:cut], order[cut:]
        fits[name] = (x[fit], y[fit], x[held], y[held])
        model = train(x[fit], y[fit], HERE / f"credit-risk-{name}.onnx")
        write_csv(HERE / f"holdout-{name}.csv", [*FEATURES, "defaulted"], [[*xi, yi] for xi, yi in zip(x[held].tolist(), y[held].tolist())])
        write_golden(HERE / f"credit-risk-{name}.onnx", x[held], VERSIONS[name])
        print(name, "holdout accuracy", round(model.score(x[held], y[held]), 4), "default rate", round(y.mean(), 3))
        for index, (mx, my) in enumerate(by_month):
            if index % 3 == 2:
                print(f"   month {index:2d}: accuracy {model.score(mx, my):.3f}")

    x_fit, y_fit, x_held, y_held = fits["v2"]
    mlp = MLPClassifier(hidden_layer_sizes=(64, 32), alpha=1.0, max_iter=2000, random_state=7)
    model = train(x_fit, y_fit, HERE / "credit-risk-v2-mlp.onnx", mlp)
    print("v2-mlp holdout accuracy", round(model.score(x_held, y_held), 4))


if __name__ == "__main__":
    main()
