"""Predictive coding (reference/neat-ai.md §5, seed 004): the creature-facing side of the
pc_kernels.pyx settling and Hebbian kernels.

`settle` relaxes the latents of every record to a minimum of the prediction-error energy
(inputs clamped, outputs clamped to the targets when given); `hebbian` turns the settled state
into the local weight and bias updates; `apply_hebbian` applies them with NEAT-AI's rules;
`neuron_prediction_errors` summarises the settled errors per neuron (what PC-guided mutation
and the discovery service read).

Strict PC (predictions recomputed from the latents every step, the seed's algorithm) is the
default. `fixed_prediction` holds the predictions and f' at their feed-forward values
(reference/predictive-coding.md §2.1): with inference_rate 1, no gradient cap and
max_iterations = the depth, the Hebbian update is exactly backprop's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from neatai import predictive_coding_options as pc_options
from neatai.creature import Creature
from neatai.training_options import DEFAULTS as TRAIN_DEFAULTS

from . import pc_kernels
from .compiled import Network
from .forward import _check_inputs
from .network import trainable_network

# The option's defaults (the seed's design values; README "Predictive coding" says why not NEAT-AI's).
DEFAULTS = {"max_iterations": pc_options.DEFAULTS["maxInferenceIterations"],
            "convergence_threshold": pc_options.DEFAULTS["convergenceThreshold"],
            "inference_rate": pc_options.DEFAULTS["inferenceRate"],
            "learning_rate": pc_options.DEFAULTS["learningRate"]}
ADAPTIVE_HIDDEN = 10                 # adaptive scaling applies above this many hidden neurons (§5.5)
PLANK = TRAIN_DEFAULTS["plankConstant"]   # NEAT-AI's snap: a weight below it in magnitude becomes 0


@dataclass(frozen=True)
class Scaling:
    """NEAT-AI's adaptive scaling (AdaptiveScaling.ts, neat-ai.md §5.5) of one creature."""

    rate: float       # multiplies the inference rate
    threshold: float  # multiplies the convergence threshold
    learning: float   # multiplies the learning rate

    @staticmethod
    def of(network: Network, hidden: int, enabled: bool = True) -> "Scaling":
        if not enabled or hidden <= ADAPTIVE_HIDDEN:
            return Scaling(1.0, 1.0, 1.0)
        r = hidden / ADAPTIVE_HIDDEN
        return Scaling(1 / math.sqrt(r), max(1.0, network.n_neurons / ADAPTIVE_HIDDEN), math.sqrt(r))


@dataclass(frozen=True)
class Settled:
    """The settled state of a batch of records (arrays float64 unless noted, creature order:
    inputs, then `creature.neurons`)."""

    latents: np.ndarray    # [samples, inputs + neurons]
    errors: np.ndarray     # [samples, inputs + neurons], 0 for inputs and constants
    energy: np.ndarray     # [samples] final E (with the output term when output_weight is set)
    steps: np.ndarray      # int32 [samples] inference steps run
    converged: np.ndarray  # bool [samples]
    history: np.ndarray | None   # [samples, max_iterations + 1] energy after each step, if asked
    # what hebbian needs, as the kernel left it
    network: Network
    activity: np.ndarray   # float32: presynaptic activity (the predictions under fixed prediction)
    gain: np.ndarray       # float32 [samples, neurons]: f' at the settled (or feed-forward) point
    scaling: Scaling
    # feedback loop only (else None): float32 [samples, inputs + neurons], the state each record's
    # self/back synapses read, and [inputs + neurons], the forward state after the last record
    previous: np.ndarray | None = None
    state: np.ndarray | None = None


def settle_options(pc: dict, feedback_loop: bool = False) -> dict:
    """settle()'s keyword arguments from a resolved predictiveCoding option
    (predictive_coding_options.resolved)."""
    return dict(fixed_prediction=pc["fixedPrediction"], max_iterations=pc["maxInferenceIterations"],
                inference_rate=pc["inferenceRate"], convergence_threshold=pc["convergenceThreshold"],
                feedback_loop=feedback_loop)


