"""Exact gradients (neatai.evaluator.training.gradients): accuracy and throughput.

Accuracy: on random creatures (tests/reference_activation.random_creature, 38 hidden neurons
so that one creature holds every squash and aggregate, plus constants and IF's three roles),
the kernel's d(error)/d(parameter) against central finite differences (h = 1e-6) of the
float64 reference forward pass (tests/reference_gradients.py), on records kept clear of kinks,
caps and clamps; per cost and recurrence mode the worst relative error (|g - fd| over
max(|fd|, 1e-3 of the creature's largest |fd|)).

Throughput on ONE thread: gradient samples per second (forward + reverse sweep, MSE) on the
20-inputs/150-hidden/5-outputs/2,000-synapse creature of bench_kernels.py beside a NumPy
reverse-mode implementation of the same network (activations [neurons, records], one gather-dot
per neuron forward, one dot and one scatter per neuron backward), gradients cross-checked.

    .venv/bin/python bench/bench_gradients.py [--quick]
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

from bench_kernels import F32, N_IN, N_OUT, NumpyNetwork, best_of, make_creature  # noqa: E402
from neatai.costs import COST_NAMES  # noqa: E402
from neatai.evaluator import backprop, trainable_network  # noqa: E402
from neatai.evaluator.training import gradients  # noqa: E402

MODES = {"forward-only": (False, False), "recurrent, state reset": (True, False),
         "recurrent, feedbackLoop (BPTT)": (True, True)}

# f'(pre, activation) of the squashes make_creature uses, for the NumPy reverse sweep
NUMPY_DERIVATIVE = {
    "IDENTITY": lambda v, a: np.ones_like(v),
    "LOGISTIC": lambda v, a: a * (1 - a),
    "TANH": lambda v, a: 1 - a * a,
    "ReLU": lambda v, a: (v > 0).astype(F32),
    "LeakyReLU": lambda v, a: np.where(v >= 0, F32(1), F32(0.01)),
    "ELU": lambda v, a: np.where(v > 0, F32(1), np.exp(np.minimum(v, 0))),
    "Swish": lambda v, a: (lambda s: s * (1 + v * (1 - s)))(1 / (1 + np.exp(-v))),
    "GELU": lambda v, a: (lambda u: 0.5 * (1 + np.tanh(u)) + 0.5 * v * (1 - np.tanh(u) ** 2)
                          * F32(0.7978845608028654) * (1 + 3 * F32(0.044715) * v * v))(
        F32(0.7978845608028654) * (v + F32(0.044715) * v ** 3)),
}


class NumpyGradients(NumpyNetwork):
    """NumpyNetwork's forward pass keeping pre-activations, then reverse mode (MSE), plain squashes only."""

    def __init__(self, creature):
        super().__init__(creature)
        index = creature.uuid_index()
        position = {id(s): i for i, s in enumerate(creature.synapses)}
        inward = {n.uuid: [] for n in creature.neurons}
        for s in creature.synapses:
            inward[s.to_uuid].append(position[id(s)])
        self.slots = [np.array(inward[n.uuid], np.intp) for n in creature.neurons]
        self.derivative = [NUMPY_DERIVATIVE[n.squash_name] for n in creature.neurons]
        assert all(len(set(index[creature.synapses[i].from_uuid] for i in s)) == len(s) for s in self.slots)
        self.n_syn = len(creature.synapses)

    def gradients(self, X, Y):
        n = X.shape[0]
        acts = np.empty((self.size, n), np.float32)
        acts[:self.n_in] = X.T
        pres = []
        with np.errstate(all="ignore"):
            for row, src, w, b, f, agg, lo, hi in self.nodes:
                v = w @ acts[src] + b
                pres.append(v)
                np.clip(f(v), lo, hi, out=acts[row])
            delta = np.zeros_like(acts)
            delta[-self.n_out:] = -2 * (Y.T - acts[-self.n_out:]) / self.n_out
            gw, gb = np.zeros(self.n_syn), np.zeros(len(self.nodes))
            for k in range(len(self.nodes) - 1, -1, -1):
                row, src, w, b, f, agg, lo, hi = self.nodes[k]
                a = acts[row]
                g = delta[row] * self.derivative[k](pres[k], a) * ((a > lo) & (a < hi))  # no gradient at a bound
                gb[k] = g.sum()
                gw[self.slots[k]] = acts[src] @ g
                delta[src] += w[:, None] * g
        error = float(((Y.T - acts[-self.n_out:]) ** 2).sum() / self.n_out / n)
        return error, gw / n, gb / n


