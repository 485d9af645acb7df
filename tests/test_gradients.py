"""Exact gradients (backprop.pyx through neatai.evaluator.training.gradients) against central
finite differences of the float64 reference (reference_gradients.py), and the routing rules
that finite differences cannot see (frozen genes, constants, condition synapses, clamps)."""
from __future__ import annotations

import random

import numpy as np
import pytest

import reference_activation as ref
import reference_gradients as rg
from neatai.costs import COST_NAMES
from neatai.creature import Creature
from neatai.evaluator import backprop, compile_network, evaluate_population, trainable_network
from neatai.evaluator.training import gradients
from neatai.squash import SQUASHES

BOUND = 1e-3   # bench/RESULTS.md "Gradients": worst 2.2e-4 where the float64 target is well-conditioned


def creature_and_data(seed, n_hidden=38, recurrent=False, records=8):
    rng = np.random.default_rng(seed)
    creature = rg.float32_parameters(ref.random_creature(rng, n_hidden=n_hidden, recurrent=recurrent))
    X = rng.uniform(-1, 1, (records, creature.input)).astype(np.float32)
    Y = rng.uniform(0.1, 0.9, (records, creature.output)).astype(np.float32)
    return creature, X, Y


def check(creature, X, Y, cost="MSE", feedback_loop=False):
    X, Y = rg.clean_records(creature, X, Y, cost, feedback_loop)
    assert len(X) >= 3
    got = gradients(creature, X, Y, cost, feedback_loop)
    assert got.weights.dtype == np.float64 and got.weights.shape == (len(creature.synapses),)
    assert got.biases.shape == (len(creature.neurons),)
    # the error is evaluate_population's, bit for bit
    assert got.error == evaluate_population([compile_network(creature)], X, Y, cost, feedback_loop=feedback_loop)[0]
    assert got.error == pytest.approx(rg.error(creature, X, Y, cost, feedback_loop), rel=1e-5)
    fw, fb = rg.finite_differences(creature, X, Y, cost, feedback_loop)
    assert np.abs(fw).max() > 0
    worst = rg.relative_error(np.r_[got.weights, got.biases], np.r_[fw, fb])
    assert worst < BOUND, f"worst relative error {worst:.2e}"
    return got


# Seed 2 is left out of the feedback loop: its recurrence is chaotic, the float64 gradient itself
# moves by ~10 % when the parameters move by float32 rounding (rg.sensitivity), so no float32
# kernel can match it; bench_gradients.py reports such creatures in its table.
@pytest.mark.parametrize("recurrent, feedback_loop, seed", [
    (False, False, 0), (False, False, 1), (True, False, 0), (True, False, 1), (True, True, 0), (True, True, 3)])
def test_gradients_match_finite_differences_with_every_squash_and_aggregate(recurrent, feedback_loop, seed):
    creature, X, Y = creature_and_data(seed, recurrent=recurrent)
    used = {n.squash_name for n in creature.neurons if n.type != "constant"}
    assert used == {s.name for s in SQUASHES}  # every squash and aggregate, SOFTMAX on an output
    assert any(n.type == "constant" for n in creature.neurons)
    assert {s.type for s in creature.synapses} == {None, "condition", "positive", "negative"}
    assert creature.recurrent == recurrent
    check(creature, X, Y, feedback_loop=feedback_loop)


@pytest.mark.parametrize("cost", COST_NAMES)
def test_every_cost(cost):
    creature, X, Y = creature_and_data(3, n_hidden=12, records=12)
    check(creature, X, Y, cost)


def test_one_step_and_truncated_bptt_in_closed_form():
    """o_r = w x_r + u o_{r-1} (IDENTITY output, self synapse u), MSE: without feedback o_{r-1}
    reads 0, so dE/du = 0; with it the exact gradient sums over the whole history, and a
    window of one record keeps only o_{r-1} as a constant input."""
    w, u = 0.75, 0.5
    creature = Creature.from_json({"input": 1, "output": 1, "forwardOnly": False, "neurons": [
        {"type": "output", "uuid": "output-0", "bias": 0.0, "squash": "IDENTITY"}], "synapses": [
        {"fromUUID": "input-0", "toUUID": "output-0", "weight": w},
        {"fromUUID": "output-0", "toUUID": "output-0", "weight": u}]})
    x = np.array([1.0, -0.5, 0.25, 2.0], np.float32)
    t = np.array([0.5, 0.1, -0.3, 0.8], np.float32)
    X, Y = x[:, None], t[:, None]
    n = len(x)
    o, previous = np.zeros(n), 0.0
    for r in range(n):
        o[r] = previous = w * x[r] + u * previous
    before = np.r_[0.0, o[:-1]]
    e = -2 * (t - o) / n  # dE/do_r
    do_dw, do_du = np.zeros(n), np.zeros(n)  # total derivatives through the recurrence
    for r in range(n):
        do_dw[r] = x[r] + (u * do_dw[r - 1] if r else 0)
        do_du[r] = before[r] + (u * do_du[r - 1] if r else 0)
    weight_index = 0 if creature.synapses[0].from_uuid == "input-0" else 1

    def both(got):
        return got.weights[weight_index], got.weights[1 - weight_index]

    stateless = gradients(creature, X, Y)
    o0 = w * x
    assert both(stateless) == pytest.approx((np.sum(-2 * (t - o0) / n * x), 0.0), rel=1e-6)
    assert both(gradients(creature, X, Y, feedback_loop=True)) == pytest.approx(
        (e @ do_dw, e @ do_du), rel=1e-5)
    assert both(gradients(creature, X, Y, feedback_loop=True, window=1)) == pytest.approx(
        (e @ x, e @ before), rel=1e-5)
    # windows of two records: the state entering records 0 and 2 is a constant
    assert both(gradients(creature, X, Y, feedback_loop=True, window=2)) == pytest.approx(
        (e @ (x + u * np.r_[0, x[0], 0, x[2]]), e @ (before + u * np.r_[0, before[0], 0, before[2]])), rel=1e-5)
    assert gradients(creature, X, Y, feedback_loop=True, window=n).weights.tolist() == \
        gradients(creature, X, Y, feedback_loop=True).weights.tolist()


