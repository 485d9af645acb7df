"""neatai.evaluator.training.train: gradient descent with NEAT-AI's options, learning-rate
strategies (reference/neat-ai.md §4.2) and limits; never worse than the creature it was given."""
from __future__ import annotations

import math

import numpy as np
import pytest

import reference_activation as ref
from neatai.creature import Creature
from neatai.evaluator import compile_network, evaluate_population
from neatai.evaluator.training import DEFAULTS, learning_rate, train, train_options


def problem(seed=0, n=256):
    rng = np.random.default_rng(seed)
    creature = ref.random_creature(rng, n_hidden=8, squash_names=["TANH", "LOGISTIC", "IDENTITY", "ReLU"])
    X = rng.uniform(-1, 1, (n, 3)).astype(np.float32)
    Y = np.stack([0.5 * np.sin(X[:, 0]) + 0.2 * X[:, 1], X[:, 2] * X[:, 1]], 1).astype(np.float32)
    return creature, X, Y


def error_of(creature, X, Y, cost="MSE"):
    return evaluate_population([compile_network(creature)], X, Y, cost)[0]


@pytest.mark.parametrize("strategy", ["fixed", "decay", "adaptive", "warm_restart"])
def test_every_strategy_lowers_the_error(strategy):
    creature, X, Y = problem()
    original = creature.to_json()
    result = train(creature, X, Y, iterations=20, learningRateStrategy=strategy, learningRate=0.1,
                   initialLearningRate=0.1, seed=1)
    assert result.learning_rate_strategy == strategy and result.iterations == 20
    assert result.error_before == error_of(creature, X, Y)
    assert result.error_after == error_of(result.creature, X, Y)   # as Evaluate reports it
    assert result.error_after < 0.2 * result.error_before
    assert creature.to_json() == original                          # the given creature is untouched


def test_never_worse_than_given():
    """o = w x with x = 10, target 5 (w* = 0.5), from w = 0.75: every step is clipped to
    maximumWeightAdjustmentScale = 1, so w swings 0.75 -> -0.25 -> 0.75 (exact in binary) and no
    pass beats the start: the creature comes back as given."""
    creature = Creature.from_json({"input": 1, "output": 1, "neurons": [
        {"type": "output", "uuid": "output-0", "bias": 0.0, "squash": "IDENTITY", "frozen": True}],
        "synapses": [{"fromUUID": "input-0", "toUUID": "output-0", "weight": 0.75}]})
    X, Y = np.array([[10.0]], np.float32), np.array([[5.0]], np.float32)
    result = train(creature, X, Y, iterations=3, learningRate=1.0)
    assert result.error_before == result.error_after == 6.25
    assert result.creature.to_json() == creature.to_json() and result.creature is not creature
    # at a minimum the gradient is 0 and nothing moves either
    creature.synapses[0].weight = 0.5
    assert train(creature, X, Y, iterations=2).error_after == 0


def test_frozen_genes_and_constants_stay_and_limits_hold():
    creature, X, Y = problem(2)
    creature.synapses[0].frozen = True
    creature.neurons[3].frozen = True
    result = train(creature, X, Y, iterations=5, learningRate=1.0, maximumWeightAdjustmentScale=0.01,
                   maximumBiasAdjustmentScale=0.01, limitWeightScale=1.2, seed=0)
    out = result.creature
    assert out.synapses[0].weight == creature.synapses[0].weight
    assert out.neurons[3].bias == creature.neurons[3].bias
    for old, new in zip(creature.neurons, out.neurons):
        if old.type == "constant":
            assert new.bias == old.bias
    # each step moves a weight by at most 0.01; the limit pulls a moved weight within +-1.2
    steps = 5 * math.ceil(len(X) / DEFAULTS["batchSize"])
    moved = [abs(a.weight - b.weight) for a, b in zip(creature.synapses, out.synapses) if abs(a.weight) <= 1.2]
    assert 0 < max(moved) <= 0.01 * steps + 1e-6
    assert all(abs(s.weight) <= 1.2 + 1e-6 or s.weight == o.weight for s, o in zip(out.synapses, creature.synapses))
    assert any(abs(o.weight) > 1.2 >= abs(s.weight) for s, o in zip(out.synapses, creature.synapses))


def test_target_error_stops_early_and_feedback_loop_trains_recurrent_creatures():
    creature, X, Y = problem(3)
    first = train(creature, X, Y, iterations=50, learningRate=0.1, seed=0)
    stopped = train(creature, X, Y, iterations=50, learningRate=0.1, seed=0,
                    targetError=(first.error_before + first.error_after) / 2)
    assert stopped.iterations < 50
    rng = np.random.default_rng(4)
    recurrent = ref.random_creature(rng, n_hidden=6, squash_names=["TANH", "IDENTITY"], recurrent=True)
    result = train(recurrent, X[:64], Y[:64], feedback_loop=True, iterations=10, learningRate=0.05, batchSize=16)
    assert result.error_after < result.error_before
    assert result.error_after == evaluate_population([compile_network(result.creature)], X[:64], Y[:64],
                                                     feedback_loop=True)[0]


def test_learning_rate_strategies_as_coded():
    o = train_options({"initialLearningRate": 0.1, "learningRateDecay": 0.5, "warmRestartPeriod": 3,
                       "learningRateStrategy": "decay"}, np.random.default_rng(0))
    assert [learning_rate(o, t) for t in range(3)] == pytest.approx([0.1, 0.05, 0.025])
    o["learningRateStrategy"] = "warm_restart"   # geometric within each period, not cosine
    assert [learning_rate(o, t) for t in range(5)] == pytest.approx([0.1, 0.05, 0.025, 0.1, 0.05])
    o["learningRateStrategy"] = "adaptive"
    root = math.sqrt(0.5)
    assert learning_rate(o, 2) == pytest.approx(0.1 * root ** 2)
    assert learning_rate(o, 2, 0.5) == pytest.approx(0.1 * root ** 2 * 1.1)
    assert learning_rate(o, 2, 0.97) == pytest.approx(0.1 * root ** 2 * 1.3)
    assert learning_rate(o, 2, 1.5) == pytest.approx(0.1 * root ** 2 / 1.5)
    assert learning_rate(o, 2, 4.0) == pytest.approx(0.1 * root ** 2 * 0.5)
    # clamps and the strategy a given learningRate implies
    o = train_options({"learningRate": 5, "learningRateDecay": 0.01, "warmRestartPeriod": 1}, np.random.default_rng(0))
    assert (o["learningRate"], o["learningRateDecay"], o["warmRestartPeriod"], o["learningRateStrategy"]) == \
        (1.0, 0.1, 2, "fixed")
    drawn = {train_options({}, np.random.default_rng(s))["learningRateStrategy"] for s in range(40)}
    assert drawn == {"fixed", "decay", "adaptive", "warm_restart"}
    with pytest.raises(ValueError, match="unknown training option"):
        train_options({"learning_rate": 0.1}, np.random.default_rng(0))
    with pytest.raises(ValueError, match="learningRateStrategy"):
        train_options({"learningRateStrategy": "cosine"}, np.random.default_rng(0))
