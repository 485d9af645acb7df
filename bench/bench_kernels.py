"""Kernel throughput on ONE thread: synapse evaluations per second (records × synapses / s).

One random forward-only creature (20 inputs, 150 hidden, 5 outputs, 2,000 synapses, common
squashes) evaluated by the Cython kernel, by a NumPy implementation (vectorised across
records, one gather-dot per neuron) and by neat-python 2.0.0's FeedForwardNetwork built
from equivalent node evals — all in this process, same weights, outputs cross-checked.

    .venv/bin/python bench/bench_kernels.py [--quick]
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread for NumPy's BLAS too
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from neatai.creature import Creature  # noqa: E402
from neatai.evaluator import compile_network  # noqa: E402

SQUASHES = ["LOGISTIC", "TANH", "ReLU", "LeakyReLU", "IDENTITY", "ELU", "Swish", "GELU"]
N_IN, N_HIDDEN, N_OUT, N_SYN = 20, 150, 5, 2000


def make_creature(seed: int = 1) -> Creature:
    rng = np.random.default_rng(seed)
    hidden = [f"h{k}" for k in range(N_HIDDEN)]
    outputs = [f"output-{k}" for k in range(N_OUT)]
    order = [f"input-{i}" for i in range(N_IN)] + hidden + outputs
    neurons = [{"type": "hidden", "uuid": u, "bias": float(rng.uniform(-0.1, 0.1)),
                "squash": SQUASHES[k % len(SQUASHES)]} for k, u in enumerate(hidden)]
    neurons += [{"type": "output", "uuid": u, "bias": 0.0, "squash": "TANH"} for u in outputs]
    pairs = set()
    for pos in range(N_IN, len(order)):  # every neuron gets an inward synapse
        pairs.add((int(rng.integers(0, pos)), pos))
    for pos in range(N_IN, N_IN + N_HIDDEN):  # and every hidden an outward one
        pairs.add((pos, int(rng.integers(pos + 1, len(order)))))
    while len(pairs) < N_SYN:
        a, b = sorted(rng.integers(0, len(order), 2))
        if a != b and b >= N_IN:
            pairs.add((int(a), int(b)))
    synapses = [{"fromUUID": order[a], "toUUID": order[b], "weight": float(rng.normal(0, 1 / math.sqrt(6)))}
                for a, b in sorted(pairs)]
    return Creature.from_json({"input": N_IN, "output": N_OUT, "neurons": neurons, "synapses": synapses,
                               "forwardOnly": True})


# ---- NumPy baseline ---------------------------------------------------------------------------

def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


NUMPY_SQUASH = {
    "LOGISTIC": _sigmoid, "TANH": np.tanh, "IDENTITY": lambda v: v,
    "ReLU": lambda v: np.maximum(v, 0), "LeakyReLU": lambda v: np.where(v >= 0, v, 0.01 * v),
    "ELU": lambda v: np.where(v > 0, v, np.expm1(np.minimum(v, 0))), "Swish": lambda v: v * _sigmoid(v),
    "GELU": lambda v: 0.5 * v * (1 + np.tanh(np.float32(0.7978845608028654) * (v + np.float32(0.044715) * v ** 3))),
}


class NumpyNetwork:
    """Activations [neurons, records]; per neuron one gather of its sources and one dot."""

    def __init__(self, creature: Creature):
        index = creature.uuid_index()
        self.n_in, self.n_out = creature.input, creature.output
        self.nodes = []
        for n in creature.neurons:
            syn = [s for s in creature.synapses if s.to_uuid == n.uuid]
            self.nodes.append((index[n.uuid], np.array([index[s.from_uuid] for s in syn], np.intp),
                               np.array([s.weight for s in syn], np.float32), np.float32(n.bias),
                               NUMPY_SQUASH[n.squash_name]))
        self.size = creature.input + len(creature.neurons)

    def activate(self, X: np.ndarray) -> np.ndarray:
        acts = np.empty((self.size, X.shape[0]), np.float32)
        acts[:self.n_in] = X.T
        for row, src, w, b, f in self.nodes:
            acts[row] = f(w @ acts[src] + b)
        return acts[-self.n_out:].T


# ---- neat-python peer -------------------------------------------------------------------------

def neat_python_network(creature: Creature):
    from neat.aggregations import sum_aggregation
    from neat.nn import FeedForwardNetwork

    def sigmoid(z):
        return 1 / (1 + math.exp(-z)) if z > -700 else 0.0

    funcs = {"LOGISTIC": sigmoid, "TANH": math.tanh, "IDENTITY": lambda z: z, "ReLU": lambda z: max(z, 0.0),
             "LeakyReLU": lambda z: z if z >= 0 else 0.01 * z, "ELU": lambda z: z if z > 0 else math.expm1(z),
             "Swish": lambda z: z * sigmoid(z),
             "GELU": lambda z: 0.5 * z * (1 + math.tanh(0.7978845608028654 * (z + 0.044715 * z ** 3)))}
    index = creature.uuid_index()
    node_evals = []
    for n in creature.neurons:
        links = [(index[s.from_uuid], s.weight) for s in creature.synapses if s.to_uuid == n.uuid]
        node_evals.append((index[n.uuid], funcs[n.squash_name], sum_aggregation, n.bias, 1.0, links))
    outputs = [index[n.uuid] for n in creature.neurons[-creature.output:]]
    return FeedForwardNetwork(list(range(creature.input)), outputs, node_evals)


def best_of(fn, repeats: int, min_time: float = 0.2) -> float:
    """Best seconds per call over `repeats` rounds of enough calls to last `min_time`."""
    fn()
    calls, t = 1, 0.0
    while True:
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        t = time.perf_counter() - t0
        if t >= min_time / 4:
            break
        calls *= 2
    best = t / calls
    for _ in range(repeats - 1):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeats = 2 if args.quick else 5
    creature = make_creature()
    net = compile_network(creature)
    numpy_net = NumpyNetwork(creature)
    peer = neat_python_network(creature)
    n_syn = net.n_synapses
    rng = np.random.default_rng(0)
    print(f"creature: {N_IN} inputs, {N_HIDDEN} hidden, {N_OUT} outputs, {n_syn} synapses; one thread; "
          f"python {sys.version.split()[0]}, numpy {np.__version__}")

    # neat-python is per record; its throughput does not depend on the batch.
    X_peer = rng.uniform(-1, 1, (64, N_IN)).astype(np.float32)
    rows = X_peer.astype(np.float64).tolist()
    peer_out = np.array([peer.activate(r) for r in rows], np.float32)
    np.testing.assert_allclose(net.activate(X_peer), peer_out, rtol=1e-3, atol=1e-4)
    t_peer = best_of(lambda: [peer.activate(r) for r in rows], repeats) / len(rows)
    peer_rate = n_syn / t_peer
    print(f"neat-python FeedForwardNetwork.activate: {t_peer * 1e6:.1f} us/record = {peer_rate / 1e6:.3f} M syn/s")

    print(f"{'batch':>6} {'kernel M syn/s':>15} {'numpy M syn/s':>14} {'x numpy':>8} {'x neat-python':>14} "
          f"{'record-at-a-time M syn/s':>25}")
    for batch in (64, 1024, 4096):
        X = rng.uniform(-1, 1, (batch, N_IN)).astype(np.float32)
        np.testing.assert_allclose(net.activate(X), numpy_net.activate(X), rtol=1e-3, atol=1e-4)
        t_k = best_of(lambda: net.activate(X), repeats)
        t_np = best_of(lambda: numpy_net.activate(X), repeats)
        t_1 = best_of(lambda: net.activate(X, tile=1), repeats)
        k, npy, one = (batch * n_syn / t / 1e6 for t in (t_k, t_np, t_1))
        print(f"{batch:>6} {k:>15.1f} {npy:>14.1f} {k / npy:>8.2f} {k * 1e6 / peer_rate:>14.0f} {one:>25.1f}")

    X = rng.uniform(-1, 1, (4096, N_IN)).astype(np.float32)
    print("tile width at batch 4096 (records evaluated together; 1 = record-at-a-time):")
    for tile in (1, 8, 32, 64, 128, 256, 512, 1024):
        t = best_of(lambda: net.activate(X, tile=tile), repeats)
        print(f"  tile {tile:>5}: {4096 * n_syn / t / 1e6:8.1f} M syn/s")


if __name__ == "__main__":
    main()