def test_frozen_genes_constants_and_creature_order():
    creature, X, Y = creature_and_data(1, n_hidden=12, records=10)
    base = gradients(creature, X, Y)
    constants = [k for k, n in enumerate(creature.neurons) if n.type == "constant"]
    assert constants and np.all(base.biases[constants] == 0)
    # the creature's synapse order, whatever it is
    shuffled = creature.copy()
    order = list(range(len(creature.synapses)))
    random.Random(0).shuffle(order)
    shuffled.synapses = [shuffled.synapses[i] for i in order]
    np.testing.assert_array_equal(gradients(shuffled, X, Y).weights, base.weights[order])
    # frozen genes read 0 and change nothing else
    i = int(np.flatnonzero(base.weights)[0])
    k = int(np.flatnonzero(base.biases)[0])
    frozen = creature.copy()
    frozen.synapses[i].frozen = True
    frozen.neurons[k].frozen = True
    got = gradients(frozen, X, Y)
    assert got.weights[i] == 0 and got.biases[k] == 0
    keep = np.arange(len(base.weights)) != i
    np.testing.assert_array_equal(got.weights[keep], base.weights[keep])


def test_routing_that_finite_differences_do_not_see():
    """Condition synapses of IF, losing MAXIMUM terms and clamped neurons get exactly 0."""
    creature = Creature.from_json({"input": 2, "output": 3, "neurons": [
        {"type": "hidden", "uuid": "clamped", "bias": 150.0, "squash": "Softplus"},   # > 100: clamped
        {"type": "output", "uuid": "output-0", "bias": 0.1, "squash": "IF"},
        {"type": "output", "uuid": "output-1", "bias": 0.0, "squash": "MAXIMUM"},
        {"type": "output", "uuid": "output-2", "bias": 0.0, "squash": "IDENTITY"}], "synapses": [
        {"fromUUID": "input-0", "toUUID": "output-0", "weight": 1.0, "type": "condition"},
        {"fromUUID": "input-1", "toUUID": "output-0", "weight": 0.5, "type": "positive"},
        {"fromUUID": "clamped", "toUUID": "output-0", "weight": 0.01, "type": "negative"},
        {"fromUUID": "input-0", "toUUID": "output-1", "weight": 2.0},
        {"fromUUID": "input-1", "toUUID": "output-1", "weight": -2.0},
        {"fromUUID": "input-0", "toUUID": "clamped", "weight": 1.0},
        {"fromUUID": "clamped", "toUUID": "output-2", "weight": 0.02}]})
    X = np.array([[1.0, 0.5], [0.5, -2.0], [2.0, -1.0]], np.float32)   # condition x0 > 0: positive branch
    Y = np.zeros((3, 3), np.float32)
    got = gradients(creature, X, Y)
    by = {(s.from_uuid, s.to_uuid): g for s, g in zip(creature.synapses, got.weights)}
    assert by["input-0", "output-0"] == 0 and by["clamped", "output-0"] == 0   # condition, branch not taken
    assert by["input-1", "output-0"] != 0
    # MAXIMUM (target 0, dE/do = 2 o / 9): the winning term's weight gets 2 o x / 9, the other nothing
    o = np.maximum(2 * X[:, 0], -2 * X[:, 1])
    wins = 2 * X[:, 0] > -2 * X[:, 1]
    assert 0 < wins.sum() < 3
    assert by["input-0", "output-1"] == pytest.approx(np.sum(2 * o * X[:, 0] * wins) / 9, rel=1e-6)
    assert by["input-1", "output-1"] == pytest.approx(np.sum(2 * o * X[:, 1] * ~wins) / 9, rel=1e-6)
    assert by["input-0", "clamped"] == 0 and got.biases[0] == 0    # Softplus clamped at 100
    assert by["clamped", "output-2"] != 0


def test_tile_width_does_not_change_the_gradients():
    creature, X, Y = creature_and_data(0, n_hidden=20, records=50)
    network = trainable_network(creature)
    e, gw, gb = backprop.gradients(network, X, Y, "MAE")
    for tile in (1, 7, 64):
        e2, gw2, gb2 = backprop.gradients(network, X, Y, "MAE", tile=tile)
        assert e2 == e
        np.testing.assert_allclose(gw2, gw, rtol=1e-5, atol=1e-7 * np.abs(gw).max())
        np.testing.assert_allclose(gb2, gb, rtol=1e-5, atol=1e-7 * np.abs(gb).max())


def test_bad_arguments():
    creature, X, Y = creature_and_data(0, n_hidden=4)
    with pytest.raises(ValueError, match="cost"):
        gradients(creature, X, Y, "NOPE")
    with pytest.raises(ValueError, match="shape"):
        gradients(creature, X[:, :2], Y)
    with pytest.raises(ValueError, match="records"):
        gradients(creature, X, Y[:3])
    with pytest.raises(ValueError, match="float32"):
        gradients(creature, X.astype(np.float64), Y)
    with pytest.raises(ValueError, match="no records"):
        gradients(creature, X[:0], Y[:0])
