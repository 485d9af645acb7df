"""The float32 kernels against the float64 reference of the documented semantics
(reference/neat-ai.md §2.1, §2.2, §7.2): every squash and aggregate, recurrence, costs, sampling."""
from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import reference_activation as ref

from neatai.creature import Creature
from neatai.evaluator import COSTS, compile_network, evaluate_population, sample_rows
from neatai.squash import SQUASHES

F32 = dict(rtol=2e-5, atol=2e-6)
# Pre-activations covering every branch: huge, overflow thresholds, around 0, the TAN pole.
SWEEP = [-1e30, -800.0, -709.5, -100.0, -40.0, -21.0, -3.0, -1.0, -0.3, -1e-12, 0.0, 1e-12, 0.3,
         1.0, 1.5707964, 3.0, 21.0, 35.9, 36.5, 40.0, 100.0, 708.0, 710.0, 1e19, 1e30]
NON_AGGREGATE = [s.name for s in SQUASHES if not s.aggregate]


def single(squash: str, bias: float = 0.0) -> Creature:
    """input-0 → output (squash, bias) with weight 1: the output is squash(x + bias)."""
    return Creature.from_json({"input": 1, "output": 1, "neurons": [
        {"type": "output", "uuid": "output-0", "bias": bias, "squash": squash}],
        "synapses": [{"fromUUID": "input-0", "toUUID": "output-0", "weight": 1.0}]})


@pytest.mark.parametrize("name", NON_AGGREGATE)
def test_every_squash_matches_the_reference_across_its_branches(name):
    out = compile_network(single(name)).activate(np.array(SWEEP, np.float32)[:, None])[:, 0]
    expected = [ref.limit(name, ref.squash(name, float(np.float32(x)))) for x in SWEEP]
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, expected, rtol=2e-5, atol=2e-6 if name != "TAN" else 2e-2)


def test_every_squash_is_float32_accurate_over_a_dense_grid():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-50, 50, 3000), rng.uniform(-3, 3, 3000), rng.normal(0, 1e-3, 1000),
                        np.linspace(-0.7, 0.7, 1001)]).astype(np.float32)
    for name in NON_AGGREGATE:
        out = compile_network(single(name)).activate(x[:, None])[:, 0]
        expected = [ref.limit(name, ref.squash(name, float(v))) for v in x]
        np.testing.assert_allclose(out, expected, rtol=2e-6, atol=5e-7, err_msg=name)


@pytest.mark.parametrize("name,x,expected", [
    ("SOFTSIGN", 1e30, 0.98999995), ("Softplus", 710.0, 100.0), ("Softplus", -800.0, 1e-15),
    ("Exponential", 36.0, 2.0 ** 53), ("LogSigmoid", -709.5, -2.0 ** 53), ("SELU", -1e30, -1.7580993),
    ("TAN", 1.5707964, -1000.0), ("StdInverse", 0.0, 1e10), ("StdInverse", -1e-12, -1e10),
    ("SQUARE", 1e4, 1e6), ("Cube", -1e3, -1e6), ("SQRT", -4.0, 0.0), ("ReLU6", 7.0, 6.0),
    ("IDENTITY", 1e30, 1e30), ("SOFTMAX", 0.0, 0.5), ("ArcTan", 1e30, math.pi / 2),
])
def test_documented_limits_and_quirks(name, x, expected):
    out = compile_network(single(name)).activate(np.array([[x]], np.float32))[0, 0]
    assert out == pytest.approx(expected, rel=1e-6)


def aggregate(name: str, weights, bias: float, roles=None) -> Creature:
    roles = roles or [None] * len(weights)
    return Creature.from_json({"input": len(weights), "output": 1, "neurons": [
        {"type": "output", "uuid": "output-0", "bias": bias, "squash": name}],
        "synapses": [{"fromUUID": f"input-{i}", "toUUID": "output-0", "weight": w, **({"type": r} if r else {})}
                     for i, (w, r) in enumerate(zip(weights, roles))]})