def settle(creature: Creature, X: np.ndarray, Y: np.ndarray | None = None, *,
           max_iterations: int = DEFAULTS["max_iterations"],
           convergence_threshold: float = DEFAULTS["convergence_threshold"],
           inference_rate: float = DEFAULTS["inference_rate"],
           fixed_prediction: bool = False, gradient_cap: float = 1.0, backtrack: bool = True,
           adaptive_scaling: bool = True, output_weight: float | None = None,
           history: bool = False, tile: int = 64, network: Network | None = None,
           feedback_loop: bool = False, initial_state: np.ndarray | None = None) -> Settled:
    """Settle the latents of every record of X (float32 [samples, inputs]) on `creature`.

    Forward initialisation, inputs clamped, outputs clamped to Y when given, then up to
    `max_iterations` Jacobi steps x_h -= rate * s * g_h of the free latents (s caps the L2 norm
    of a sample's gradient at `gradient_cap`, 0 for none). A sample stops when its energy, or
    its decrease in a step, falls below `convergence_threshold` (0: never). `backtrack` undoes a
    step that raised a sample's energy and halves that sample's rate. `adaptive_scaling` applies
    NEAT-AI's rules above 10 hidden neurons. `output_weight` beta > 0 leaves the outputs free
    with beta/2 |Y - x_out|^2 added to the energy (the weak-output limit of §2.3).

    A recurrent creature's self and back synapses read the state before the record, held
    fixed: zero (reset state), or with `feedback_loop` the previous record's forward
    activations, records in order from `initial_state` (default zeros; `Settled.state` continues
    a sequence in the next call)."""
    if max_iterations < 0:
        raise ValueError(f"max_iterations must be >= 0, got {max_iterations}")
    for name, v in (("convergence_threshold", convergence_threshold), ("gradient_cap", gradient_cap)):
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be finite and >= 0, got {v}")
    if not (math.isfinite(inference_rate) and inference_rate > 0):
        raise ValueError(f"inference_rate must be finite and > 0, got {inference_rate}")
    if output_weight is not None and not (math.isfinite(output_weight) and output_weight > 0):
        raise ValueError(f"output_weight must be finite and > 0, got {output_weight}")
    if output_weight is not None and Y is None:
        raise ValueError("output_weight needs targets Y")
    if network is None:
        network = trainable_network(creature)
    X = _check_inputs(X, network.n_inputs, "X")
    if Y is not None:
        Y = _check_inputs(Y, network.n_outputs, "Y")
        if len(Y) != len(X):
            raise ValueError(f"X has {len(X)} records, Y has {len(Y)}")
    scaling = Scaling.of(network, creature.hidden_count, adaptive_scaling)
    if feedback_loop and network.recurrent and initial_state is None:
        initial_state = np.zeros(network.n_inputs + network.n_neurons, np.float32)
    r = pc_kernels.settle(network, X, Y, int(max_iterations), inference_rate * scaling.rate,
                          convergence_threshold * scaling.threshold, gradient_cap, output_weight or 0.0,
                          fixed_prediction, backtrack, tile, history,
                          initial_state if feedback_loop and network.recurrent else None)
    return Settled(r["latents"].astype(np.float64), r["errors"].astype(np.float64), r["energy"], r["steps"],
                   r["converged"], r.get("history"), network, r["activity"], r["gain"], scaling,
                   r.get("previous"), r.get("state"))


@dataclass(frozen=True)
class Updates:
    weights: np.ndarray  # float64 per synapse, `creature.synapses` order
    biases: np.ndarray   # float64 per neuron, `creature.neurons` order


