"""Training on exact gradients (reference/neat-ai.md §4): `gradients` of a creature's error,
and `train`, gradient descent with NEAT-AI's options and learning-rate strategies.

The kernel is backprop.pyx (a reverse sweep over the compiled format, GIL released); this
module is its creature-facing side: parameters in the creature's order, frozen genes and
constants given no gradient (they are not trained), the error as `Evaluate` reports it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from neatai import predictive_coding_options as pc_options
from neatai.creature import Creature
from neatai.costs import DEFAULT_COST
from neatai.genome.memetic import adjusted, memetic_update
from neatai.genome.synthetic import add_synthetic_synapses, prune_synthetic_synapses
from neatai.genome.pc_guided import tag_prediction_errors
from neatai.training_options import (DEFAULTS, OPTIMIZERS, STRATEGIES, TrainOptionsError,  # noqa: F401 (API)
                                     canonical, option_problems)

from . import backprop, predictive_coding
from .forward import evaluate_population
from .network import trainable_network, write_back


@dataclass(frozen=True)
class Gradients:
    """d(error)/d(parameter) of one creature on one dataset."""

    weights: np.ndarray  # float64, one per synapse in `creature.synapses` order
    biases: np.ndarray   # float64, one per neuron in `creature.neurons` order
    error: float         # the dataset error, as Evaluate / evaluate_population report it


def gradients(creature: Creature, X: np.ndarray, Y: np.ndarray, cost: str = DEFAULT_COST,
              feedback_loop: bool = False, window: int = 0) -> Gradients:
    """Exact gradients of the error of `creature` on records X, Y (float32 [n, inputs] and
    [n, outputs], in order) under `cost`. With `feedback_loop` a recurrent creature carries state
    from record to record and the gradient flows back through time over all records, or over
    windows of `window` records (truncated BPTT; memory grows with the window: two
    float32[inputs + neurons] and one float32[neurons] per record)."""
    network = trainable_network(creature)
    error, slot_weights, biases = backprop.gradients(network, X, Y, cost, feedback_loop, window)
    weights = np.empty_like(slot_weights)
    weights[network.synapse_order] = slot_weights
    weights[[bool(s.frozen) for s in creature.synapses]] = 0
    biases[network.frozen_bias | network.constant] = 0
    return Gradients(weights, biases, float(error))


# ---- train: gradient descent with NEAT-AI's options (reference/neat-ai.md §4.2) -------------

PC_TAG_RECORDS = 256  # records settled for the per-neuron error tags of a PC-trained creature


@dataclass(frozen=True)
class TrainResult:
    creature: Creature          # the trained copy (the given creature itself is not changed)
    error_before: float
    error_after: float          # <= error_before: the best parameters seen, or the original ones
    iterations: int             # passes run
    learning_rate_strategy: str


def learning_rate(options: dict, iteration: int, ratio: float | None = None) -> float:
    """NEAT-AI's calculateLearningRate: the rate of pass `iteration` (0-based) under
    options["learningRateStrategy"]; `ratio` is error_t / error_(t-1) for "adaptive" (None: no
    feedback). warm_restart is geometric within each period, as coded (not cosine)."""
    strategy = options["learningRateStrategy"]
    lr0, decay = options["initialLearningRate"], options["learningRateDecay"]
    if strategy == "fixed":
        return options["learningRate"]
    if strategy == "decay":
        return lr0 * decay ** iteration
    if strategy == "warm_restart":
        return lr0 * decay ** (iteration % options["warmRestartPeriod"])
    adjust = 1.0 if ratio is None else 1.1 if ratio < 0.95 else 1.3 if ratio < 1 else max(0.5, 1 / ratio)
    return lr0 * math.sqrt(decay) ** iteration * adjust


class TrainingStopped(RuntimeError):
    """`train`'s `stop()` answered true (the caller was cancelled or ran out of time)."""