def test_aggregates_follow_their_closed_forms():
    rng = np.random.default_rng(7)
    X = rng.uniform(-3, 3, (1000, 3)).astype(np.float32)
    w = np.array([0.7, -1.3, 2.0], np.float32)
    aw = X.astype(np.float64) * w
    cases = {
        "MINIMUM": aw.min(axis=1) + 0.25,
        "MAXIMUM": aw.max(axis=1) + 0.25,
        "HYPOT": np.sqrt((aw ** 2).sum(axis=1)) + 0.25,
        "HYPOTv2": np.sqrt(((aw + 0.25) ** 2).sum(axis=1)),
        "MEAN": aw.mean(axis=1) + 0.25,
    }
    for name, expected in cases.items():
        out = compile_network(aggregate(name, w.tolist(), 0.25)).activate(X)[:, 0]
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5, err_msg=name)


def test_if_picks_the_positive_and_untyped_sum_when_the_condition_sum_is_positive():
    c = aggregate("IF", [1.0, 0.5, 2.0, -1.0, 3.0], 0.1,
                  ["condition", "positive", "negative", "condition", None])
    X = np.array([[1, 2, 3, 0.5, 1], [1, 2, 3, 1.5, 1], [1, 2, 3, 1.0, 1]], np.float32)
    # condition 0.5 > 0 → 0.5·2 + 3·1 + 0.1; condition −0.5 → 2·3 + 0.1; condition 0 → negative
    np.testing.assert_allclose(compile_network(c).activate(X)[:, 0], [4.1, 6.1, 6.1], rtol=1e-6)


def test_aggregates_without_inward_synapses_give_the_bias_or_zero():
    c = Creature.from_json({"input": 1, "output": 4, "neurons": [
        {"type": "output", "uuid": f"o{k}", "bias": 0.75, "squash": s}
        for k, s in enumerate(["MINIMUM", "MAXIMUM", "MEAN", "HYPOTv2"])], "synapses": []})
    np.testing.assert_allclose(compile_network(c).activate(np.zeros((2, 1), np.float32)),
                               [[0.75, 0.75, 0.75, 0.0]] * 2)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("recurrent", [False, True])
def test_random_creatures_match_the_float64_reference(seed, recurrent):
    rng = np.random.default_rng(seed)
    creature = ref.random_creature(rng, n_hidden=14, recurrent=recurrent)
    assert creature.recurrent == recurrent
    X = rng.uniform(-2, 2, (300, 3)).astype(np.float32)
    net = compile_network(creature)
    assert net.recurrent == recurrent
    np.testing.assert_allclose(net.activate(X), ref.activate(creature, X.tolist()), rtol=1e-3, atol=1e-4)


def test_random_creatures_cover_every_squash_and_role():
    names, roles = set(), set()
    for seed in range(12):
        for recurrent in (False, True):
            c = ref.random_creature(np.random.default_rng(seed), n_hidden=14, recurrent=recurrent)
            names |= {n.squash_name for n in c.neurons if n.type != "constant"}
            roles |= {s.type for s in c.synapses}
    assert names == {s.name for s in SQUASHES}
    assert roles == {None, "positive", "negative", "condition"}


@pytest.mark.parametrize("seed", range(12))
def test_feedback_loop_carries_state_from_record_to_record(seed):
    rng = np.random.default_rng(seed)
    creature = ref.random_creature(rng, n_hidden=14, recurrent=True)
    X = rng.uniform(-2, 2, (10, 3)).astype(np.float32)  # short: f32 error compounds through the loop
    net = compile_network(creature)
    carried = net.activate(X, feedback_loop=True)
    np.testing.assert_allclose(carried, ref.activate(creature, X.tolist(), feedback_loop=True),
                               rtol=1e-3, atol=1e-4)
    assert not np.allclose(carried, net.activate(X))  # the state really is carried


def self_loop() -> Creature:
    """output = input + 0.5 · (its previous value)."""
    return Creature.from_json({"input": 1, "output": 1, "neurons": [
        {"type": "output", "uuid": "output-0", "bias": 0.0, "squash": "IDENTITY"}], "synapses": [
        {"fromUUID": "input-0", "toUUID": "output-0", "weight": 1.0},
        {"fromUUID": "output-0", "toUUID": "output-0", "weight": 0.5}]})


