"""The creature model: NEAT-AI JSON in and out, protobuf round trips, validation, hashes."""
from __future__ import annotations

import copy
import json
import math
import random

import pytest

from neatai import squash
from neatai.creature import Creature, CreatureError, Limits

# reference/neat-ai.md §1.3 (the NEAT-AI-core test fixture)
MINIMAL = {
    "input": 2, "output": 1,
    "neurons": [
        {"type": "hidden", "uuid": "hidden-1", "bias": 0.0, "squash": "TANH"},
        {"type": "output", "uuid": "output-0", "bias": 0.0, "squash": "IDENTITY"},
    ],
    "synapses": [
        {"fromUUID": "input-0", "toUUID": "hidden-1", "weight": 1.0},
        {"fromUUID": "input-1", "toUUID": "hidden-1", "weight": 0.5},
        {"fromUUID": "hidden-1", "toUUID": "output-0", "weight": 1.0},
    ],
    "forwardOnly": True,
}

# §9.2 G3: two-hidden MLP
G3 = {
    "input": 2, "output": 1,
    "neurons": [
        {"type": "hidden", "uuid": "a", "bias": 0.1, "squash": "LOGISTIC"},
        {"type": "hidden", "uuid": "b", "bias": -0.2, "squash": "TANH"},
        {"type": "output", "uuid": "output-0", "bias": 0.05, "squash": "IDENTITY"},
    ],
    "synapses": [
        {"fromUUID": "input-0", "toUUID": "a", "weight": 0.5}, {"fromUUID": "input-1", "toUUID": "a", "weight": -0.4},
        {"fromUUID": "input-0", "toUUID": "b", "weight": 0.3}, {"fromUUID": "input-1", "toUUID": "b", "weight": 0.8},
        {"fromUUID": "a", "toUUID": "output-0", "weight": 1.2}, {"fromUUID": "b", "toUUID": "output-0", "weight": -0.7},
    ],
}

# §9.2 G4: MAXIMUM / MINIMUM outputs fed by a constant
G4 = {
    "input": 2, "output": 2,
    "neurons": [
        {"type": "constant", "uuid": "k", "bias": 0.5},
        {"type": "output", "uuid": "output-0", "bias": 0.1, "squash": "MAXIMUM"},
        {"type": "output", "uuid": "output-1", "bias": -0.1, "squash": "MINIMUM"},
    ],
    "synapses": [
        {"fromUUID": s, "toUUID": o, "weight": w}
        for s, w in (("input-0", 2.0), ("input-1", -1.0), ("k", 1.0)) for o in ("output-0", "output-1")
    ],
}

# §9.2 G-A: IF with typed roles, plus tags and memetic data (§1.3 memetic shape)
G_A = {
    "input": 3, "output": 1, "semanticVersion": "4.0.0",
    "neurons": [
        {"type": "hidden", "uuid": "h", "bias": -0.5, "squash": "IDENTITY"},
        {"type": "output", "uuid": "output-0", "bias": 0.0, "squash": "IF", "tags": [{"name": "CRISPR", "value": "x"}]},
    ],
    "synapses": [
        {"fromUUID": "input-0", "toUUID": "output-0", "weight": 1.0, "type": "negative"},
        {"fromUUID": "input-1", "toUUID": "h", "weight": 1.0},
        {"fromUUID": "input-2", "toUUID": "output-0", "weight": 1.0, "type": "positive", "frozen": True},
        {"fromUUID": "h", "toUUID": "output-0", "weight": 1.0, "type": "condition"},
    ],
    "tags": [{"name": "error", "value": "0.1"}],
    "memetic": {"generation": 3, "score": 0.912,
                "weights": [{"fromUUID": "input-1", "toUUID": "h", "weight": 0.98}],
                "biases": {"h": 0.01},
                "ancestry": [{"generation": 2, "score": 0.905, "weights": [], "biases": {}}]},
    "hyperparameters": {"learningRate": 0.01, "strategy": "decay"},
}

EXAMPLES = {"minimal": MINIMAL, "G3": G3, "G4": G4, "G-A": G_A}


