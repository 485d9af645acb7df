"""The compiled format training and recording build on: a trainable copy owns its parameters,
keeps the map from CSR slots back to the creature, the outward adjacency, names and frozen
flags, and writes trained values back into a creature."""
from __future__ import annotations

import numpy as np
import pytest

from neatai.creature import Creature
from neatai.evaluator import compile_network, trainable_network, write_back
from neatai.evaluator.compiled import flatten

# synapses listed out of CSR (target, source) order, one frozen synapse and one frozen bias
SPEC = {"input": 2, "output": 1,
        "neurons": [{"type": "hidden", "uuid": "a", "bias": 0.1, "squash": "LOGISTIC", "frozen": True},
                    {"type": "hidden", "uuid": "b", "bias": -0.2, "squash": "TANH"},
                    {"type": "output", "uuid": "output-0", "bias": 0.05, "squash": "IDENTITY"}],
        "synapses": [{"fromUUID": "b", "toUUID": "output-0", "weight": -0.7},
                     {"fromUUID": "input-1", "toUUID": "a", "weight": -0.4},
                     {"fromUUID": "a", "toUUID": "output-0", "weight": 1.2, "frozen": True},
                     {"fromUUID": "input-0", "toUUID": "b", "weight": 0.3},
                     {"fromUUID": "input-0", "toUUID": "a", "weight": 0.5},
                     {"fromUUID": "input-1", "toUUID": "b", "weight": 0.8}]}
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [0.3, -2]], np.float32)


@pytest.fixture
def creature() -> Creature:
    return Creature.from_json(SPEC)


def test_slot_order_maps_every_csr_slot_back_to_the_creatures_synapse(creature):
    net = trainable_network(creature)
    index = creature.uuid_index()
    for slot, i in enumerate(net.synapse_order):
        s = creature.synapses[i]
        assert net.weights[slot] == np.float32(s.weight)
        assert net.sources[slot] == index[s.from_uuid]
        assert net.targets[slot] == index[s.to_uuid]
    assert sorted(net.synapse_order) == list(range(len(creature.synapses)))


def test_flatten_keeps_the_order_only_when_asked(creature):
    assert len(flatten(creature)) == 2
    index, params, order = flatten(creature, keep_order=True)
    assert (index, params) == flatten(creature) and order.dtype == np.int32


def test_names_and_frozen_flags_are_kept(creature):
    net = trainable_network(creature)
    assert net.names == ["input-0", "input-1", "a", "b", "output-0"]
    assert net.frozen_bias.tolist() == [True, False, False]
    frozen = [creature.synapses[i].frozen is True for i in net.synapse_order]
    assert net.frozen_weights.tolist() == frozen and sum(frozen) == 1


def test_outward_adjacency_is_the_transpose_of_the_inward_one(creature):
    net = trainable_network(creature)
    offsets, targets, slots = net.outward()
    seen = set()
    for row in range(net.n_inputs + net.n_neurons):
        for k in range(offsets[row], offsets[row + 1]):
            assert net.sources[slots[k]] == row and net.targets[slots[k]] == targets[k]
            seen.add(int(slots[k]))
    assert seen == set(range(net.n_synapses))
    assert net.outward() is net.outward()


def test_a_trainable_copy_owns_its_parameters_and_the_cached_network_stays_immutable(creature):
    cached = compile_network(creature)
    before = cached.activate(X)
    net = trainable_network(creature)
    assert net.writable and not cached.writable
    with pytest.raises(ValueError):
        cached.weights[0] = 1.0
    net.weights[:] *= 2
    net.bias[:] += 1
    assert not np.allclose(net.activate(X), before)
    np.testing.assert_array_equal(cached.activate(X), before)
    assert net.parameters != cached.parameters and net.topology_key == cached.topology_key


def test_written_back_values_reproduce_the_trained_network(creature):
    original = creature.copy()
    net = trainable_network(creature)
    net.weights[:] = np.linspace(-1, 1, net.n_synapses, dtype=np.float32)
    net.bias[1] = 0.25
    trained = write_back(net, creature)
    np.testing.assert_array_equal(compile_network(trained).activate(X), net.activate(X))
    assert trained.neurons[0].bias == creature.neurons[0].bias == 0.1  # unchanged: the float64 original
    assert creature.to_dict() == original.to_dict()  # the creature passed in is untouched


def test_write_back_refuses_a_network_of_another_creature(creature):
    with pytest.raises(ValueError, match="not a trainable_network"):
        write_back(compile_network(creature), creature)
