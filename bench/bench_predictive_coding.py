"""Predictive coding (neatai.evaluator.predictive_coding): settling throughput and training quality.

Throughput on ONE thread: settled samples per second, strict PC, tanh, Jacobi, T = 20 steps
(no early stop, NEAT-AI's L2 gradient cap), on random DAGs of the sizes of
reference/predictive-coding.md §5 (N nodes with the inputs, E synapses), batch 64 and 256,
beside a NumPy batch implementation of the same algorithm in the same run (dense masked weight
matrix, [batch, nodes] state: one matmul per prediction and one per error back-propagation),
latents cross-checked. The kernel is also timed with its backtracking guard on (the training
default).

Quality: backprop alone (training.train's defaults, adam), PC replace and PC complement
(predictiveCoding defaults of seed 004, and replace with a 10x learning rate) on XOR, the
diabetes regression set and breast cancer (both scikit-learn's bundled copies, standardised,
held-out 30 %; XOR has no held-out part, its column repeats the 4 records), one fixed tanh
creature per seed, the same passes and batch size for every
method; mean over seeds of the final error (MSE) and, for breast cancer, held-out accuracy.

    .venv/bin/python bench/bench_predictive_coding.py [--quick]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import numpy as np  # noqa: E402

from neatai.creature import Creature  # noqa: E402
from neatai.evaluator import compile_network, evaluate_population  # noqa: E402
from neatai.evaluator import pc_kernels  # noqa: E402
from neatai.evaluator.network import trainable_network  # noqa: E402
from neatai.evaluator.training import train  # noqa: E402

GRAPHS = [(50, 236, 10, 3), (115, 643, 15, 5), (894, 4548, 784, 10)]   # N, E, inputs, outputs
C_FIGURES = {(50, 64): 215e3, (50, 256): 190e3, (115, 64): 44e3, (115, 256): 70e3, (894, 64): 17e3, (894, 256): 19e3}
STEPS, RATE, CAP = 20, 0.1, 1.0


def graph(n_nodes, n_edges, n_in, n_out, seed=0) -> Creature:
    """A random DAG of exactly n_edges synapses, every non-input neuron with at least one, tanh."""
    rng = np.random.default_rng(seed)
    n = n_nodes - n_in
    pairs = {(int(rng.integers(n_in + k)), n_in + k) for k in range(n)}   # one inward synapse each
    while len(pairs) < n_edges:
        to = int(rng.integers(n_in, n_nodes))
        pairs.add((int(rng.integers(to)), to))
    name = lambda r: f"input-{r}" if r < n_in else (f"output-{r - n_nodes + n_out}" if r >= n_nodes - n_out  # noqa: E731
                                                    else f"h{r}")
    fan = {}
    for _, to in pairs:
        fan[to] = fan.get(to, 0) + 1
    neurons = [{"type": "output" if r >= n_nodes - n_out else "hidden", "uuid": name(r), "squash": "TANH",
                "bias": float(rng.normal(0, 0.1))} for r in range(n_in, n_nodes)]
    synapses = [{"fromUUID": name(a), "toUUID": name(b), "weight": float(rng.normal(0, 1 / np.sqrt(fan[b])))}
                for a, b in sorted(pairs)]
    return Creature.from_json({"input": n_in, "output": n_out, "neurons": neurons, "synapses": synapses})


class NumpyPC:
    """Strict PC, Jacobi, on a dense masked weight matrix, state [batch, rows] (float32)."""

    def __init__(self, creature: Creature):
        net = trainable_network(creature)
        self.n_in, self.n, self.n_out = net.n_inputs, net.n_neurons, net.n_outputs
        rows = self.n_in + self.n
        self.W = np.zeros((rows, self.n), np.float32)
        self.W[net.sources, net.targets - self.n_in] = net.weights
        self.b = net.bias.copy()
        self.free = np.zeros(rows, bool)
        self.free[self.n_in:rows - self.n_out] = True

    def settle(self, X, Y, steps, rate, cap):
        B = X.shape[0]
        x = np.zeros((B, self.n_in + self.n), np.float32)
        x[:, :self.n_in] = X
        for k in range(self.n):   # forward initialisation
            x[:, self.n_in + k] = np.tanh(x @ self.W[:, k] + self.b[k])
        x[:, -self.n_out:] = Y
        g = np.zeros_like(x)
        for _ in range(steps):
            mu = np.tanh(x @ self.W + self.b)
            eps = x[:, self.n_in:] - mu
            d = (1 - mu * mu) * eps
            g[:, self.n_in:] = eps
            g -= d @ self.W.T
            g[:, ~self.free] = 0
            norm = np.sqrt((g * g).sum(axis=1, keepdims=True))
            x -= rate * np.where(norm > cap, cap / np.maximum(norm, 1e-30), 1).astype(np.float32) * g
        return x


def per_second(fns, samples, repeats):
    """Samples per second of each function, best of `repeats` timings taken in turn (on a
    shared machine the load moves: alternating keeps the ratios of one run fair)."""
    best = [np.inf] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return [samples / t for t in best]


def throughput(quick: bool):
    print("\n### Settling throughput (one thread, strict PC, tanh, T = 20, samples/s)\n")
    print("| graph | batch | NumPy batch | kernel | kernel / NumPy | kernel, backtracking on | C figure (§5) | kernel / C |")
    print("|---|---|---|---|---|---|---|---|")
    for n_nodes, n_edges, n_in, n_out in GRAPHS:
        c = graph(n_nodes, n_edges, n_in, n_out)
        net = trainable_network(c)
        ref = NumpyPC(c)
        for B in (64, 256):
            S = B * (4 if quick or n_nodes > 500 else 16)
            rng = np.random.default_rng(B)
            X = rng.normal(0, 1, (S, n_in)).astype(np.float32)
            Y = rng.normal(0, 1, (S, n_out)).astype(np.float32)
            kern = lambda bt: pc_kernels.settle(net, X, Y, STEPS, RATE, 0.0, CAP, 0.0, False, bt, B)  # noqa: E731
            got = kern(False)["latents"]
            want = np.concatenate([ref.settle(X[i:i + B], Y[i:i + B], STEPS, RATE, CAP) for i in range(0, S, B)])
            assert np.allclose(got, want, atol=2e-4), np.abs(got - want).max()
            k, kb, npy = per_second(
                [lambda: kern(False), lambda: kern(True),
                 lambda: [ref.settle(X[i:i + B], Y[i:i + B], STEPS, RATE, CAP) for i in range(0, S, B)]],
                S, 3 if quick else 15)
            cf = C_FIGURES[(n_nodes, B)]
            print(f"| N = {n_nodes}, E = {n_edges} | {B} | {npy:,.0f} | {k:,.0f} | {k / npy:.1f}x | {kb:,.0f} | "
                  f"{cf:,.0f} | {k / cf:.2f} |", flush=True)


def creature_for(n_in, n_out, hidden, seed, out_squash) -> Creature:
    rng = np.random.default_rng(seed)
    neurons = [{"type": "hidden", "uuid": f"h{k}", "squash": "TANH", "bias": float(rng.normal(0, 0.1))}
               for k in range(hidden)]
    neurons += [{"type": "output", "uuid": f"output-{k}", "squash": out_squash, "bias": 0.0} for k in range(n_out)]
    synapses = [{"fromUUID": f"input-{i}", "toUUID": f"h{k}", "weight": float(rng.normal(0, 1 / np.sqrt(n_in)))}
                for i in range(n_in) for k in range(hidden)]
    synapses += [{"fromUUID": f"h{k}", "toUUID": f"output-{o}", "weight": float(rng.normal(0, 1 / np.sqrt(hidden)))}
                 for k in range(hidden) for o in range(n_out)]
    return Creature.from_json({"input": n_in, "output": n_out, "neurons": neurons, "synapses": synapses})


def tasks():
    from sklearn.datasets import load_breast_cancer, load_diabetes

    def split(X, y, seed=0):
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(X))
        cut = int(0.7 * len(X))
        tr, te = order[:cut], order[cut:]
        mean, std = X[tr].mean(0), X[tr].std(0) + 1e-9
        return [a.astype(np.float32) for a in ((X[tr] - mean) / std, y[tr], (X[te] - mean) / std, y[te])]

    xor_x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    xor_y = np.array([[0], [1], [1], [0]], np.float32)
    d = load_diabetes()
    dy = ((d.target - d.target.mean()) / d.target.std())[:, None]
    b = load_breast_cancer()
    return {"XOR": (xor_x, xor_y, xor_x, xor_y, 4, "LOGISTIC", 1),
            "diabetes": (*split(d.data, dy), 8, "IDENTITY", 16),
            "breast cancer": (*split(b.data, b.target[:, None].astype(float)), 8, "LOGISTIC", 16)}


METHODS = {
    "backprop (adam)": None,
    "PC replace": {"enabled": True},
    "PC replace, learningRate 0.1": {"enabled": True, "learningRate": 0.1},
    "PC complement": {"enabled": True, "integrationMode": "complement"},
}


def quality(quick: bool):
    seeds = range(2 if quick else 5)
    passes = 30 if quick else 100
    print(f"\n### Training quality ({passes} passes, mean of {len(seeds)} seeds; train MSE, held-out MSE / accuracy)\n")
    data = tasks()
    print("| method | " + " | ".join(f"{t} train MSE | {t} held-out" for t in data) + " | seconds |")
    print("|---|" + "---|---|" * len(data) + "---|")
    for method, pcc in METHODS.items():
        cells, t0 = [], time.perf_counter()
        for name, (X, Y, Xt, Yt, hidden, out, batch) in data.items():
            train_err, held = [], []
            for seed in seeds:
                c = creature_for(X.shape[1], Y.shape[1], hidden, seed, out)
                r = train(c, X, Y, iterations=passes, batchSize=batch, seed=seed, predictiveCoding=pcc)
                net = compile_network(r.creature)
                train_err.append(r.error_after)
                if name == "breast cancer":
                    held.append(float(((net.activate(Xt) > 0.5) == (Yt > 0.5)).mean()))
                else:
                    held.append(float(evaluate_population([net], Xt, Yt)[0]))
            cells += [f"{np.mean(train_err):.4f}", f"{np.mean(held):.4f}"]
        print(f"| {method} | " + " | ".join(cells) + f" | {time.perf_counter() - t0:.1f} |", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", choices=["throughput", "quality"])
    args = p.parse_args()
    if args.only != "quality":
        throughput(args.quick)
    if args.only != "throughput":
        quality(args.quick)


if __name__ == "__main__":
    main()