def hebbian(creature: Creature, settled: Settled, learning_rate: float = DEFAULTS["learning_rate"]) -> Updates:
    """Hebbian updates from the settled state, the mean over its records:
    db_i = eta_W f'(v_i) eps_i, dW_{j->i} = eta_W f'(v_i) eps_i x_j, eta_W the learning rate
    under the settle's adaptive scaling, x_j for a self/back synapse the state it read (zero
    outside the feedback loop). Frozen genes, constants and condition synapses get 0."""
    if not (math.isfinite(learning_rate) and learning_rate >= 0):
        raise ValueError(f"learning_rate must be finite and >= 0, got {learning_rate}")
    network = settled.network
    slot_w, biases = _slot_updates(settled, learning_rate)
    weights = np.empty_like(slot_w)
    weights[network.synapse_order] = slot_w
    weights[[bool(s.frozen) for s in creature.synapses]] = 0
    biases[network.frozen_bias | network.constant] = 0
    return Updates(weights, biases)


def learn(settled: Settled, learning_rate: float = DEFAULTS["learning_rate"], plank: float = PLANK) -> None:
    """Apply the Hebbian update of a settled batch to the (trainable) network it settled on."""
    apply_hebbian(settled.network, *_slot_updates(settled, learning_rate), plank)


def _slot_updates(settled: Settled, learning_rate: float):
    """pc_kernels.hebbian on a settled batch: (dW in CSR slot order, db), scaled as settled."""
    return pc_kernels.hebbian(settled.network, settled.activity, settled.errors, settled.gain,
                              learning_rate * settled.scaling.learning, settled.previous)


def apply_hebbian(network: Network, slot_weights: np.ndarray, biases: np.ndarray, plank: float = PLANK) -> None:
    """Add updates (CSR slot order, as pc_kernels.hebbian gives them) to a trainable network
    with NEAT-AI's rules (neat-ai.md §5.4): condition synapses and frozen genes stay, positive
    synapses stay >= 0 and negative ones <= 0, a weight below `plank` in magnitude snaps to 0."""
    roles = network.roles
    keep = network.frozen_weights | (roles == 3)
    w = network.weights.astype(np.float64) + np.where(keep, 0.0, slot_weights)
    w = np.where(roles == 1, np.maximum(w, 0), np.where(roles == 2, np.minimum(w, 0), w))
    w[np.abs(w) < plank] = 0
    w[keep] = network.weights[keep]
    network.weights[:] = w.astype(np.float32)
    fixed = network.frozen_bias | network.constant
    network.bias[:] = np.where(fixed, network.bias, network.bias + biases).astype(np.float32)


@dataclass(frozen=True)
class NeuronErrors:
    """Per-neuron prediction errors after settling, in `creature.neurons` order."""

    uuids: list[str]
    mean_abs_error: np.ndarray   # mean over records of |eps_i|: how poorly its parents predict it
    rms_error: np.ndarray        # root mean square of eps_i
    unsettled: np.ndarray        # mean |dE/dx_i| left when settling stopped (0 for clamped ones):
                                 # how far from settled the neuron still is
    mean_steps: float            # inference steps a record took, on average


def neuron_prediction_errors(creature: Creature, X: np.ndarray, Y: np.ndarray, **options) -> NeuronErrors:
    """Settle (outputs clamped to Y) and report every neuron's residual prediction error and
    how unsettled it is, for PC-guided mutation and the discovery service (seed 004 §3.4)."""
    s = settle(creature, X, Y, **options)
    net = s.network
    n_in = net.n_inputs
    e = s.errors[:, n_in:]
    d = s.gain * e                                  # f' eps per neuron
    targets, sources = net.targets, net.sources
    forward = (sources < targets) & ~net.constant[targets - n_in]
    g = np.zeros_like(s.errors)
    g[:, n_in:] = e
    np.add.at(g.T, sources[forward], -(net.weights[forward, None] * d[:, targets[forward] - n_in].T))
    free = ~net.constant & (np.arange(net.n_neurons) < net.n_neurons - net.n_outputs)
    unsettled = np.where(free, np.abs(g[:, n_in:]).mean(axis=0), 0.0)
    return NeuronErrors([n.uuid for n in creature.neurons], np.abs(e).mean(axis=0),
                        np.sqrt((e * e).mean(axis=0)), unsettled, float(s.steps.mean()))
