"""Training on exact gradients (reference/neat-ai.md §4): `gradients` of a creature's error.

The kernel is backprop.pyx (a reverse sweep over the compiled format, GIL released); this
module is its creature-facing side: parameters in the creature's order, frozen genes and
constants given no gradient (they are not trained), the error as `Evaluate` reports it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neatai.creature import Creature
from neatai.costs import DEFAULT_COST

from . import backprop
from .network import trainable_network


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
