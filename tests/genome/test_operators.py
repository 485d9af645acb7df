"""Mutation operators: every operator, applied many times at random, leaves a valid forward-only
creature (it survives NEAT-AI JSON validation unchanged); each does what NEAT-AI's does."""
from __future__ import annotations

import random
from collections import Counter

import pytest

from neatai.creature import Creature, Neuron, Synapse
from neatai.genome import operators as op
from neatai.evolver.config import EvolverConfig

def assert_valid(c: Creature) -> None:
    again = Creature.from_json(c.to_dict())  # validates: known ends, no duplicates, IF roles, ...
    assert again.to_dict() == c.to_dict(), "not in canonical (evaluation, synapse) order"
    index = c.uuid_index()
    assert all(index[s.from_uuid] < index[s.to_uuid] for s in c.synapses), "not forward-only"
    assert not c.recurrent
    pairs = Counter((s.from_uuid, s.to_uuid) for s in c.synapses)
    if_neurons = {n.uuid for n in c.neurons if n.squash == "IF"}
    assert all(k == 1 or to in if_neurons for (_, to), k in pairs.items()), "duplicate synapse"
    assert [n.uuid for n in c.neurons[-c.output:]] == [f"output-{k}" for k in range(c.output)]
    assert all(n.type != "output" for n in c.neurons[:-c.output])


def starts(fixtures_dir) -> list[Creature]:
    rng = random.Random(0)
    files = ["SHIFT.json", "breed-mother-1.json", "breed-father-1.json"]
    return [op.initial_creature(2, 1, rng), op.initial_creature(4, 3, rng)] + [
        Creature.from_json((fixtures_dir / f).read_text()) for f in files]


@pytest.mark.parametrize("method", op.FFW)
def test_each_operator_keeps_creatures_valid_over_many_seeded_applications(method, fixtures_dir):
    changed = ifs = 0
    for seed in range(12):
        rng = random.Random(seed)
        for start in starts(fixtures_dir):
            c = op.copy_creature(start)
            for _ in range(25):
                # interleave structure growth so every operator meets hidden neurons, IFs, constants
                other = rng.choice(op.FFW)
                op.OPERATORS[other](c, rng)
                if rng.random() < 0.15:  # IF is rare in the pool (weight 1): force some in
                    n = rng.choice([n for n in c.neurons if n.type != "constant"])
                    op.set_squash(c, n, "IF", c.uuid_index(), rng)
                    op.sort_synapses(c)
                assert_valid(c)
                ifs += sum(n.squash == "IF" for n in c.neurons)
                changed += op.OPERATORS[method](c, rng)
                assert_valid(c)
    assert changed > 100 and ifs > 100


def test_mutate_is_valid_on_a_large_real_creature_with_if_neurons(fixtures_dir):
    start = Creature.from_json((fixtures_dir / "large.json").read_text())
    assert any(n.squash == "IF" for n in start.neurons)
    for method in op.FFW:
        c = op.copy_creature(start)
        assert op.OPERATORS[method](c, random.Random(1))
        assert_valid(c)


def test_initial_creature_fully_connects_inputs_to_outputs_with_positive_weights():
    rng = random.Random(5)
    c = op.initial_creature(3, 2, rng)
    assert_valid(c)
    assert {(s.from_uuid, s.to_uuid) for s in c.synapses} == {
        (f"input-{i}", f"output-{k}") for i in range(3) for k in range(2)}
    bound = 3 * (2 / 3) ** 0.5
    assert all(0 <= s.weight < bound for s in c.synapses)
    assert all(-0.1 <= n.bias < 0.1 and n.squash in op.POOL and n.squash != "IF" for n in c.neurons)
    assert c.forward_only is True and c.semantic_version == "4.0.0"


def test_symmetric_initial_weights_shrink_with_the_input_count():
    rng = random.Random(5)
    c = op.initial_creature(50, 2, rng, "symmetric")
    assert_valid(c)
    bound = (2 / 50) ** 0.5
    assert all(-bound <= s.weight <= bound for s in c.synapses)
    assert any(s.weight < 0 for s in c.synapses) and any(s.weight > 0 for s in c.synapses)


def test_add_node_is_not_an_edge_split():
    rng = random.Random(2)
    c = op.initial_creature(2, 1, rng)
    before = [(s.from_uuid, s.to_uuid, s.weight) for s in c.synapses]
    assert op.add_node(c, rng)
    new = [n for n in c.neurons if n.type == "hidden"]
    assert len(new) == 1
    kept = [(s.from_uuid, s.to_uuid, s.weight) for s in c.synapses if new[0].uuid not in (s.from_uuid, s.to_uuid)]
    assert kept == before  # nothing split or disabled
    inward = [s for s in c.synapses if s.to_uuid == new[0].uuid]
    outward = [s for s in c.synapses if s.from_uuid == new[0].uuid]
    assert len(outward) == 1 and len(inward) == (3 if new[0].squash == "IF" else 1)


def test_sub_node_removes_a_hidden_neuron_and_its_synapses():
    rng = random.Random(3)
    c = op.initial_creature(2, 1, rng)
    op.add_node(c, rng)
    assert op.sub_node(c, rng)
    assert c.hidden_count == 0 and len(c.synapses) == 2
    assert not op.sub_node(c, rng)  # nothing left to remove