def train_options(options: dict, rng: np.random.Generator) -> dict:
    """The options with NEAT-AI's defaults and clamps (createBackPropagationConfig); raises
    TrainOptionsError naming every option that cannot be used."""
    problems = option_problems(options)
    if problems:
        raise TrainOptionsError(problems)
    o = {**DEFAULTS, **{k: v for k, v in canonical(options).items() if v is not None}}
    for name in ("iterations", "batchSize", "maxPerTarget"):
        o[name] = int(o[name])
    o["initialLearningRate"] = min(max(float(o["initialLearningRate"]), 0.001), 1.0)
    o["learningRateDecay"] = min(max(float(o["learningRateDecay"]), 0.1), 1.0)
    o["warmRestartPeriod"] = max(int(o["warmRestartPeriod"]), 2)
    for name in ("l1", "l2", "sparseRatio"):
        o[name] = float(o[name])
    if o["learningRate"] is not None:
        o["learningRate"] = min(max(float(o["learningRate"]), 0.001), 1.0)
    strategy = o["learningRateStrategy"]
    if strategy is None:
        if o["learningRate"] is not None:
            strategy = "fixed"
        else:
            u = rng.random()
            strategy = "decay" if u < 0.30 else "adaptive" if u < 0.55 else "warm_restart" if u < 0.75 else "fixed"
    o["learningRateStrategy"] = strategy
    if o["learningRate"] is None:
        o["learningRate"] = o["initialLearningRate"]
    return o


def train(creature: Creature, X: np.ndarray, Y: np.ndarray, cost: str = DEFAULT_COST,
          feedback_loop: bool = False, stop: Callable[[], bool] | None = None,
          progress: Callable[[int, float], None] | None = None, **options) -> TrainResult:
    """Mini-batch gradient descent on the exact gradients of `cost`, with NEAT-AI's option names,
    learning-rate strategies and limits (reference/neat-ai.md §4.2; options: DEFAULTS): each
    step moves a parameter by at most maximumWeight/BiasAdjustmentScale, keeps it within
    limitWeight/BiasScale and snaps a moved one below plankConstant to 0; frozen genes and
    constants stay.

    `optimizer` "adam" (the default) steps by -rate * m_hat / (sqrt(v_hat) + 1e-8) (beta1 0.9,
    beta2 0.999, moments kept over the passes of this call); "sgd" is NEAT-AI's plain
    -rate * gradient. Adam is the default because it reached the lower error on the measured
    problems with the same passes (bench/RESULTS.md "Training optimizer"): plain steps at
    NEAT-AI's 0.01 rate barely move a creature in the few passes a memetic generation affords.
    `l1` and `l2` add l1 * sign(w) and l2 * w to every weight's gradient (biases are not
    penalised). `sparseRatio` < 1 updates only that fraction of the parameters per batch,
    drawn from the seed (NEAT-AI §4.3); the rest keep their values (and Adam moments). After every pass the dataset error (as Evaluate reports it) is
    measured, and the best parameters seen are returned, so the creature is never worse than
    it was given. With `feedback_loop` batches are consecutive records (no shuffle), each
    back-propagated through time from zeroed state.

    With `syntheticSynapses` (NEAT-AI §4.3) the creature first gets zero-weight synapses between
    adjacent longest-path layers (at most `maxPerTarget` into a neuron; neatai.genome.synthetic),
    trains with them, and loses those that training left below plankConstant; the error after
    is that of the pruned creature, and a pruned creature no better than the one given is not
    returned either. The passes option is also taken by NEAT-AI's name, `generations`. A copy
    that came out better carries NEAT-AI's trace of the training (tags approach=trained,
    trained=YES, untrained-error, error, adjusted; `memetic` with the original values).
    `predictiveCoding` {enabled: true, ...} makes every batch settle (predictive_coding.settle,
    outputs clamped to the targets, NEAT-AI's gradient cap, backtracking and adaptive scaling)
    and apply the Hebbian update; integrationMode "complement" then takes the gradient step
    above on the same batch as well, "replace" does not. The returned creature carries the trace
    tags pc-energy and pc-inference-steps (mean final energy and steps per record, last pass),
    and its neurons pc-error and pc-unsettled (genome.pc_guided: what PC-guided mutation reads).
    A recurrent creature settles each record on its unrolled step, its self/back synapses reading
    zero, or with `feedback_loop` the previous record's forward state, carried through the pass.

    `stop()` is asked before every batch (a kernel call is short): when true, TrainingStopped
    is raised. `progress(passes, error)` is told the dataset error after every pass."""
    o = train_options(options, np.random.default_rng(options.get("seed")))
    if not o["syntheticSynapses"]:
        return _traced(creature, _descend(creature, X, Y, cost, feedback_loop, stop, progress, o))
    grown, added = add_synthetic_synapses(creature, o["maxPerTarget"])
    r = _descend(grown, X, Y, cost, feedback_loop, stop, progress, o)
    unchanged = TrainResult(creature.copy(), r.error_before, r.error_before, r.iterations, r.learning_rate_strategy)
    if r.error_after >= r.error_before:
        return unchanged
    pruned = prune_synthetic_synapses(r.creature, added, o["plankConstant"])
    error = float(evaluate_population([trainable_network(pruned)], X, Y, cost, feedback_loop=feedback_loop)[0])
    if not error < r.error_before:  # the pruned weights were tiny, but never hand back a worse creature
        return unchanged
    return _traced(creature, TrainResult(pruned, r.error_before, error, r.iterations, r.learning_rate_strategy))


