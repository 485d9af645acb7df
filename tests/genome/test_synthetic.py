"""Synthetic synapses: zero-weight synapses between adjacent longest-path layers, added without
changing what the creature computes and pruned after training where they stayed near 0."""
from __future__ import annotations

import numpy as np
import pytest

from neatai.creature import Creature
from neatai.evaluator import compile_network
from neatai.genome.synthetic import add_synthetic_synapses, layers, prune_synthetic_synapses

# input-0, input-1 -> a -> b -> output-0 ; input-1 -> output-0 ; a constant ; an IF
SPEC = {"input": 3, "output": 1,
        "neurons": [{"type": "hidden", "uuid": "a", "bias": 0.1, "squash": "TANH"},
                    {"type": "constant", "uuid": "k", "bias": 0.5},
                    {"type": "hidden", "uuid": "c", "bias": 0.0, "squash": "LOGISTIC"},
                    {"type": "hidden", "uuid": "b", "bias": -0.2, "squash": "ReLU"},
                    {"type": "output", "uuid": "output-0", "bias": 0.05, "squash": "IDENTITY"}],
        "synapses": [{"fromUUID": "input-0", "toUUID": "a", "weight": 0.5},
                     {"fromUUID": "input-1", "toUUID": "c", "weight": 0.3},
                     {"fromUUID": "a", "toUUID": "b", "weight": -0.7},
                     {"fromUUID": "k", "toUUID": "b", "weight": 0.2},
                     {"fromUUID": "b", "toUUID": "output-0", "weight": 1.2},
                     {"fromUUID": "input-1", "toUUID": "output-0", "weight": 0.4}]}


@pytest.fixture
def creature() -> Creature:
    return Creature.from_json(SPEC)


def test_layers_are_longest_paths_with_outputs_last(creature):
    # rows: input-0..2, a, k, c, b, output-0
    assert layers(creature) == [0, 0, 0, 1, 0, 1, 2, 3]


def test_synapses_join_adjacent_layers_and_change_nothing_until_trained(creature):
    grown, added = add_synthetic_synapses(creature)
    # from the layer below only, never backwards (k comes after a), none into the constant
    assert added == {("input-1", "a"), ("input-2", "a"), ("input-0", "c"), ("input-2", "c"), ("k", "c"), ("c", "b")}
    again = Creature.from_json(grown.to_dict())  # valid, forward-only, canonical order
    assert again.to_dict() == grown.to_dict() and not again.recurrent
    assert all(s.weight == 0.0 for s in grown.synapses if (s.from_uuid, s.to_uuid) in added)
    X = np.random.default_rng(0).uniform(-1, 1, (16, 3)).astype(np.float32)
    np.testing.assert_array_equal(compile_network(grown).activate(X), compile_network(creature).activate(X))


def test_sources_are_evenly_spaced_when_capped():
    wide = {"input": 10, "output": 1, "neurons": [{"type": "output", "uuid": "output-0", "bias": 0.0}],
            "synapses": [{"fromUUID": "input-0", "toUUID": "output-0", "weight": 1.0}]}
    _, added = add_synthetic_synapses(Creature.from_json(wide), max_per_target=3)
    assert sorted(added) == [("input-1", "output-0"), ("input-4", "output-0"), ("input-7", "output-0")]
    with pytest.raises(ValueError, match="maxPerTarget"):
        add_synthetic_synapses(Creature.from_json(wide), max_per_target=0)


def test_pruning_drops_the_ones_training_left_near_zero_and_keeps_the_rest(creature):
    grown, added = add_synthetic_synapses(creature)
    for s in grown.synapses:
        if (s.from_uuid, s.to_uuid) == ("c", "b"):
            s.weight = 0.3  # training grew this one
    pruned = prune_synthetic_synapses(grown, added)
    pairs = {(s.from_uuid, s.to_uuid) for s in pruned.synapses}
    assert pairs == {(s.from_uuid, s.to_uuid) for s in creature.synapses} | {("c", "b")}


def test_an_output_keeps_one_inward_synapse():
    bare = {"input": 2, "output": 1, "neurons": [{"type": "output", "uuid": "output-0", "bias": 0.0}],
            "synapses": []}
    grown, added = add_synthetic_synapses(Creature.from_json(bare))
    assert len(added) == 2
    for s in grown.synapses:
        s.weight = 5e-8 if s.from_uuid == "input-1" else 1e-9
    pruned = prune_synthetic_synapses(grown, added)
    assert [(s.from_uuid, s.weight) for s in pruned.synapses] == [("input-1", 5e-8)]