def random_creature(rng: random.Random) -> dict:
    """A random valid forward-only creature in NEAT-AI JSON, exercising every optional field."""
    n_in, n_out, n_hidden = rng.randint(1, 5), rng.randint(1, 3), rng.randint(0, 8)
    names = [s.name for s in squash.SQUASHES if s.name != "IF"]
    neurons = []
    for h in range(n_hidden):
        if rng.random() < 0.1:
            neurons.append({"type": "constant", "uuid": f"c{h}", "bias": rng.uniform(-1, 1)})
        else:
            neurons.append({"type": "hidden", "uuid": f"h{h}", "bias": rng.uniform(-1, 1), "squash": rng.choice(names)})
    for o in range(n_out):
        neurons.append({"type": "output", "uuid": f"output-{o}", "bias": rng.uniform(-1, 1), "squash": rng.choice(names)})
    sources = [f"input-{i}" for i in range(n_in)]
    synapses = []
    for n in neurons:
        if n["type"] != "constant":
            for src in rng.sample(sources, k=rng.randint(1, len(sources))):
                s = {"fromUUID": src, "toUUID": n["uuid"], "weight": rng.uniform(-3, 3)}
                if rng.random() < 0.2:
                    s["type"] = rng.choice(["positive", "negative"])
                if rng.random() < 0.1:
                    s["frozen"] = rng.random() < 0.5
                synapses.append(s)
        sources.append(n["uuid"])
    d = {"input": n_in, "output": n_out, "neurons": neurons, "synapses": synapses}
    if rng.random() < 0.5:
        d["semanticVersion"] = "4.0.0"
    if rng.random() < 0.5:
        d["forwardOnly"] = True
    if rng.random() < 0.5:
        d["tags"] = [{"name": "score", "value": str(rng.random())}]
    return d


def sorted_synapses(d: dict) -> dict:
    """NEAT-AI keeps synapses sorted by (from, to); compare independently of file order."""
    d = copy.deepcopy(d)
    d["synapses"].sort(key=lambda s: (s["fromUUID"], s["toUUID"], s.get("type", "")))
    return d


@pytest.mark.parametrize("name", EXAMPLES)
def test_json_model_proto_model_json_round_trip_is_exact(name):
    original = EXAMPLES[name]
    creature = Creature.from_json(json.dumps(original))
    again = Creature.from_proto(creature.to_proto())
    assert sorted_synapses(again.to_dict()) == sorted_synapses(original)
    assert again.structural_hash() == creature.structural_hash()


def test_round_trip_is_exact_on_random_creatures():
    rng = random.Random(7)
    for _ in range(300):
        original = random_creature(rng)
        creature = Creature.from_json(original)
        wire = creature.to_proto().SerializeToString()
        from neatai.v1 import creature_pb2

        back = Creature.from_proto(creature_pb2.Creature.FromString(wire))
        assert sorted_synapses(back.to_dict()) == sorted_synapses(original)


def test_every_fixture_loads(fixtures_dir):
    files = sorted(fixtures_dir.glob("*.json"))
    assert len(files) >= 8
    for path in files:
        creature = Creature.from_json(path.read_text())
        assert creature.neurons[-creature.output:] == [n for n in creature.neurons if n.type == "output"]
        assert Creature.from_json(creature.to_json()).structural_hash() == creature.structural_hash()


def test_large_production_creature(fixtures_dir):
    c = Creature.from_json((fixtures_dir / "large.json").read_text())
    assert (c.input, len(c.neurons), c.output) == (653, 424, 1)
    assert not c.recurrent
    index = c.uuid_index()
    assert all(index[s.from_uuid] < index[s.to_uuid] for s in c.synapses)


def test_recurrent_files_load_as_recurrent(fixtures_dir):
    for name in ("NARX.json", "XOR.json"):  # self synapses, no forwardOnly declared
        c = Creature.from_json((fixtures_dir / name).read_text())
        assert c.recurrent and c.forward_only is None
        assert any(s.from_uuid == s.to_uuid for s in c.synapses)


def test_declared_forward_only_with_self_synapse_is_an_error(fixtures_dir):
    d = json.loads((fixtures_dir / "NARX.json").read_text())
    d["forwardOnly"] = True
    with pytest.raises(CreatureError) as e:
        Creature.from_json(d)
    assert any(p.path == "synapses[1]" and "self synapse" in p.message for p in e.value.problems)


