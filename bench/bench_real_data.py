"""`neatai run` with its defaults on real data, beside scikit-learn on the same split.

scikit-learn's bundled datasets (no download): iris, breast cancer, wine, digits
(classification) and diabetes (regression). Each is split 80/20 (stratified for
classification, seed 0); the 80 % goes to `neatai run` as a CSV (which holds its own 20 % out
for validation) and the 20 % as `--test`. `neatai run` gets only `--timeout BUDGET --seed 1`:
every other choice is its default. scikit-learn's LogisticRegression / MLPClassifier (Ridge /
MLPRegressor for regression) train on the same 80 % with standardised inputs and are scored on
the same 20 %. The constant guess is the training part's majority class (accuracy) or mean (R² ≈ 0).

    .venv/bin/python bench/bench_real_data.py [--budget 30] [--datasets iris,wine,...]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn import datasets as sk
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

DATASETS = {"iris": "classification", "breast_cancer": "classification", "wine": "classification",
            "digits": "classification", "diabetes": "regression"}


def write_csv(path: Path, X: np.ndarray, y: np.ndarray, names: list[str]) -> None:
    rows = np.column_stack([X, y])
    path.write_text(",".join([*names, "target"]) + "\n"
                    + "\n".join(",".join(repr(float(v)) for v in r) for r in rows) + "\n")


def scikit_learn(task: str, X, y, Xt, yt) -> dict:
    if task == "classification":
        models = {"linear": LogisticRegression(max_iter=5000), "mlp": MLPClassifier(max_iter=2000, random_state=0)}
        score = lambda m: float((m.predict(Xt) == yt).mean())  # noqa: E731
        constant = float((yt == np.bincount(y.astype(int)).argmax()).mean())
    else:
        models = {"linear": Ridge(), "mlp": MLPRegressor(max_iter=5000, random_state=0)}
        score = lambda m: float(r2_score(yt, m.predict(Xt)))  # noqa: E731
        constant = float(r2_score(yt, np.full_like(yt, y.mean())))
    out = {"constant": constant}
    for name, model in models.items():
        t0 = time.perf_counter()
        pipeline = make_pipeline(StandardScaler(), model).fit(X, y)
        out[name], out[f"{name}_seconds"] = score(pipeline), time.perf_counter() - t0
    return out


def neatai(train: Path, test: Path, budget: float, out: Path, *extra: str) -> dict:
    """`neatai run` on the files with `--timeout budget --seed 1` and `extra` flags: its --json summary."""
    cmd = [sys.executable, "-m", "neatai.app.cli", "run", "--dataset", str(train), "--test", str(test),
           "--timeout", str(budget), "--seed", "1", "--json", "--out", str(out), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=budget + 300)
    if proc.returncode != 0:
        raise SystemExit(f"neatai run failed: {proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--budget", type=float, default=30.0, help="seconds of wall clock per dataset")
    p.add_argument("--datasets", default=",".join(DATASETS))
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets.split(","):
            task = DATASETS[name]
            data = getattr(sk, f"load_{name}")()
            X, y = data.data.astype(np.float64), data.target.astype(np.float64)
            X, Xt, y, yt = train_test_split(X, y, test_size=0.2, random_state=0,
                                            stratify=y if task == "classification" else None)
            names = [str(n).replace(" ", "_") for n in getattr(data, "feature_names", [f"x{i}" for i in range(X.shape[1])])]
            train, test = Path(tmp) / f"{name}.csv", Path(tmp) / f"{name}-test.csv"
            write_csv(train, X, y, names)
            write_csv(test, Xt, yt, names)
            ours = neatai(train, test, args.budget, Path(tmp) / f"{name}-out")
            theirs = scikit_learn(task, X, y, Xt, yt)
            metric = "accuracy" if task == "classification" else "r2"
            rows.append((name, metric, theirs["constant"], ours[f"validation_{metric}"], ours[f"test_{metric}"],
                         ours["generations"], ours["wall_seconds"], ours["hidden_neurons"], ours["synapses"],
                         theirs["linear"], theirs["mlp"]))
            print(f"{name}: {json.dumps({k: ours[k] for k in ours if not k.endswith('per_class_accuracy')})}",
                  file=sys.stderr)
    print(f"| dataset | metric | constant guess | neatai validation | neatai test | generations | wall s | "
          f"hidden | synapses | {'LogisticRegression / Ridge'} test | MLP test |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.3f} | {r[3]:.3f} | **{r[4]:.3f}** | {r[5]:,} | {r[6]:.1f} | {r[7]} | "
              f"{r[8]} | {r[9]:.3f} | {r[10]:.3f} |")


if __name__ == "__main__":
    main()
