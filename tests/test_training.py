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


# ---- optimizer, l1 / l2 and sparseRatio (not NEAT-AI options but for sparseRatio, §4.3) ------

def one_weight(w=0.75, x=10.0, y=5.0):
    """o = w x (bias frozen): one gradient, d(MSE)/dw = 2 x (w x - y), on one record."""
    creature = Creature.from_json({"input": 1, "output": 1, "neurons": [
        {"type": "output", "uuid": "output-0", "bias": 0.0, "squash": "IDENTITY", "frozen": True}],
        "synapses": [{"fromUUID": "input-0", "toUUID": "output-0", "weight": w}]})
    return creature, np.array([[x]], np.float32), np.array([[y]], np.float32)


def test_adam_is_the_default_and_steps_as_adam():
    # Adam's first bias-corrected step is -rate * g / (|g| + eps): 0.01 whatever the gradient's size
    creature, X, Y = one_weight(w=0.75)
    for options in ({}, {"optimizer": "adam"}):
        out = train(creature, X, Y, iterations=1, learningRate=0.01, **options).creature
        assert out.synapses[0].weight == pytest.approx(0.74, abs=1e-6)
    # a plain step is -rate * g = -0.001 * 50
    out = train(creature, X, Y, iterations=1, learningRate=0.001, optimizer="sgd").creature
    assert out.synapses[0].weight == pytest.approx(0.70, abs=1e-6)
    # on a creature with many parameters and NEAT-AI's small rate, adam gets further in 10 passes
    creature, X, Y = problem(4)
    sgd, adam = (train(creature, X, Y, iterations=10, learningRate=0.01, seed=1, optimizer=o).error_after
                 for o in ("sgd", "adam"))
    assert adam < sgd


def test_l1_and_l2_pull_weights_to_zero():
    # one plain step from w = 0.75: the data's gradient 50 plus l2 * w or l1 * sign(w)
    creature, X, Y = one_weight(w=0.75)
    for options, expected in (({}, 0.75 - 0.001 * 50), ({"l2": 10.0}, 0.75 - 0.001 * (50 + 10 * 0.75)),
                              ({"l1": 10.0}, 0.75 - 0.001 * (50 + 10))):
        out = train(creature, X, Y, iterations=1, learningRate=0.001, optimizer="sgd", **options).creature
        assert out.synapses[0].weight == pytest.approx(expected, abs=1e-6)
    creature, X, Y = problem(5)
    plain = train(creature, X, Y, iterations=20, learningRate=0.05, seed=2)
    shrunk = train(creature, X, Y, iterations=20, learningRate=0.05, seed=2, l2=2.0)
    sparse_l1 = train(creature, X, Y, iterations=20, learningRate=0.05, seed=2, l1=0.05)
    norm = lambda c: sum(s.weight ** 2 for s in c.synapses)  # noqa: E731
    assert norm(shrunk.creature) < 0.9 * norm(plain.creature)
    zeros = lambda c: sum(abs(s.weight) < 0.05 for s in c.synapses)  # noqa: E731
    assert zeros(sparse_l1.creature) > zeros(plain.creature)


def test_sparse_ratio_updates_a_seeded_fraction_of_the_parameters():
    creature, X, Y = problem(6)
    one_step = dict(iterations=1, batchSize=len(X), learningRate=0.05, optimizer="sgd")

    def moved(result):
        return (sum(a.weight != b.weight for a, b in zip(creature.synapses, result.creature.synapses))
                + sum(a.bias != b.bias for a, b in zip(creature.neurons, result.creature.neurons)))

    every = moved(train(creature, X, Y, seed=3, **one_step))
    half = [train(creature, X, Y, seed=s, sparseRatio=0.5, **one_step) for s in (3, 3, 4)]
    assert 0.3 * every < moved(half[0]) < 0.7 * every
    assert half[0].creature.to_json() == half[1].creature.to_json()   # seeded
    assert half[0].creature.to_json() != half[2].creature.to_json()   # drawn, not a fixed subset
    trained = train(creature, X, Y, iterations=20, seed=3, sparseRatio=0.3)
    assert trained.error_after < 0.5 * trained.error_before


@pytest.mark.parametrize("options, message", [
    ({"optimizer": "rmsprop"}, "optimizer: must be one of sgd, adam, got 'rmsprop'"),
    ({"l1": -0.1}, "l1: must be finite and >= 0, got -0.1"),
    ({"l2": float("inf")}, "l2: must be finite and >= 0, got inf"),
    ({"sparseRatio": 0}, r"sparseRatio: must be in \(0, 1\], got 0"),
    ({"sparseRatio": 1.5}, r"sparseRatio: must be in \(0, 1\], got 1.5"),
    ({"sparseRatio": "half"}, "sparseRatio: expected a number, got 'half'"),
])
def test_new_options_are_checked(options, message):
    with pytest.raises(ValueError, match=message):
        train_options(options, np.random.default_rng(0))


def test_new_options_round_trip_through_train_options_proto():
    from neatai.training_options import option_problems, options_from_proto, options_to_proto
    options = {"optimizer": "sgd", "l1": 0.01, "l2": 0.5, "sparseRatio": 0.25, "learningRateStrategy": "decay"}
    msg = options_to_proto(options)
    assert (msg.optimizer, msg.sparse_ratio) == (1, 0.25)
    assert options_from_proto(msg) == options
    assert "optimizer" not in options_from_proto(options_to_proto({}))   # unset: the default
    msg.optimizer = 9
    assert option_problems(options_from_proto(msg)) == [
        ("optimizer", "must be one of sgd, adam, got 'Optimizer value 9'")]


def test_a_trained_copy_carries_neat_ai_trace_of_the_training():
    creature, X, Y = problem()
    r = train(creature, X, Y, iterations=5, learningRate=0.1, seed=1)
    assert r.error_after < r.error_before
    tags = {t.name: t.value for t in r.creature.tags}
    assert (tags["approach"], tags["trained"]) == ("trained", "YES")
    assert (float(tags["untrained-error"]), float(tags["error"])) == (r.error_before, r.error_after)
    m = r.creature.memetic
    given = {(s.from_uuid, s.to_uuid): s.weight for s in creature.synapses}
    originals = {(w["fromUUID"], w["toUUID"]): w["weight"] for w in m["weights"]}
    assert m["generation"] == 1 and originals and all(given[k] == v for k, v in originals.items())
    assert m["biases"] == {n.uuid: n.bias for n in creature.neurons if n.uuid in m["biases"]}
    assert tags["adjusted"] == f"{len(m['weights'])} weights, {len(m['biases'])} biases"
    again = train(r.creature, X, Y, iterations=2, learningRate=0.1, seed=2)
    assert again.creature.memetic["generation"] == 2 and again.creature.memetic["ancestry"][0]["generation"] == 1
    assert Creature.from_json(again.creature.to_dict()).to_dict() == again.creature.to_dict()
    assert creature.tags is None and creature.memetic is None  # the given creature is not changed