def _traced(given: Creature, r: TrainResult) -> TrainResult:
    """NEAT-AI's trace on a copy that training improved: tags approach=trained, trained=YES,
    untrained-error, error and adjusted ("4 weights, 1 bias"), and its `memetic` record (the
    original values of what changed; neatai.genome.memetic)."""
    if r.error_after < r.error_before:
        c = r.creature
        c.memetic, weights, biases = memetic_update(given, c)
        for name, value in (("approach", "trained"), ("trained", "YES"), ("untrained-error", repr(r.error_before)),
                            ("error", repr(r.error_after)), ("adjusted", adjusted(weights, biases))):
            c.set_tag(name, value)
    return r


def _descend(creature: Creature, X: np.ndarray, Y: np.ndarray, cost: str, feedback_loop: bool,
             stop: Callable[[], bool] | None, progress: Callable[[int, float], None] | None,
             o: dict) -> TrainResult:
    """`train`'s gradient descent on the creature's own synapses, with the checked options `o`."""
    rng = np.random.default_rng(o["seed"])
    network = trainable_network(creature)
    weights, bias = network.weights, network.bias            # writable float32 views
    fixed_w = network.frozen_weights
    fixed_b = network.frozen_bias | network.constant
    before = evaluate_population([network], X, Y, cost, feedback_loop=feedback_loop)[0]  # validates X, Y
    n = X.shape[0]
    best, best_w, best_b = before, weights.copy(), bias.copy()
    previous, ratio, passes = before, None, 0
    sequential = feedback_loop or o["disableRandomSamples"]
    step_w = _Stepper(o, fixed_w, o["maximumWeightAdjustmentScale"], o["limitWeightScale"])
    step_b = _Stepper(o, fixed_b, o["maximumBiasAdjustmentScale"], o["limitBiasScale"])
    pcc = pc_options.resolved(o["predictiveCoding"])
    pc_settle = predictive_coding.settle_options(pcc, feedback_loop)
    pc_trace = None
    for t in range(o["iterations"]):
        if o["targetError"] is not None and best <= o["targetError"]:
            break
        rate = learning_rate(o, t, ratio)
        order = np.arange(n) if sequential else rng.permutation(n)
        energy = steps = 0.0
        state = None   # the feedback loop's state, from zeros every pass
        for start in range(0, n, o["batchSize"]):
            if stop is not None and stop():
                raise TrainingStopped(f"stopped after {passes} of {o['iterations']} passes")
            rows = order[start:start + o["batchSize"]]
            if pcc["enabled"]:
                settled = predictive_coding.settle(creature, X[rows], Y[rows], network=network, initial_state=state,
                                                   **pc_settle)
                state = settled.state
                predictive_coding.learn(settled, pcc["learningRate"], o["plankConstant"])
                energy, steps = energy + settled.energy.sum(), steps + settled.steps.sum()
                if pcc["integrationMode"] == "replace":
                    continue
            _, gw, gb = backprop.gradients(network, X[rows], Y[rows], cost, feedback_loop)
            if o["l1"] or o["l2"]:
                gw = gw + o["l1"] * np.sign(weights) + o["l2"] * weights.astype(np.float64)
            weights[:] = step_w(weights, gw, rate, rng)
            bias[:] = step_b(bias, gb, rate, rng)
        passes += 1
        if pcc["enabled"]:
            pc_trace = (energy / n, steps / n)
        error = evaluate_population([network], X, Y, cost, feedback_loop=feedback_loop)[0]
        ratio = error / previous if previous > 0 and np.isfinite(previous) else None
        previous = error
        if progress is not None:
            progress(passes, float(error))
        if error < best:
            best, best_w, best_b = error, weights.copy(), bias.copy()
    if best >= before:  # nothing better: the creature as given
        trained, best = creature.copy(), before
    else:
        weights[:], bias[:] = best_w, best_b
        trained = write_back(network, creature)
    if pc_trace is not None:
        trained.set_tag("pc-energy", f"{pc_trace[0]:.6g}")
        trained.set_tag("pc-inference-steps", f"{pc_trace[1]:.4g}")
        # per-neuron prediction errors of the result, for PC-guided mutation (first records)
        e = predictive_coding.neuron_prediction_errors(trained, X[:PC_TAG_RECORDS], Y[:PC_TAG_RECORDS], **pc_settle)
        tag_prediction_errors(trained, e.uuids, e.mean_abs_error, e.unsettled)
    return TrainResult(trained, float(before), float(best), passes, o["learningRateStrategy"])


