"""Training optimizer: plain steps ("sgd", NEAT-AI's rule) against "adam", on fixed creatures.

Two problems, each a dense creature (inputs -> 8 TANH hidden -> 1 LOGISTIC output, weights
N(0, 1/sqrt(fan-in)) from seed 0, MSE): "xor" (512 points of [-1, 1]^2, target x0*x1 > 0) and
"breast_cancer" (scikit-learn's bundled set, standardised, all 569 records). Both optimizers
train the same creature with the same fixed learning rate, passes and seed; the table gives the
dataset error after training and sgd/adam (> 1: adam lower). Run in one process, one thread.

    .venv/bin/python bench/bench_optimizer.py
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from sklearn.datasets import load_breast_cancer  # noqa: E402

from neatai.creature import Creature  # noqa: E402
from neatai.evaluator.training import train  # noqa: E402


def dense(inputs: int, hidden: int, seed: int) -> Creature:
    rng = np.random.default_rng(seed)
    neurons = [{"type": "hidden", "uuid": f"h{i}", "bias": 0.0, "squash": "TANH"} for i in range(hidden)]
    neurons.append({"type": "output", "uuid": "output-0", "bias": 0.0, "squash": "LOGISTIC"})
    synapses = [{"fromUUID": f"input-{i}", "toUUID": f"h{j}", "weight": float(rng.normal(0, inputs ** -0.5))}
                for j in range(hidden) for i in range(inputs)]
    synapses += [{"fromUUID": f"h{j}", "toUUID": "output-0", "weight": float(rng.normal(0, hidden ** -0.5))}
                 for j in range(hidden)]
    return Creature.from_json({"input": inputs, "output": 1, "neurons": neurons, "synapses": synapses})


def problems():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (512, 2)).astype(np.float32)
    yield "xor", X, (X[:, :1] * X[:, 1:] > 0).astype(np.float32)
    d = load_breast_cancer()
    X = ((d.data - d.data.mean(0)) / d.data.std(0)).astype(np.float32)
    yield "breast_cancer", X, d.target[:, None].astype(np.float32)


def main() -> None:
    print(f"{'problem':<14} {'rate':>5} {'passes':>6} {'before':>8} {'sgd':>8} {'adam':>8} {'sgd/adam':>9}")
    for name, X, Y in problems():
        creature = dense(X.shape[1], 8, 0)
        for rate in (0.01, 0.1):
            for passes in (10, 100):
                runs = {opt: train(creature, X, Y, iterations=passes, learningRate=rate, seed=1, optimizer=opt)
                        for opt in ("sgd", "adam")}
                s, a = runs["sgd"].error_after, runs["adam"].error_after
                print(f"{name:<14} {rate:>5} {passes:>6} {runs['sgd'].error_before:>8.4f} {s:>8.4f} {a:>8.4f} "
                      f"{s / max(a, 1e-12):>9.2f}")


if __name__ == "__main__":
    main()