def test_sub_node_turns_orphans_into_constants_and_drops_dead_ends():
    c = Creature(1, 1, [Neuron("a", "hidden", 0.1, "TANH"), Neuron("b", "hidden", 0.2, "TANH"),
                        Neuron("output-0", "output", 0.0, "IDENTITY")],
                 [Synapse("input-0", "a", 1.0), Synapse("a", "b", 1.0), Synapse("b", "output-0", 1.0),
                  Synapse("input-0", "output-0", 1.0)])
    c.neurons.pop(0)  # what sub_node does, then the repair
    c.synapses = [s for s in c.synapses if "a" not in (s.from_uuid, s.to_uuid)]
    op.repair(c, random.Random(0))
    assert [(n.uuid, n.type, n.squash) for n in c.neurons] == [("b", "constant", None), ("output-0", "output", "IDENTITY")]
    assert_valid(c)


def test_add_conn_fills_every_forward_pair_then_reports_no_change():
    rng = random.Random(4)
    c = op.initial_creature(2, 2, rng)
    op.add_node(c, rng)
    c.neurons[0].squash = "TANH"  # keep roles out of the count
    c.synapses = [s for s in c.synapses if s.type is None]
    op.sort_synapses(c)
    while op.add_conn(c, rng):
        assert_valid(c)
    # 2 inputs + hidden + 2 outputs: hidden has 2 sources, output-0 3, output-1 4
    assert len(c.synapses) == 2 + 3 + 4


def test_sub_conn_never_leaves_a_target_without_inputs():
    rng = random.Random(6)
    c = op.initial_creature(1, 2, rng)
    assert not op.sub_conn(c, rng)  # each output has a single input
    c2 = op.initial_creature(3, 1, rng)
    assert op.sub_conn(c2, rng) and op.sub_conn(c2, rng) and not op.sub_conn(c2, rng)
    assert len(c2.synapses) == 1


def test_mod_squash_into_and_out_of_if_keeps_roles_consistent():
    rng = random.Random(7)
    c = op.initial_creature(2, 1, rng)
    out = c.neurons[-1]
    op.set_squash(c, out, "IF", c.uuid_index(), rng)
    op.sort_synapses(c)
    assert {s.type for s in c.synapses if s.to_uuid == "output-0"} == {"condition", "positive", "negative"}
    assert_valid(c)
    op.set_squash(c, out, "TANH", c.uuid_index(), rng)
    assert all(s.type is None for s in c.synapses)
    assert len({s.from_uuid for s in c.synapses}) == len(c.synapses) == 2  # roles coalesced per source
    assert_valid(c)


def test_swap_nodes_exchanges_bias_and_squash_only():
    c = Creature(1, 1, [Neuron("a", "hidden", 0.1, "TANH"), Neuron("b", "hidden", 0.2, "ReLU"),
                        Neuron("output-0", "output", 0.0, "IDENTITY")],
                 [Synapse("input-0", "a", 1.0), Synapse("input-0", "b", 1.0), Synapse("a", "output-0", 1.0),
                  Synapse("b", "output-0", 1.0)], forward_only=True)
    synapses = [(s.from_uuid, s.to_uuid, s.weight) for s in c.synapses]
    assert op.swap_nodes(c, random.Random(0))
    assert [(n.uuid, n.bias, n.squash) for n in c.neurons[:2]] == [("a", 0.2, "ReLU"), ("b", 0.1, "TANH")]
    assert [(s.from_uuid, s.to_uuid, s.weight) for s in c.synapses] == synapses


def test_mod_weight_changes_one_weight_by_the_quantum_rule():
    rng = random.Random(8)
    c = op.initial_creature(3, 1, rng)
    before = [s.weight for s in c.synapses]
    assert op.mod_weight(c, rng)
    diffs = [abs(a - s.weight) for a, s in zip(before, c.synapses)]
    assert sum(d > 0 for d in diffs) == 1 and max(diffs) <= 1.0  # |w| < 1 or < 10: quantum 1
    big = Synapse("input-0", "output-0", 5000.0)
    c.synapses[0] = big
    for _ in range(50):
        op.mod_weight(c, rng)
    assert all(abs(s.weight) <= op.MAX_ABS for s in c.synapses)


@pytest.mark.parametrize("neurons, p", [(10, 0.75), (99, 0.75), (100, 0.75), (200, 0.825), (300, 0.9), (5000, 0.9)])
def test_weight_bias_preference_grows_with_size(neurons, p):
    assert op.weight_bias_probability(neurons, EvolverConfig()) == pytest.approx(p)


def test_large_creatures_get_no_expansion_mutations(fixtures_dir):
    rng = random.Random(9)
    big = Creature.from_json((fixtures_dir / "large.json").read_text())
    picks = Counter(op.select_method(big, EvolverConfig(), rng) for _ in range(3000))
    assert not picks.keys() & set(op.EXPANSION)
    assert picks["MOD_WEIGHT"] + picks["MOD_BIAS"] > 0.85 * 3000
    small = op.initial_creature(2, 1, rng)
    picks = Counter(op.select_method(small, EvolverConfig(), rng) for _ in range(3000))
    assert picks.keys() >= {"ADD_NODE", "ADD_CONN", "MOD_SQUASH"}
    assert 0.75 * 3000 < picks["MOD_WEIGHT"] + picks["MOD_BIAS"] < 0.9 * 3000


def test_mutation_is_reproducible_from_the_seed():
    def run(seed):
        rng = random.Random(seed)
        c = op.initial_creature(2, 1, rng)
        for _ in range(40):
            op.mutate(c, EvolverConfig(), rng, 2)
        return c.to_dict()

    assert run(1) == run(1) != run(2)


def test_a_mutated_creature_drops_the_trace_of_its_parents_tuning():
    rng = random.Random(0)
    c = op.initial_creature(2, 1, rng)
    c.set_tag("approach", "trained")
    c.set_tag("trained", "YES")
    c.set_tag("input-names", "a,b")  # not a trace: kept
    assert op.mutate(c, EvolverConfig(), rng, 1)
    assert [(t.name, t.value) for t in c.tags] == [("input-names", "a,b")]
