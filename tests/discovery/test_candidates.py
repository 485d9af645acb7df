"""Candidates: each change type's builder applies its suggestion to a copy, validated, repaired
only as a fallback; cache keys follow seed 001's rules."""
from __future__ import annotations

import pytest
from planted_discovery import HIDDEN, planted_creature, planted_result

from neatai.creature import Creature
from neatai.discovery.cache_keys import exponent, key_for, sanitise
from neatai.discovery.candidates import (
    ADD_NEURONS, ADD_SYNAPSES, CACHE_INFORMED_REMOVAL, CHANGE_SQUASH, COORDINATED, REMOVE_LOW_IMPACT, REMOVE_SYNAPSE,
    build, cache_informed_removals,
)
from neatai.discovery.operations import ChangeError, apply, problems
from neatai.discovery.result import DiscoverResult, NeuronRemoval, Operation, SynapseSuggestion


def by_type(candidates):
    out = {}
    for c in candidates:
        out.setdefault(c.change_type, []).append(c)
    return out


def test_every_builder_changes_a_copy_and_leaves_a_valid_creature():
    base = planted_creature()
    before = base.to_json()
    candidates, stats = build(base, planted_result())
    types = by_type(candidates)
    assert set(types) == {ADD_SYNAPSES, ADD_NEURONS, CHANGE_SQUASH, COORDINATED, REMOVE_LOW_IMPACT, REMOVE_SYNAPSE}
    assert base.to_json() == before  # the base is never edited
    for c in candidates:
        assert problems(c.creature) == [], c.description
        assert c.creature.structural_hash() != base.structural_hash()
        Creature.from_json(c.creature.to_dict())  # the loader accepts it as it is
    assert sum(stats.repaired.values()) == 0


def test_add_synapse_adds_exactly_that_synapse():
    (c, _) = by_type(build(planted_creature(), planted_result())[0])[ADD_SYNAPSES]
    added = {(s.from_uuid, s.to_uuid, s.weight) for s in c.creature.synapses} - \
        {(s.from_uuid, s.to_uuid, s.weight) for s in planted_creature().synapses}
    assert added == {("input-1", "output-0", 1.0)}


def test_add_neuron_splices_a_hidden_neuron_between_source_and_target():
    (c,) = by_type(build(planted_creature(), planted_result())[0])[ADD_NEURONS]
    new = [n for n in c.creature.neurons if n.uuid not in {m.uuid for m in planted_creature().neurons}]
    assert len(new) == 1 and new[0].squash == "IDENTITY"
    ends = {(s.from_uuid, s.to_uuid) for s in c.creature.synapses}
    assert ("input-1", new[0].uuid) in ends and (new[0].uuid, "output-0") in ends


def test_removal_takes_the_neuron_and_folds_its_mean_into_the_target_bias():
    base = planted_creature()
    result = DiscoverResult("r", remove_neurons=[NeuronRemoval(HIDDEN, "low-impact", 0.1, impact=0.01, mean_activation=0.5)])
    (c,), _ = build(base, result)
    assert HIDDEN not in {n.uuid for n in c.creature.neurons}
    assert all(HIDDEN not in (s.from_uuid, s.to_uuid) for s in c.creature.synapses)
    assert c.creature.neurons[-1].bias == pytest.approx(0.3 * 0.5)  # synapse weight × mean activation
    assert "impact: 0.01" in c.description


def test_a_suggestion_naming_an_absent_neuron_is_rejected_and_counted():
    result = DiscoverResult("r", add_synapses=[SynapseSuggestion("ghost", "output-0", 1.0, 0.1)])
    candidates, stats = build(planted_creature(), result)
    assert candidates == [] and stats.rejected[ADD_SYNAPSES] == 1


