"""train(..., syntheticSynapses=True) (NEAT-AI TrainOptions.syntheticSynapses, reference/neat-ai.md
§4.3): gradient descent grows a connection the creature lacks, the synapses it left at 0 are
pruned, the result is a valid creature no worse than the one given, and the options
(syntheticSynapses, maxPerTarget, NEAT-AI's `generations` for the passes) are checked by name."""
from __future__ import annotations

import numpy as np
import pytest

from neatai.creature import Creature
from neatai.evaluator import compile_network, evaluate_population
from neatai.evaluator.training import train, train_options
from neatai.training_options import option_problems, options_from_proto, options_to_proto

# y = 0.5 x0 - 0.8 x1 through a creature that only reads x0; x2 is always 0 (no gradient ever).
SPARSE = {"input": 3, "output": 1,
          "neurons": [{"type": "output", "uuid": "output-0", "bias": 0.0, "squash": "IDENTITY"}],
          "synapses": [{"fromUUID": "input-0", "toUUID": "output-0", "weight": 0.1}]}
OPTIONS = dict(iterations=40, learningRate=0.05, seed=5)


def data(n=256):
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, (n, 3)).astype(np.float32)
    X[:, 2] = 0
    return X, (0.5 * X[:, :1] - 0.8 * X[:, 1:2]).astype(np.float32)


def error_of(creature, X, Y):
    return float(evaluate_population([compile_network(creature)], X, Y, "MSE")[0])


def test_a_missing_synapse_is_grown_and_the_unused_ones_pruned():
    creature, (X, Y) = Creature.from_json(SPARSE), data()
    plain = train(creature, X, Y, **OPTIONS)
    grown = train(creature, X, Y, syntheticSynapses=True, **OPTIONS)
    assert plain.error_after > 0.15  # x1's part (0.64 * var(x1) = 0.21) is out of its reach
    assert grown.error_after < 0.01 < plain.error_after / 10
    pairs = {(s.from_uuid, s.to_uuid): s.weight for s in grown.creature.synapses}
    assert set(pairs) == {("input-0", "output-0"), ("input-1", "output-0")}  # input-2's stayed 0: pruned
    assert pairs[("input-1", "output-0")] < -0.5
    again = Creature.from_json(grown.creature.to_dict())  # a valid creature, as it round-trips
    assert again.to_dict() == grown.creature.to_dict()
    assert error_of(grown.creature, X, Y) == pytest.approx(grown.error_after, rel=1e-6)
    assert len(creature.synapses) == 1  # the given creature is not changed


def test_never_worse_and_unchanged_when_nothing_helps():
    creature, (X, _) = Creature.from_json(SPARSE), data()
    creature.synapses[0].weight = 0.125
    Y = X[:, :1] * np.float32(0.125)  # error exactly 0: no pass can improve it
    r = train(creature, X, Y, syntheticSynapses=True, **OPTIONS)
    assert r.error_after == r.error_before
    assert r.creature.to_dict() == creature.to_dict()


def test_max_per_target_caps_the_grown_synapses():
    creature, (X, Y) = Creature.from_json(SPARSE), data()
    X[:, 2] = np.random.default_rng(2).uniform(-1, 1, len(X))  # now every input has a gradient
    capped = train(creature, X, Y, syntheticSynapses=True, maxPerTarget=1, **OPTIONS)
    # one synthetic source of the two candidates (input-1, input-2), the first of an even spacing
    assert {(s.from_uuid, s.to_uuid) for s in capped.creature.synapses} == {("input-0", "output-0"),
                                                                            ("input-1", "output-0")}


def test_generations_is_neat_ai_name_for_the_passes():
    creature, (X, Y) = Creature.from_json(SPARSE), data()
    assert train(creature, X, Y, generations=3, learningRate=0.05, seed=5).iterations == 3
    assert train_options({"generations": 7}, np.random.default_rng(0))["iterations"] == 7
    assert options_from_proto(options_to_proto({"generations": 7})) == {"iterations": 7}


@pytest.mark.parametrize("options, problem", [
    ({"maxPerTarget": 0}, ("maxPerTarget", "must be at least 1, got 0")),
    ({"maxPerTarget": "all"}, ("maxPerTarget", "expected a number, got 'all'")),
    ({"maxPerTarget": 2.5}, ("maxPerTarget", "expected a whole number, got 2.5")),
    ({"syntheticSynapses": 1}, ("syntheticSynapses", "expected true or false, got 1")),
    ({"generations": 0}, ("generations", "must be at least 1, got 0")),
    ({"generations": 3, "iterations": 4}, ("generations", "names the same option as iterations: give one of them")),
])
def test_bad_options_are_named(options, problem):
    assert option_problems(options) == [problem]


def test_options_travel_in_train_options():
    msg = options_to_proto({"syntheticSynapses": True, "maxPerTarget": 20})
    assert (msg.synthetic_synapses, msg.max_per_target) == (True, 20)
    assert options_from_proto(msg) == {"syntheticSynapses": True, "maxPerTarget": 20}
    assert options_from_proto(options_to_proto({})) == {}  # unset: off, 50