def test_legacy_aliases_and_deprecated_aggregates_load():
    d = copy.deepcopy(G3)
    d["neurons"][0]["squash"] = "RELU"
    d["neurons"][1]["squash"] = "CLIPPED"
    d["neurons"][2]["squash"] = "SINUSOID"
    c = Creature.from_json(d)
    assert [n.squash for n in c.neurons] == ["ReLU", "HARD_TANH", "SINE"]
    for legacy, canonical in (("INVERSE", "COMPLEMENT"), ("HYPOT", "HYPOT"), ("MEAN", "MEAN")):
        d["neurons"][0]["squash"] = legacy
        assert Creature.from_json(d).neurons[0].squash == canonical


def test_legacy_nodes_and_connections_keys_and_missing_version():
    d = copy.deepcopy(MINIMAL)
    d["nodes"] = d.pop("neurons")
    d["connections"] = d.pop("synapses")
    c = Creature.from_json(d)
    assert c.semantic_version is None and len(c.neurons) == 2 and len(c.synapses) == 3


def test_outputs_are_renamed_by_position_and_synapses_follow():
    d = copy.deepcopy(G3)
    d["neurons"][2]["uuid"] = "9f7c-old-output"
    for s in d["synapses"]:
        if s["toUUID"] == "output-0":
            s["toUUID"] = "9f7c-old-output"
    c = Creature.from_json(d)
    assert c.neurons[-1].uuid == "output-0"
    assert sum(s.to_uuid == "output-0" for s in c.synapses) == 2


def test_neurons_out_of_dependency_order_are_resorted():
    d = copy.deepcopy(G3)
    d["synapses"].append({"fromUUID": "b", "toUUID": "a", "weight": 0.25})  # a now depends on b
    d["neurons"] = [d["neurons"][2], d["neurons"][0], d["neurons"][1]]  # and the output first
    c = Creature.from_json(d)
    assert [n.uuid for n in c.neurons] == ["b", "a", "output-0"]
    assert not c.recurrent


def test_hashes_are_stable_under_key_order_and_topology_ignores_weights():
    a = Creature.from_json(json.dumps(G3))
    shuffled = {k: G3[k] for k in reversed(list(G3))}
    shuffled["synapses"] = [dict(reversed(list(s.items()))) for s in reversed(G3["synapses"])]
    b = Creature.from_json(json.dumps(shuffled))
    assert a.structural_hash() == b.structural_hash()
    heavier = copy.deepcopy(G3)
    heavier["synapses"][0]["weight"] = 9.0
    heavier["neurons"][0]["bias"] = 3.0
    c = Creature.from_json(heavier)
    assert c.structural_hash() != a.structural_hash()
    assert c.topology_hash() == a.topology_hash()
    rewired = copy.deepcopy(G3)
    rewired["neurons"][0]["squash"] = "ReLU"
    assert Creature.from_json(rewired).topology_hash() != a.topology_hash()


def _broken(mutate) -> dict:
    d = copy.deepcopy(G_A)
    mutate(d)
    return d


def _set(path, value):
    def mutate(d):
        target = d
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


