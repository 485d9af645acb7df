"""Held-out accuracy of evolution alone, memetic evolution and scikit-learn's MLPClassifier.

scikit-learn's bundled breast cancer, wine and digits (`load_*`, no download), split 70/30
(stratified, seed 0). Both neatai arms are `neatai run` as a user runs it, so they get the
classification setup of app/prepare.py (one-hot or 0/1 outputs, SOFTMAX or LOGISTIC,
CROSS_ENTROPY, inputs standardised on the training part, symmetric initial weights, a
validation part that picks the best creature): the 70 % is the `--dataset` CSV (neatai holds 20
% of it out for validation), the 30 % is `--test`, with `--timeout BUDGET --seed 1
--target-error 0 --generations 1000000` (so the budget alone ends every run), and `--train` (memetic: NEAT-AI's
fineTunePopulation share of every generation trained by backpropagation on the evaluator,
plus `--config` options when given) for the memetic arm. MLPClassifier (one hidden layer of
100, adam, random_state 0) trains on the same 70 % with standardised inputs, capped at the
same budget (it converges in seconds). Parameters: synapses + neuron biases of best.json;
coefs + intercepts of the MLP.

    .venv/bin/python bench/bench_memetic.py [--budget 30] [--datasets breast_cancer,wine,digits]
                                            [--memetic-config bench/memetic.toml]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn import datasets as sk
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bench_real_data import neatai, write_csv
from neatai.creature import Creature


def parameters(best_json: Path) -> int:
    creature = Creature.from_json(best_json.read_text())
    return len(creature.synapses) + len(creature.neurons)


def mlp(X, y, Xt, yt, budget: float) -> tuple[float, int, float]:
    t0 = time.perf_counter()
    model = make_pipeline(StandardScaler(), MLPClassifier(max_iter=2000, random_state=0)).fit(X, y)
    seconds = time.perf_counter() - t0
    if seconds > budget:  # never the case on these datasets; say so if it were
        print(f"MLPClassifier took {seconds:.1f} s, over the {budget:g} s budget", file=sys.stderr)
    net = model[-1]
    return (float((model.predict(Xt) == yt).mean()),
            sum(w.size for w in net.coefs_) + sum(b.size for b in net.intercepts_), seconds)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--budget", type=float, default=30.0, help="seconds of wall clock per arm")
    p.add_argument("--datasets", default="breast_cancer,wine,digits")
    p.add_argument("--memetic-config", help="a run.toml for the memetic arm (e.g. [backpropagation] options)")
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-memetic-") as tmp:
        for name in args.datasets.split(","):
            data = getattr(sk, f"load_{name}")()
            X, Xt, y, yt = train_test_split(data.data, data.target, test_size=0.3, random_state=0,
                                            stratify=data.target)
            names = [f"x{i}" for i in range(X.shape[1])]
            train, test = Path(tmp) / f"{name}.csv", Path(tmp) / f"{name}-test.csv"
            write_csv(train, X, y, names)
            write_csv(test, Xt, yt, names)
            row = {"dataset": name}
            memetic = ["--train"] + (["--config", str(Path(args.memetic_config).resolve())]
                                     if args.memetic_config else [])
            for arm, extra in (("evolution", []), ("memetic", memetic)):
                out = Path(tmp) / f"{name}-{arm}"
                s = neatai(train, test, args.budget, out, "--target-error", "0", "--generations", "1000000", *extra)
                row[arm] = (s["test_accuracy"], parameters(out / "best.json"), s["generations"], s["wall_seconds"])
                print(f"{name} {arm}: test {s['test_accuracy']:.3f}, validation {s['validation_accuracy']:.3f}, "
                      f"{s['generations']} generations, {s['wall_seconds']:.0f} s", file=sys.stderr, flush=True)
            row["mlp"] = mlp(X, y, Xt, yt, args.budget)
            rows.append(row)
    print(f"\nbudget {args.budget:g} s per arm; test accuracy (parameters, generations, wall s)")
    print("| dataset | evolution | memetic | MLPClassifier | memetic / MLP |")
    print("|---|---|---|---|---|")
    for r in rows:
        cell = lambda v: f"{v[0]:.3f} ({v[1]:,} p, {v[2]} gen, {v[3]:.0f} s)"  # noqa: E731
        m = r["mlp"]
        print(f"| {r['dataset']} | {cell(r['evolution'])} | {cell(r['memetic'])} | {m[0]:.3f} ({m[1]:,} p, "
              f"{m[2]:.1f} s) | {r['memetic'][0] / m[0]:.3f} |")


if __name__ == "__main__":
    main()