class _Stepper:
    """Descent steps of one float32 parameter vector (weights or biases) under the options'
    optimizer, sparseRatio and NEAT-AI's limit_weight / limit_bias bounds."""

    BETA1, BETA2, EPS = 0.9, 0.999, 1e-8

    def __init__(self, o: dict, fixed: np.ndarray, max_step: float, limit: float):
        self.adam = o["optimizer"] == "adam"
        self.sparse = o["sparseRatio"]
        self.fixed, self.max_step, self.limit, self.plank = fixed, max_step, limit, o["plankConstant"]
        self.m = np.zeros(fixed.shape)
        self.v = np.zeros(fixed.shape)
        self.t = np.zeros(fixed.shape)  # per parameter: sparse batches skip some, bias correction follows

    def __call__(self, values, grad, rate, rng):
        grad = np.asarray(grad, np.float64)
        chosen = ~self.fixed & np.isfinite(grad)
        if self.sparse < 1:
            chosen &= rng.random(grad.shape) < self.sparse
        if self.adam:
            g = grad[chosen]
            self.t[chosen] += 1
            self.m[chosen] = self.BETA1 * self.m[chosen] + (1 - self.BETA1) * g
            self.v[chosen] = self.BETA2 * self.v[chosen] + (1 - self.BETA2) * g * g
            t = self.t[chosen]
            step = np.zeros(grad.shape)
            step[chosen] = -rate * (self.m[chosen] / (1 - self.BETA1 ** t)) / (
                np.sqrt(self.v[chosen] / (1 - self.BETA2 ** t)) + self.EPS)
        else:
            step = np.where(chosen, -rate * np.where(chosen, grad, 0), 0)
        step = np.clip(step, -self.max_step, self.max_step)
        moved = (step != 0) & chosen    # the limits bound what a step moves only
        new = values.astype(np.float64)
        new[moved] = np.clip(new[moved] + step[moved], -self.limit, self.limit)
        new[moved & (np.abs(new) < self.plank)] = 0
        return new.astype(np.float32)
