"""Reference gradients: central finite differences of the float64 reference forward pass and
costs (reference_activation.py), sharing no code with the kernels, and the probe filter that
keeps every record away from the places where the error is not differentiable (kinks, caps,
range clamps, MINIMUM/MAXIMUM ties, IF's switch, the roots' origin, the costs' kinks).
"""
from __future__ import annotations

import math

import numpy as np

import reference_activation as ref

# Pre-activations where a squash is not differentiable (or switches formula, or is capped so
# that the range limit starts clamping), with the distance a probe keeps from them. The
# minima of Swish/Mish/GELU are their range floors: float32 rounding may clamp around them.
KINKS = {
    "ReLU": [0], "ReLU6": [0, 6], "LeakyReLU": [0], "SELU": [0, 709], "ELU": [0], "HARD_TANH": [-1, 1],
    "SOFTSIGN": [-99, 99], "Softplus": [20, 100, 709], "BIPOLAR": [0], "STEP": [0], "ABSOLUTE": [0],
    "SQUARE": [-1000, 1000], "Cube": [-100, 100], "SQRT": [0], "StdInverse": [0], "Exponential": [36],
    "LogSigmoid": [-709, -20], "Swish": [-1.2784645], "Mish": [-1.1922805], "GELU": [-0.7517916],
}
MARGIN = 1e-3
WIDE = {"StdInverse": 0.05, "TAN": 0.05, "Swish": 0.01, "Mish": 0.01, "GELU": 0.01}  # steep or flat-bottomed


def kink_distance(neuron, terms, inner) -> float:
    """How far (in units of the neuron's margin) this evaluation is from a non-differentiable point."""
    name = neuron.squash_name
    t = sorted(v for _, v in terms)
    margin = WIDE.get(name, MARGIN)
    # Terms that are exactly 0 come from sources flat at 0 (a ReLU below its kink, ...): a tie
    # among them, or an IF condition of only such terms, stays put when parameters move.
    if name in ("MINIMUM", "MAXIMUM"):
        pair = t[:2] if name == "MINIMUM" else t[-2:]
        return math.inf if len(t) < 2 or pair == [0, 0] else (pair[1] - pair[0]) / margin
    if name == "IF" and all(v == 0 for s, v in terms if s.type == "condition"):
        return math.inf
    if name in ("IF", "HYPOT", "HYPOTv2"):
        return abs(inner) / margin
    if name == "TAN":
        return abs(math.remainder(inner - math.pi / 2, math.pi)) / margin
    return min((abs(inner - k) for k in KINKS.get(name, ())), default=math.inf) / margin


def output_distance(cost: str, target: float, output: float) -> float:
    """The same for the cost of one output."""
    if cost in ("MAE", "MAPE"):
        return abs(output - target) / MARGIN
    if cost == "HINGE":
        return abs(1 - target * output) / MARGIN
    if cost == "MSLE":
        return abs(output) / 0.05
    if cost == "CROSS_ENTROPY":
        return min(abs(output), abs(1 - output)) / MARGIN
    return math.inf


def clean_records(creature, X, Y, cost: str, feedback_loop: bool = False):
    """The records of X, Y (in order) where the error is differentiable with room to spare:
    records that come near a kink are dropped, one at a time (state carried with
    `feedback_loop` changes with every drop), until none does."""
    keep = list(range(len(X)))
    per_record = sum(1 for n in creature.neurons if n.type != "constant")  # observe calls per record
    while keep:
        near = [math.inf] * len(keep)
        seen = [0]

        def observe(neuron, terms, inner):
            j = seen[0] // per_record
            near[j] = min(near[j], kink_distance(neuron, terms, inner))
            seen[0] += 1

        outputs = ref.activate(creature, [X[i].tolist() for i in keep], feedback_loop, observe)
        bad = [j for j, i in enumerate(keep)
               if min([near[j]] + [output_distance(cost, float(t), o) for t, o in zip(Y[i], outputs[j])]) < 1]
        if not bad:
            return np.asarray(X)[keep], np.asarray(Y)[keep]
        for j in (bad if not feedback_loop else bad[:1])[::-1]:  # stateless records do not move
            del keep[j]
    raise ValueError("no record is clear of the kinks")


def float32_parameters(creature):
    """The creature with its biases and weights rounded to float32 (in place): the point the
    kernels evaluate, so that both sides differentiate the same function at the same place."""
    for n in creature.neurons:
        n.bias = float(np.float32(n.bias))
    for s in creature.synapses:
        s.weight = float(np.float32(s.weight))
    return creature


def error(creature, X, Y, cost: str, feedback_loop: bool = False) -> float:
    return ref.dataset_error(cost, Y.tolist(), ref.activate(creature, X.tolist(), feedback_loop))


def finite_differences(creature, X, Y, cost: str, feedback_loop: bool = False, h: float = 1e-7):
    """(weights, biases): central differences of the float64 error, in creature order; frozen
    genes and constants 0 (they are not parameters)."""
    def central(get, put):
        v = get()
        put(v + h)
        up = error(creature, X, Y, cost, feedback_loop)
        put(v - h)
        down = error(creature, X, Y, cost, feedback_loop)
        put(v)
        return (up - down) / (2 * h)

    weights = np.zeros(len(creature.synapses))
    for i, s in enumerate(creature.synapses):
        if not s.frozen:
            weights[i] = central(lambda: s.weight, lambda v: setattr(s, "weight", v))
    biases = np.zeros(len(creature.neurons))
    for k, n in enumerate(creature.neurons):
        if not n.frozen and n.type != "constant":
            biases[k] = central(lambda: n.bias, lambda v: setattr(n, "bias", v))
    return weights, biases


def relative_error(got, want) -> float:
    """Worst |got - want| over max(|want|, 1e-3 of the largest |want|): relative where the
    gradient is sizeable, against the gradient's scale where it is near 0."""
    got, want = np.asarray(got, float), np.asarray(want, float)
    floor = 1e-3 * max(np.abs(want).max(initial=0), 1e-12)
    return float(np.max(np.abs(got - want) / np.maximum(np.abs(want), floor), initial=0))


def sensitivity(creature, X, Y, cost: str, feedback_loop: bool = False, trials: int = 2, seed: int = 0) -> float:
    """How far the float64 gradient itself moves when every parameter is perturbed by float32
    rounding (relative 2^-24, random sign): relative_error against the unperturbed one, worst of
    `trials`. A float32 kernel cannot be expected to do better (chaotic recurrences reach 0.1)."""
    rng = np.random.default_rng(seed)
    want = np.concatenate(finite_differences(creature, X, Y, cost, feedback_loop))
    worst = 0.0
    for _ in range(trials):
        other = creature.copy()
        for s in other.synapses:
            s.weight *= 1 + 2.0 ** -24 * rng.choice((-1, 1))
        for n in other.neurons:
            n.bias *= 1 + 2.0 ** -24 * rng.choice((-1, 1))
        worst = max(worst, relative_error(np.concatenate(finite_differences(other, X, Y, cost, feedback_loop)), want))
    return worst