def accuracy(seeds: int, records: int) -> None:
    import reference_activation as ref
    import reference_gradients as rg

    print(f"\naccuracy vs float64 central differences: {seeds} random creature(s) of 38 hidden neurons "
          f"(every squash and aggregate) per cell, {records} records each before the kink filter; "
          "cell: worst kernel error (worst float64 sensitivity to float32 rounding of the parameters)")
    print(f"| cost | {' | '.join(MODES)} |")
    print(f"|---|{'---|' * len(MODES)}")
    worst_all, worst_conditioned = 0.0, 0.0
    for cost in COST_NAMES:
        cells = []
        for recurrent, feedback in MODES.values():
            worst, noise = 0.0, 0.0
            for seed in range(seeds):
                rng = np.random.default_rng(seed)
                creature = rg.float32_parameters(ref.random_creature(rng, n_hidden=38, recurrent=recurrent))
                X = rng.uniform(-1, 1, (records, creature.input)).astype(np.float32)
                Y = rng.uniform(0.1, 0.9, (records, creature.output)).astype(np.float32)
                X, Y = rg.clean_records(creature, X, Y, cost, feedback)
                got = gradients(creature, X, Y, cost, feedback)
                fw, fb = rg.finite_differences(creature, X, Y, cost, feedback)
                err = rg.relative_error(np.r_[got.weights, got.biases], np.r_[fw, fb])
                sens = rg.sensitivity(creature, X, Y, cost, feedback)
                worst, noise = max(worst, err), max(noise, sens)
                if sens < 1e-3:   # well-conditioned: the float64 gradient is a fair target
                    worst_conditioned = max(worst_conditioned, err)
            worst_all = max(worst_all, worst)
            cells.append(f"{worst:.1e} ({noise:.0e})")
        print(f"| {cost} | {' | '.join(cells)} |")
    print(f"worst over the table: {worst_all:.1e}; over the creatures whose sensitivity is < 1e-3: "
          f"{worst_conditioned:.1e}")


def throughput(batches, repeats: int) -> None:
    creature = make_creature()
    network = trainable_network(creature)
    numpy_net = NumpyGradients(creature)
    rng = np.random.default_rng(0)
    print(f"\ngradient throughput, one thread: {N_IN} inputs, 150 hidden, {N_OUT} outputs, "
          f"{network.n_synapses} synapses (bench_kernels.make_creature), MSE")
    print("| batch | kernel samples/s | NumPy samples/s | kernel ÷ NumPy | forward only (evaluate) samples/s |")
    print("|---|---|---|---|---|")
    from neatai.evaluator import evaluate_population
    for batch in batches:
        X = rng.uniform(-1, 1, (batch, N_IN)).astype(np.float32)
        Y = rng.uniform(-0.5, 0.5, (batch, N_OUT)).astype(np.float32)
        e, gw, gb = backprop.gradients(network, X, Y)
        e_np, gw_np, gb_np = numpy_net.gradients(X, Y)
        slot_of = np.empty_like(network.synapse_order)
        slot_of[network.synapse_order] = np.arange(network.n_synapses)
        np.testing.assert_allclose(gw[slot_of], gw_np, rtol=1e-3, atol=1e-5 * np.abs(gw_np).max())
        np.testing.assert_allclose(gb, gb_np, rtol=1e-3, atol=1e-5 * np.abs(gb_np).max())
        assert abs(e - e_np) <= 1e-5 * e
        t_k = best_of(lambda: backprop.gradients(network, X, Y), repeats)
        t_np = best_of(lambda: numpy_net.gradients(X, Y), repeats)
        t_f = best_of(lambda: evaluate_population([network], X, Y), repeats)
        print(f"| {batch:,} | {batch / t_k:,.0f} | {batch / t_np:,.0f} | {t_np / t_k:.1f}× | {batch / t_f:,.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and creatures")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}; started {time.strftime('%Y-%m-%d %H:%M')}")
    throughput((64, 1024), 2 if args.quick else 5)
    accuracy(1 if args.quick else 3, 12)


if __name__ == "__main__":
    main()