def test_self_synapse_reads_the_previous_record_only_with_feedback_loop():
    net = compile_network(self_loop())
    X = np.array([[1], [1], [1], [0]], np.float32)
    np.testing.assert_allclose(net.activate(X)[:, 0], [1, 1, 1, 0])
    np.testing.assert_allclose(net.activate(X, feedback_loop=True)[:, 0], [1, 1.5, 1.75, 0.875])
    # every call starts from a zero state
    np.testing.assert_allclose(net.activate(X, feedback_loop=True)[:, 0], [1, 1.5, 1.75, 0.875])


@pytest.mark.parametrize("tile", [1, 3, 128])
def test_tile_width_does_not_change_results(tile):
    creature = ref.random_creature(np.random.default_rng(99), n_hidden=20, recurrent=True)
    X = np.random.default_rng(1).uniform(-2, 2, (257, 3)).astype(np.float32)
    net = compile_network(creature)
    np.testing.assert_array_equal(net.activate(X, tile=tile), net.activate(X, tile=1))


@pytest.mark.parametrize("bad,message", [
    (np.zeros((4, 3), np.float64), "float32"),
    (np.zeros((4, 2), np.float32), r"shape \(n, 3\)"),
    (np.zeros(3, np.float32), r"shape \(n, 3\)"),
    (np.array([[0, np.nan, 0]], np.float32), "non-finite"),
    ([[0.0, 0.0, 0.0]], "numpy float32 array"),
])
def test_activate_rejects_bad_inputs_clearly(bad, message):
    net = compile_network(ref.random_creature(np.random.default_rng(0)))
    with pytest.raises(ValueError, match=message):
        net.activate(bad)


# ---- costs, sampling and the population kernel ---------------------------------------------

def numpy_cost(cost: str, T: np.ndarray, O: np.ndarray) -> float:
    T, O = T.astype(np.float64), O.astype(np.float64)
    per_record = {
        "MSE": lambda: ((T - O) ** 2).mean(axis=1),
        "RMSE": lambda: ((T - O) ** 2).mean(axis=1),
        "MAE": lambda: np.abs(T - O).mean(axis=1),
        "MAPE": lambda: np.abs((O - T) / np.maximum(T, 1e-15)).mean(axis=1),
        "MSLE": lambda: (np.log(np.maximum(T, 1e-15)) - np.log(np.maximum(O, 1e-15))).sum(axis=1),
        "CROSS_ENTROPY": lambda: -(T * np.log(np.clip(O, 1e-15, 1 - 1e-15))
                                   + (1 - T) * np.log(1 - np.clip(O, 1e-15, 1 - 1e-15))).mean(axis=1),
        "HINGE": lambda: np.maximum(0, 1 - T * O).sum(axis=1),
    }[cost]()
    return math.sqrt(per_record.mean()) if cost == "RMSE" else per_record.mean()


@pytest.mark.parametrize("cost", COSTS)
def test_every_cost_matches_its_formula(cost):
    rng = np.random.default_rng(3)
    nets = [compile_network(ref.random_creature(np.random.default_rng(s), n_out=3)) for s in range(5)]
    X = rng.uniform(-2, 2, (200, 3)).astype(np.float32)
    Y = rng.uniform(0.05, 0.95, (200, 3)).astype(np.float32)
    errors = evaluate_population(nets, X, Y, cost=cost)
    assert errors.dtype == np.float64 and errors.shape == (5,)
    for net, error in zip(nets, errors):
        assert error == pytest.approx(numpy_cost(cost, Y, net.activate(X)), rel=1e-9, abs=1e-12)
        assert error == pytest.approx(ref.dataset_error(cost, Y.tolist(), net.activate(X).tolist()), rel=1e-9)


def test_sample_rate_keeps_the_deterministic_stride():
    assert sample_rows(8, 0.25).tolist() == [3, 7]
    assert sample_rows(10, 0.5).tolist() == [1, 3, 5, 7, 9]
    assert sample_rows(5, 1.0).tolist() == [0, 1, 2, 3, 4]
    for rate in (0.0001, 0.1, 0.3, 0.77):
        kept = sample_rows(10_000, rate)
        i = np.arange(10_000)
        assert np.array_equal(kept, i[np.floor((i + 1) * rate) > np.floor(i * rate)])
    with pytest.raises(ValueError, match="sample_rate"):
        sample_rows(10, 0.0)


