"""Kernel throughput on ONE thread: synapse evaluations per second (records × synapses / s).

One random forward-only creature (20 inputs, 150 hidden, 5 outputs, 2,000 synapses) evaluated
by the Cython kernel and by a NumPy implementation (vectorised across records, one gather-dot
and one squash per neuron) in this process, same weights, outputs cross-checked:
  * with every neuron using one squash, for each squash of the catalogue (IF needs condition
    synapses and is measured in the mix-free golden tests only);
  * with squashes drawn uniformly from a 15-squash mix (MIX below);
  * the common-squash creature beside neat-python 2.0.0's FeedForwardNetwork, and the tile width.

    .venv/bin/python bench/bench_kernels.py [--quick] [--squash NAME ...]
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

from neatai.squash import BY_NAME, SQUASHES as CATALOGUE  # noqa: E402

COMMON = ["LOGISTIC", "TANH", "ReLU", "LeakyReLU", "IDENTITY", "ELU", "Swish", "GELU"]
MIX = ["IDENTITY", "LOGISTIC", "TANH", "SINE", "GAUSSIAN", "ArcTan", "SOFTSIGN", "BENT_IDENTITY",
       "BIPOLAR_SIGMOID", "ISRU", "Swish", "ELU", "SELU", "Softplus", "Cosine"]
N_IN, N_HIDDEN, N_OUT, N_SYN = 20, 150, 5, 2000


def make_creature(seed: int = 1, squashes=None, output_squash="TANH", draw=False) -> Creature:
    """`squashes` cycled over the hidden neurons (or drawn uniformly with `draw`)."""
    squashes = squashes or COMMON
    rng = np.random.default_rng(seed)
    hidden = [f"h{k}" for k in range(N_HIDDEN)]
    outputs = [f"output-{k}" for k in range(N_OUT)]
    order = [f"input-{i}" for i in range(N_IN)] + hidden + outputs
    pick = (lambda k: squashes[int(rng.integers(len(squashes)))]) if draw else (lambda k: squashes[k % len(squashes)])
    neurons = [{"type": "hidden", "uuid": u, "bias": float(rng.uniform(-0.1, 0.1)), "squash": pick(k)}
               for k, u in enumerate(hidden)]
    neurons += [{"type": "output", "uuid": u, "bias": 0.0, "squash": output_squash or pick(0)} for u in outputs]
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

F32 = np.float32


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def _softplus(v):
    return np.where(v > 20, v, np.log1p(np.exp(np.minimum(v, 20))))


# Every squash as NumPy float32 array code (reference/neat-ai.md §2.1, the kernels' f32 quirks);
# the range clamp is applied after each by NumpyNetwork.
NUMPY_SQUASH = {
    "IDENTITY": lambda v: v,
    "ReLU": lambda v: np.maximum(v, 0),
    "ReLU6": lambda v: np.clip(v, 0, 6),
    "LeakyReLU": lambda v: np.where(v >= 0, v, F32(0.01) * v),
    "SELU": lambda v: np.where(v > 0, F32(1.0507009873554805) * v,
                               F32(1.7580993408473766) * np.expm1(np.minimum(v, 0))),
    "ELU": lambda v: np.where(v > 0, v, np.expm1(np.minimum(v, 0))),
    "LOGISTIC": _sigmoid,
    "SOFTMAX": _sigmoid,
    "TANH": np.tanh,
    "HARD_TANH": lambda v: np.clip(v, -1, 1),
    "SOFTSIGN": lambda v: np.clip(v / (1 + np.abs(v)), F32(-0.98999995), F32(0.98999995)),
    "Softplus": lambda v: np.where(v >= 709, F32(100), _softplus(v)),
    "Swish": lambda v: v * _sigmoid(v),
    "Mish": lambda v: v * np.tanh(_softplus(v)),
    "GELU": lambda v: 0.5 * v * (1 + np.tanh(F32(0.7978845608028654) * (v + F32(0.044715) * v ** 3))),
    "SINE": np.sin,
    "Cosine": np.cos,
    "TAN": lambda v: np.clip(np.tan(v), -1000, 1000),
    "ArcTan": np.arctan,
    "GAUSSIAN": lambda v: np.exp(-v * v),
    "BENT_IDENTITY": lambda v: (np.sqrt(v * v + 1) - 1) / 2 + v,
    "BIPOLAR_SIGMOID": lambda v: np.tanh(v / 2),
    "BIPOLAR": lambda v: np.where(v > 0, F32(1), F32(-1)),
    "STEP": lambda v: np.where(v > 0, F32(1), F32(0)),
    "COMPLEMENT": lambda v: 1 - v,
    "ABSOLUTE": np.abs,
    "SQUARE": lambda v: np.minimum(v * v, F32(1e6)),
    "Cube": lambda v: np.clip(v * v * v, -1e6, 1e6),
    "SQRT": lambda v: np.sqrt(np.maximum(v, 0)),
    "StdInverse": lambda v: np.where(np.abs(v) < 1e-10, np.where(v < 0, F32(-1e10), F32(1e10)),
                                     1 / np.where(v == 0, F32(1), v)),
    "Exponential": lambda v: np.where(v >= 36, F32(2.0 ** 53), np.exp(np.minimum(v, 36))),
    "LogSigmoid": lambda v: np.where(v < -20, v, -np.log1p(np.exp(-np.maximum(v, -20)))),
    "ISRU": lambda v: v / np.sqrt(1 + v * v),
}
# Aggregates combine their weighted inputs themselves: f(weighted [synapses, records], bias).
NUMPY_AGGREGATE = {
    "MINIMUM": lambda t, b: (t.min(0) if len(t) else np.zeros(t.shape[1], F32)) + b,
    "MAXIMUM": lambda t, b: (t.max(0) if len(t) else np.zeros(t.shape[1], F32)) + b,
    "HYPOT": lambda t, b: np.sqrt((t * t).sum(0)) + b,
    "HYPOTv2": lambda t, b: np.sqrt(((t + b) ** 2).sum(0)),
    "MEAN": lambda t, b: t.sum(0) / max(len(t), 1) + b,
}


class NumpyNetwork:
    """Activations [neurons, records]; per neuron one gather of its sources, one dot (or the
    aggregate), one squash and the range clamp."""

    def __init__(self, creature: Creature):
        index = creature.uuid_index()
        self.n_in, self.n_out = creature.input, creature.output
        inward = {n.uuid: [] for n in creature.neurons}
        for s in creature.synapses:
            inward[s.to_uuid].append(s)
        self.nodes = []
        for n in creature.neurons:
            syn = inward[n.uuid]
            spec = BY_NAME[n.squash_name]
            self.nodes.append((index[n.uuid], np.array([index[s.from_uuid] for s in syn], np.intp),
                               np.array([s.weight for s in syn], np.float32), np.float32(n.bias),
                               NUMPY_SQUASH.get(n.squash_name), NUMPY_AGGREGATE.get(n.squash_name),
                               F32(max(spec.lo, -3.4e38)), F32(min(spec.hi, 3.4e38))))
        self.size = creature.input + len(creature.neurons)

    def activate(self, X: np.ndarray) -> np.ndarray:
        acts = np.empty((self.size, X.shape[0]), np.float32)
        acts[:self.n_in] = X.T
        with np.errstate(all="ignore"):
            for row, src, w, b, f, agg, lo, hi in self.nodes:
                v = f(w @ acts[src] + b) if agg is None else agg(w[:, None] * acts[src], b)
                np.clip(v, lo, hi, out=acts[row])  # NaN (never made by these creatures) is not mapped
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


def throughput(creature: Creature, batches, repeats: int, check: bool = True) -> list[tuple[int, float, float]]:
    """(batch, kernel M syn/s, numpy M syn/s) for each batch, outputs cross-checked."""
    net, numpy_net = compile_network(creature), NumpyNetwork(creature)
    rng = np.random.default_rng(0)
    rows = []
    for batch in batches:
        X = rng.uniform(-1, 1, (batch, N_IN)).astype(np.float32)
        if check:
            np.testing.assert_allclose(net.activate(X), numpy_net.activate(X), rtol=2e-3, atol=2e-3)
        t_k = best_of(lambda: net.activate(X), repeats)
        t_np = best_of(lambda: numpy_net.activate(X), repeats)
        rows.append((batch, batch * net.n_synapses / t_k / 1e6, batch * net.n_synapses / t_np / 1e6))
    return rows


def per_squash(names, repeats: int) -> None:
    """Each squash alone (every hidden and output neuron uses it), then the mix."""
    batches = (64, 1024, 4096)
    print("\nforward pass, every neuron one squash: kernel M syn/s (x NumPy per-neuron), one thread")
    print(f"| squash | {' | '.join(f'batch {b}' for b in batches)} |")
    print(f"|---|{'---|' * len(batches)}")
    worst = math.inf
    for name in names:
        # TAN's poles and StdInverse's 1/x amplify float32 rounding: no elementwise cross-check
        check = name not in ("TAN", "StdInverse", "Exponential", "Cube", "SQUARE")
        rows = throughput(make_creature(squashes=[name], output_squash=name), batches, repeats, check)
        worst = min(worst, rows[-1][1] / rows[-1][2])
        print(f"| {name} | " + " | ".join(f"{k:.0f} ({k / npy:.2f}x)" for _, k, npy in rows) + " |")
    rows = throughput(make_creature(squashes=MIX, output_squash=None, draw=True), batches, repeats)
    print(f"| mix of {len(MIX)} | " + " | ".join(f"{k:.0f} ({k / npy:.2f}x)" for _, k, npy in rows) + " |")
    print(f"lowest ratio at batch 4096 over the squashes alone: {worst:.2f}x; mix {rows[-1][1] / rows[-1][2]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--squash", nargs="*", help="only these squashes in the per-squash table")
    args = parser.parse_args()
    repeats = 2 if args.quick else 5
    creature = make_creature()
    net = compile_network(creature)
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

    print(f"common squashes ({', '.join(COMMON)}):")
    print(f"{'batch':>6} {'kernel M syn/s':>15} {'numpy M syn/s':>14} {'x numpy':>8} {'x neat-python':>14} "
          f"{'record-at-a-time M syn/s':>25}")
    for batch, k, npy in throughput(creature, (64, 1024, 4096), repeats):
        X = rng.uniform(-1, 1, (batch, N_IN)).astype(np.float32)
        one = batch * n_syn / best_of(lambda: net.activate(X, tile=1), repeats) / 1e6
        print(f"{batch:>6} {k:>15.1f} {npy:>14.1f} {k / npy:>8.2f} {k * 1e6 / peer_rate:>14.0f} {one:>25.1f}")

    X = rng.uniform(-1, 1, (4096, N_IN)).astype(np.float32)
    print("tile width at batch 4096 (records evaluated together; 1 = record-at-a-time):")
    for tile in (1, 8, 32, 64, 128, 256, 512, 1024):
        t = best_of(lambda: net.activate(X, tile=tile), repeats)
        print(f"  tile {tile:>5}: {4096 * n_syn / t / 1e6:8.1f} M syn/s")

    per_squash(args.squash or [s.name for s in CATALOGUE if s.name != "IF"], repeats)


if __name__ == "__main__":
    main()