def test_a_backwards_synapse_is_repaired_by_the_dependency_sort_and_counted():
    base = Creature.from_json({
        "input": 1, "output": 1,
        "neurons": [{"uuid": "a", "type": "hidden", "bias": 0, "squash": "TANH"},
                    {"uuid": "b", "type": "hidden", "bias": 0, "squash": "TANH"},
                    {"uuid": "output-0", "type": "output", "bias": 0, "squash": "IDENTITY"}],
        "synapses": [{"fromUUID": "input-0", "toUUID": "a", "weight": 1}, {"fromUUID": "input-0", "toUUID": "b", "weight": 1},
                     {"fromUUID": "a", "toUUID": "output-0", "weight": 1}, {"fromUUID": "b", "toUUID": "output-0", "weight": 1}]})
    later, earlier = base.neurons[1].uuid, base.neurons[0].uuid
    applied = apply(base, (Operation("addSynapse", from_uuid=later, to_uuid=earlier, weight=0.5),))
    assert applied.repaired
    index = applied.creature.uuid_index()
    assert index[later] < index[earlier] and problems(applied.creature) == []


def test_a_change_that_cannot_be_made_valid_raises():
    with pytest.raises(ChangeError, match="output"):
        apply(planted_creature(), (Operation("removeNeuron", neuron_uuid="output-0"),))
    with pytest.raises(ChangeError, match="no synapse"):
        apply(planted_creature(), (Operation("removeSynapse", from_uuid="input-1", to_uuid="output-0"),))


def test_cache_informed_removals_pair_and_triple_past_successes_still_present():
    base = planted_creature()
    assert cache_informed_removals(base, ["gone-1", HIDDEN]) == []  # one present neuron: no pair
    wide = Creature.from_json({
        "input": 1, "output": 1,
        "neurons": [*({"uuid": f"h{i}", "type": "hidden", "bias": 0, "squash": "TANH"} for i in range(5)),
                    {"uuid": "output-0", "type": "output", "bias": 0, "squash": "IDENTITY"}],
        "synapses": [*({"fromUUID": "input-0", "toUUID": f"h{i}", "weight": 1} for i in range(5)),
                     *({"fromUUID": f"h{i}", "toUUID": "output-0", "weight": 1} for i in range(5))]})
    found = cache_informed_removals(wide, [f"h{i}" for i in range(5)] + ["gone"])
    sizes = [len(c.operations) for c in found]
    assert sizes.count(2) == 10 and sizes.count(3) == 6  # capped: 10 of 10 pairs, 6 of 10 triples
    assert found == cache_informed_removals(wide, [f"h{i}" for i in range(5)])  # seeded: the same every time
    assert all(c.change_type == CACHE_INFORMED_REMOVAL for c in found)


def test_weight_exponents_bucket_by_decade():
    assert [exponent(x) for x in (123456.789, 0.000123, -456.78, 0.123, 1234.5, 0.0)] == \
        ["e5", "e-4", "e2", "e-1", "e3", "e-999"]
    assert exponent(0.0042) == exponent(0.0067) == "e-3"


def test_keys_removals_by_uuid_others_by_structure_and_exponents():
    base = planted_creature()
    candidates, _ = build(base, planted_result())
    types = by_type(candidates)
    assert types[REMOVE_LOW_IMPACT][0].key == "h-noise"
    assert types[REMOVE_SYNAPSE][0].key == "input-0_output-0"
    assert types[ADD_NEURONS][0].key.startswith("add-neurons_input-1_output-0_IDENTITY_e0_e-1_e-999")
    # Weight drift inside a decade keeps an add-synapse key; a new decade changes it.
    def synapse_key(w):
        c = apply(base, (Operation("addSynapse", from_uuid="input-1", to_uuid="output-0", weight=w),)).creature
        return key_for(ADD_SYNAPSES, (), c)
    assert synapse_key(0.0042) == synapse_key(0.0067) != synapse_key(0.042)
    assert len(types[ADD_SYNAPSES][0].key) <= 200


def test_keys_are_sanitised_and_long_ones_hashed():
    assert sanitise("a b//c") == "a_b_c"
    long = sanitise("x" * 500)
    assert len(long) <= 200 and long != sanitise("x" * 499)
