"""Crossover aligned by innovation number: the fitter parent's genes, matching weights from either."""
from __future__ import annotations

import random

import pytest

from neatai.creature import Creature, Neuron, Synapse
from neatai.genome.crossover import crossover


def parents():
    fitter = Creature(2, 1, [Neuron("h", "hidden", 0.1, "TANH"), Neuron("output-0", "output", 0.2, "LOGISTIC")],
                      [Synapse("input-0", "h", 1.0), Synapse("input-1", "h", 2.0), Synapse("h", "output-0", 3.0),
                       Synapse("input-0", "output-0", 4.0)], forward_only=True)
    other = Creature(2, 1, [Neuron("g", "hidden", 0.0, "ReLU"), Neuron("h", "hidden", -0.1, "IF"),
                            Neuron("output-0", "output", -0.2, "SINE")],
                     [Synapse("input-0", "g", 9.0), Synapse("input-0", "h", -1.0, "condition"),
                      Synapse("input-1", "h", -2.0, "positive"), Synapse("g", "h", 7.0, "negative"),
                      Synapse("h", "output-0", -3.0), Synapse("input-1", "output-0", 8.0)], forward_only=True)
    return fitter, other


def test_child_has_the_fitter_parents_topology_and_is_valid():
    fitter, other = parents()
    for seed in range(20):
        child = crossover(fitter, other, random.Random(seed))
        assert [(s.from_uuid, s.to_uuid, s.type) for s in child.synapses] == [
            (s.from_uuid, s.to_uuid, s.type) for s in fitter.synapses]
        assert [n.uuid for n in child.neurons] == ["h", "output-0"]
        Creature.from_json(child.to_dict())


def test_matching_genes_take_either_parents_weight_others_the_fitter_parents():
    fitter, other = parents()
    seen = {k: set() for k in range(4)}
    for seed in range(40):
        child = crossover(fitter, other, random.Random(seed))
        for k, s in enumerate(child.synapses):
            seen[k].add(s.weight)
    # input-0 -> h is typed "condition" in the other parent: a different gene (role), so not matching
    assert seen == {0: {1.0}, 1: {2.0}, 2: {3.0, -3.0}, 3: {4.0}}


def test_matching_neurons_mix_bias_and_squash_but_never_toggle_if():
    fitter, other = parents()
    hidden, output = set(), set()
    for seed in range(40):
        child = crossover(fitter, other, random.Random(seed))
        hidden.add((child.neurons[0].bias, child.neurons[0].squash))
        output.add((child.neurons[1].bias, child.neurons[1].squash))
    assert {s for _, s in hidden} == {"TANH"} and {b for b, _ in hidden} == {0.1, -0.1}
    assert output == {(b, s) for b in (0.2, -0.2) for s in ("LOGISTIC", "SINE")}


def test_alignment_is_by_gene_not_by_position():
    a = Creature(2, 1, [Neuron("output-0", "output", 0.0, "TANH")],
                 [Synapse("input-0", "output-0", 1.0), Synapse("input-1", "output-0", 2.0)])
    b = Creature(2, 1, [Neuron("output-0", "output", 0.0, "TANH")], [Synapse("input-1", "output-0", 20.0)])
    weights = {tuple(s.weight for s in crossover(a, b, random.Random(seed)).synapses) for seed in range(30)}
    assert weights == {(1.0, 2.0), (1.0, 20.0)}


def test_parents_must_share_inputs_and_outputs():
    fitter, _ = parents()
    with pytest.raises(ValueError):
        crossover(fitter, Creature(3, 1, [Neuron("output-0", "output", 0.0)], []), random.Random(0))


def test_parents_are_never_edited_and_a_copied_child_owns_its_parts():
    from neatai.evolver.config import EvolverConfig
    from neatai.genome.operators import copy_creature, mutate

    fitter, other = parents()
    before = (fitter.to_dict(), other.to_dict())
    rng = random.Random(3)
    for _ in range(30):
        child = copy_creature(crossover(fitter, other, rng))
        mutate(child, EvolverConfig(), rng, 5)
    assert (fitter.to_dict(), other.to_dict()) == before


def test_breed_says_when_the_child_is_the_fitter_parent():
    from neatai.genome.crossover import breed

    fitter, other = parents()
    outcomes = set()
    for seed in range(40):
        child, same = breed(fitter, other, random.Random(seed))
        assert same == (child.structural_hash() == fitter.structural_hash())
        outcomes.add(same)
    assert outcomes == {True, False}