def test_population_error_uses_only_the_sampled_records():
    rng = np.random.default_rng(4)
    net = compile_network(ref.random_creature(rng))
    X = rng.uniform(-2, 2, (100, 3)).astype(np.float32)
    Y = rng.uniform(-1, 1, (100, 2)).astype(np.float32)
    rows = sample_rows(100, 0.3)
    full = evaluate_population([net], X[rows], Y[rows])[0]
    assert evaluate_population([net], X, Y, sample_rate=0.3)[0] == pytest.approx(full, rel=1e-12)


def test_population_feedback_loop_scores_records_in_sequence():
    net = compile_network(self_loop())
    X = np.array([[1], [1], [1], [0]], np.float32)
    Y = np.zeros((4, 1), np.float32)
    assert evaluate_population([net], X, Y)[0] == pytest.approx((1 + 1 + 1 + 0) / 4)
    assert evaluate_population([net], X, Y, feedback_loop=True)[0] == pytest.approx(
        (1 + 1.5 ** 2 + 1.75 ** 2 + 0.875 ** 2) / 4)


def test_overflowing_outputs_give_a_finite_error_and_nan_never_escapes():
    c = Creature.from_json({"input": 1, "output": 1, "neurons": [
        {"type": "output", "uuid": "output-0", "bias": 0.0, "squash": "IDENTITY"}],
        "synapses": [{"fromUUID": "input-0", "toUUID": "output-0", "weight": 1e30}]})
    net = compile_network(c)
    X = np.array([[1e30], [-1e30]], np.float32)
    assert net.activate(X)[:, 0].tolist() == [np.float32(3.4028235e38), np.float32(-3.4028235e38)]
    errors = evaluate_population([net], X, np.zeros((2, 1), np.float32), cost="MSE")
    assert np.isfinite(errors[0]) and errors[0] > 1e76


def test_population_rejects_mismatched_inputs():
    a = compile_network(ref.random_creature(np.random.default_rng(0)))
    b = compile_network(ref.random_creature(np.random.default_rng(0), n_in=4))
    X, Y = np.zeros((3, 3), np.float32), np.zeros((3, 2), np.float32)
    with pytest.raises(ValueError, match="inputs"):
        evaluate_population([a, b], X, Y)
    with pytest.raises(ValueError, match="unknown cost"):
        evaluate_population([a], X, Y, cost="L2")
    with pytest.raises(ValueError, match="records"):
        evaluate_population([a], X, Y[:2])
    with pytest.raises(ValueError, match="Network"):
        evaluate_population([a, "creature"], X, Y)
    assert evaluate_population([], X, Y).shape == (0,)


def test_population_kernel_is_thread_safe():
    rng = np.random.default_rng(5)
    nets = [compile_network(ref.random_creature(np.random.default_rng(s), recurrent=s % 2 == 1)) for s in range(16)]
    X = rng.uniform(-2, 2, (500, 3)).astype(np.float32)
    Y = rng.uniform(-1, 1, (500, 2)).astype(np.float32)
    serial = evaluate_population(nets, X, Y, feedback_loop=True)
    results: dict[int, np.ndarray] = {}

    def work(k):
        results[k] = evaluate_population(nets[k::4], X, Y, feedback_loop=True)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        np.testing.assert_array_equal(results[k], serial[k::4])


def test_population_checks_finite_data_unless_told_it_was_validated():
    net = compile_network(ref.random_creature(np.random.default_rng(0)))
    X = np.zeros((3, 3), np.float32)
    Y = np.array([[0, 0], [np.inf, 0], [0, 0]], np.float32)
    with pytest.raises(ValueError, match="Y holds non-finite"):
        evaluate_population([net], X, Y)
    assert evaluate_population([net], X, np.zeros((3, 2), np.float32), check_finite=False).shape == (1,)