INVALID = [
    # (case, mutation, expected path, words the message must contain)
    ("unknown squash", _set(["neurons", 0, "squash"], "FOO"), "neurons[0].squash", "unknown squash 'FOO'"),
    ("unknown target", _set(["synapses", 3, "toUUID"], "h9"), "synapses[3].toUUID", "unknown neuron 'h9'"),
    ("unknown source", _set(["synapses", 1, "fromUUID"], "input-7"), "synapses[1].fromUUID", "unknown neuron 'input-7'"),
    ("duplicate uuid", lambda d: d["neurons"].insert(1, {"type": "hidden", "uuid": "h", "bias": 0, "squash": "TANH"}),
     "neurons[1].uuid", "duplicate uuid 'h'"),
    ("synapse into an input", _set(["synapses", 1, "toUUID"], "input-0"), "synapses[1].toUUID", "cannot end at input 'input-0'"),
    ("synapse into a constant", lambda d: (d["neurons"].insert(0, {"type": "constant", "uuid": "k", "bias": 1}),
                                           d["synapses"].append({"fromUUID": "input-0", "toUUID": "k", "weight": 1})),
     "synapses[4].toUUID", "cannot end at constant 'k'"),
    ("self synapse in forward-only", lambda d: (d.update(forwardOnly=True),
                                               d["synapses"].append({"fromUUID": "h", "toUUID": "h", "weight": 1})),
     "synapses[4]", "self synapse on 'h'"),
    ("back synapse in forward-only", lambda d: (d.update(forwardOnly=True),
                                               d["neurons"].insert(1, {"type": "hidden", "uuid": "g", "bias": 0, "squash": "TANH"}),
                                               d["synapses"].append({"fromUUID": "h", "toUUID": "g", "weight": 1}),
                                               d["synapses"].append({"fromUUID": "g", "toUUID": "h", "weight": 1})),
     "synapses[5]", "back synapse 'g' -> 'h'"),
    ("non-finite bias", _set(["neurons", 0, "bias"], math.nan), "neurons[0].bias", "must be finite"),
    ("non-finite weight", _set(["synapses", 2, "weight"], math.inf), "synapses[2].weight", "must be finite"),
    ("IF without its roles", _set(["synapses", 3, "type"], "positive"), "neurons[1].squash", "lacks inward synapses for the condition role"),
    ("output count mismatch", _set(["output"], 2), "output", "declares 2 outputs but neurons has 1"),
    ("too many inputs", _set(["input"], 10**7), "input", "must be between 1 and"),
    ("input not an integer", _set(["input"], "three"), "input", "expected an integer"),
    ("unknown synapse type", _set(["synapses", 0, "type"], "maybe"), "synapses[0].type", "unknown synapse type 'maybe'"),
    ("unknown neuron type", _set(["neurons", 0, "type"], "bias"), "neurons[0].type", "unknown neuron type 'bias'"),
    ("weight missing", lambda d: d["synapses"][0].pop("weight"), "synapses[0].weight", "required"),
    ("squash on a constant", lambda d: d["neurons"].insert(0, {"type": "constant", "uuid": "k", "bias": 1, "squash": "TANH"}),
     "neurons[0].squash", "a constant has no squash"),
]


@pytest.mark.parametrize("case,mutate,path,words", INVALID, ids=[c[0] for c in INVALID])
def test_each_invalid_case_names_the_problem_and_its_place(case, mutate, path, words):
    with pytest.raises(CreatureError) as e:
        Creature.from_json(json.dumps(_broken(mutate)) if case not in ("non-finite bias", "non-finite weight")
                           else _broken(mutate))
    problems = {p.path: p.message for p in e.value.problems}
    assert path in problems, f"{case}: got {e.value.problems}"
    assert words in problems[path]
    assert "Traceback" not in str(e.value)


def test_validation_reports_every_problem_not_just_the_first():
    d = copy.deepcopy(G_A)
    d["neurons"][0]["squash"] = "FOO"
    d["synapses"][2]["weight"] = math.nan
    d["output"] = 0
    with pytest.raises(CreatureError) as e:
        Creature.from_json(d)
    assert {"neurons[0].squash", "synapses[2].weight", "output"} <= {p.path for p in e.value.problems}


def test_size_limits_are_configurable():
    limits = Limits(max_neurons=2, max_synapses=3)
    with pytest.raises(CreatureError) as e:
        Creature.from_json(G3, limits)
    assert {p.path for p in e.value.problems} == {"neurons", "synapses"}
    assert "exceed the limit of 2" in str(e.value)


def test_text_that_is_not_json_is_reported_at_the_root():
    with pytest.raises(CreatureError) as e:
        Creature.from_json("{not json")
    assert e.value.problems[0].path == "$"


def test_structural_hash_values_are_pinned():
    """Run checkpoints and the evolver's caches store these ids: the digested bytes must not drift
    (values computed by the original pure-Python implementation)."""
    assert Creature.from_json(MINIMAL).structural_hash() == "9b346473a3216010e49d36bc6e213e1e"
    assert Creature.from_json(G_A).structural_hash() == "fdf297c9dce8ce00ebf1c8fc6e4bb94d"
