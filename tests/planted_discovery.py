"""A creature missing an obvious synapse, its dataset, and DiscoverResults built by hand on it:
the target is x0 + x1 (IDENTITY output), the creature reads x0 only and carries one hidden
neuron that only adds noise, so adding input-1 → output-0 and removing the hidden neuron both help."""
from __future__ import annotations

import numpy as np

from neatai.creature import Creature
from neatai.datasets import Dataset
from neatai.discovery.result import (
    CoordinatedCandidate, DiscoverResult, NeuronRemoval, NeuronSuggestion, Operation, SquashSuggestion,
    SynapseRemoval, SynapseSuggestion,
)

HIDDEN = "h-noise"


def planted_creature() -> Creature:
    return Creature.from_json({
        "input": 3, "output": 1, "semanticVersion": "4.0.0", "forwardOnly": True,
        "neurons": [
            {"uuid": HIDDEN, "type": "hidden", "bias": 0.0, "squash": "TANH"},
            {"uuid": "output-0", "type": "output", "bias": 0.0, "squash": "IDENTITY"},
        ],
        "synapses": [
            {"fromUUID": "input-0", "toUUID": "output-0", "weight": 1.0},
            {"fromUUID": "input-2", "toUUID": HIDDEN, "weight": 1.0},
            {"fromUUID": HIDDEN, "toUUID": "output-0", "weight": 0.3},
        ],
    })


def planted_dataset(n: int = 200, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, 3)).astype(np.float32)
    Y = (X[:, 0] + X[:, 1])[:, None].astype(np.float32)
    return Dataset(X, Y, name="planted x0 + x1")


def planted_result() -> DiscoverResult:
    """What an analysis of the planted creature should say, good and bad suggestions alike."""
    return DiscoverResult(
        id="planted",
        add_synapses=[SynapseSuggestion("input-1", "output-0", 1.0, expected_gain=0.5),
                      SynapseSuggestion("input-2", "output-0", 0.8, expected_gain=0.01)],  # noise: fails
        add_neurons=[NeuronSuggestion("input-1", "output-0", 1.0, 0.5, "IDENTITY", 0.0, expected_gain=0.2)],
        squash_changes=[SquashSuggestion("output-0", "IDENTITY", "LOGISTIC", expected_gain=0.001)],  # fails
        remove_neurons=[NeuronRemoval(HIDDEN, "low-impact", expected_gain=0.01, impact=0.05)],
        remove_synapses=[SynapseRemoval("input-0", "output-0", expected_gain=0.001)],  # fails badly
        coordinated=[CoordinatedCandidate((Operation("addSynapse", from_uuid="input-1", to_uuid="output-0", weight=0.9),
                                           Operation("removeNeuron", neuron_uuid=HIDDEN)), 0.3, "add x1, drop noise")],
    )


def missing_synapse_creature() -> Creature:
    """The engine issue's planted case: the target is x0 + x1 and the creature reads x0 only."""
    return Creature.from_json({
        "input": 2, "output": 1, "semanticVersion": "4.0.0", "forwardOnly": True,
        "neurons": [{"uuid": "output-0", "type": "output", "bias": 0.0, "squash": "IDENTITY"}],
        "synapses": [{"fromUUID": "input-0", "toUUID": "output-0", "weight": 1.0}],
    })


def missing_synapse_dataset(n: int = 600, seed: int = 4) -> Dataset:
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    return Dataset(X, (X[:, 0] + X[:, 1])[:, None].astype(np.float32), name="x0 + x1")
