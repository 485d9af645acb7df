"""The analysis engine's golden cases, written from the documented rules (reference/discovery.md
§2, §3, §7.3): each creature is recorded by the evaluator's real recorder on a real Parquet file
and analysed; what must and must not be suggested follows from how the data was made."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neatai.creature import Creature
from neatai.datasets import Dataset
from neatai.discovery.analysis import (AnalysisCancelled, AnalysisOptions, AnalysisOptionsError, analyse,
                                      analyse_recording)
from neatai.discovery.loader import Recording, load_recording
from neatai.discovery.scoring import holdout_offset, validation_mask
from neatai.evaluator import compile_network
from neatai.evaluator.recorder import record


def creature(out_squash="TANH", synapses=(("input-0", "out", 1.0),), hidden=(), inputs=3) -> Creature:
    return Creature.from_json({"input": inputs, "output": 1, "neurons": [
        *({"type": "hidden", "uuid": u, "bias": b, "squash": q} for u, b, q in hidden),
        {"type": "output", "uuid": "out", "bias": 0, "squash": out_squash}],
        "synapses": [{"fromUUID": f, "toUUID": t, "weight": w} for f, t, w in synapses]})


def inputs(n=2000, width=3, low=-1.0, high=1.0, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, (n, width)).astype(np.float32)


def recorded(tmp_path, c: Creature, X, Y) -> str:
    ds = Dataset(X, np.asarray(Y, np.float32).reshape(len(X), -1))
    return record(c, ds, ds.id, tmp_path, 1.0).path


def run(tmp_path, c, X, Y, **options):
    return analyse(recorded(tmp_path, c, X, Y), c, AnalysisOptions(random_seed=1, **options))


@pytest.mark.parametrize("k", [1.0, -0.5])
def test_a_planted_missing_synapse_is_the_top_synapse_with_its_sign_and_weight(tmp_path, k):
    X = inputs()
    c = creature()   # has x0 → out, lacks x1 → out
    result = run(tmp_path, c, X, np.tanh(X[:, 0] + k * X[:, 1]))
    top = result.add_synapses[0]
    out = c.neurons[-1].uuid
    assert (top.from_uuid, top.to_uuid) == ("input-1", out)
    assert top.weight == pytest.approx(k, rel=0.05)
    assert top.expected_error_reduction > 0.9 and top.improved_count / top.total_count > 0.9
    assert all(s.from_uuid != "input-2" or s.expected_gain < top.expected_gain / 100 for s in result.add_synapses)


def test_a_planted_useless_neuron_is_a_removal_candidate(tmp_path):
    X = inputs()
    c = creature(synapses=(("input-0", "out", 1.0), ("input-2", "idle", 1.0), ("idle", "out", 0.0)),
                 hidden=(("idle", 0.3, "TANH"),))
    result = run(tmp_path, c, X, np.tanh(X[:, 0]))
    assert [r.neuron_uuid for r in result.remove_neurons] == ["idle"]
    assert result.remove_neurons[0].impact == 0 and result.remove_neurons[0].expected_gain > 0


def test_a_neuron_that_matters_is_not_removed(tmp_path):
    X = inputs()
    c = creature(synapses=(("input-0", "h", 1.0), ("h", "out", 1.0)), hidden=(("h", 0.0, "TANH"),))
    result = run(tmp_path, c, X, np.tanh(np.tanh(X[:, 0])))
    assert result.remove_neurons == []


def test_an_identity_neuron_whose_target_needs_sine_gets_a_squash_change(tmp_path):
    X = inputs(low=-3, high=3)
    c = creature("IDENTITY")
    result = run(tmp_path, c, X, np.sin(X[:, 0]))
    top = result.squash_changes[0]
    assert (top.neuron_uuid, top.previous_squash, top.squash) == (c.neurons[-1].uuid, "IDENTITY", "SINE")
    assert top.improved_error < 1e-6 < top.current_error and top.expected_gain > 0


def test_an_exact_creature_gets_no_suggestion(tmp_path):
    X = inputs()
    c = creature(synapses=(("input-0", "out", 1.0), ("input-1", "out", -0.5)))
    result = run(tmp_path, c, X, compile_network(c).activate(X))
    assert result.is_empty(), result


def test_a_new_neuron_is_suggested_for_a_nonlinear_missing_path(tmp_path):
    X = inputs()
    c = creature("IDENTITY")
    result = run(tmp_path, c, X, X[:, 0] + 0.5 * np.abs(X[:, 1]))
    top = result.add_neurons[0]
    assert top.source_uuid == "input-1" and top.expected_error_reduction > 0.9
    assert len({n.squash for n in result.add_neurons if n.target_uuid == top.target_uuid}) == len(
        [n for n in result.add_neurons if n.target_uuid == top.target_uuid]) <= 3   # one per squash, capped


def test_a_harmful_synapse_is_a_removal_and_its_weight_update_goes_to_zero(tmp_path):
    X = inputs()
    c = creature("IDENTITY", synapses=(("input-0", "out", 1.0), ("input-1", "out", 0.5)))
    result = run(tmp_path, c, X, X[:, 0])
    assert [(r.from_uuid, r.expected_gain > 0) for r in result.remove_synapses] == [("input-1", True)]
    update = [u for u in result.weight_updates if u.from_uuid == "input-1"][0]
    assert update.weight == pytest.approx(0, abs=0.02)


def test_a_constant_neuron_is_folded_into_its_childs_bias(tmp_path):
    X = inputs()
    c = creature("IDENTITY", synapses=(("input-0", "out", 1.0), ("k", "out", 0.7)), hidden=(("k", 0.4, "TANH"),))
    result = run(tmp_path, c, X, X[:, 0] + 0.7 * np.tanh(0.4))
    fold = [x for x in result.coordinated if "constant neuron k" in x.description][0]
    kinds = [(op.kind, op.neuron_uuid) for op in fold.operations]
    assert kinds == [("setBias", c.neurons[-1].uuid), ("removeNeuron", "k")]
    assert fold.operations[0].bias == pytest.approx(0.7 * np.tanh(0.4), rel=1e-5)


def synthetic(n: int, a1: np.ndarray, e: np.ndarray) -> tuple[Creature, Recording]:
    """A recording made by hand: out = IDENTITY(x0) with error e; input-1 carries a1."""
    c = creature("IDENTITY", inputs=2)
    x0 = np.linspace(-1, 1, n).astype(np.float32)
    nan = np.full(n, np.nan, np.float32)
    A = np.stack([x0, a1, x0]).astype(np.float32)
    return c, Recording(["input-0", "input-1", c.neurons[0].uuid], np.arange(n, dtype=np.uint32),
                        A, A.copy(), np.stack([nan, nan, e]).astype(np.float32))


def test_the_holdout_rejects_a_synapse_that_only_fits_noise():
    n = 100
    e = np.random.default_rng(5).normal(size=n).astype(np.float32)
    c, _ = synthetic(n, e, e)
    val = validation_mask(n, holdout_offset("input-1", c.neurons[0].uuid))
    assert val.sum() == 30                                  # 100 samples: 30 validation / 70 train
    # the source matches the noise on the training split and opposes it on the validation split
    c, rec = synthetic(n, np.where(val, -e, e), e)
    held = analyse_recording(rec, c, AnalysisOptions(random_seed=1))
    assert not [s for s in held.add_synapses if s.from_uuid == "input-1"]
    naive = analyse_recording(rec, c, AnalysisOptions(random_seed=1, holdout=False))
    assert [s for s in naive.add_synapses if s.from_uuid == "input-1"]


def test_the_same_seed_gives_the_same_result_and_deadlines_and_cancellation_hold(tmp_path):
    X = inputs(1000)
    c = creature(synapses=(("input-0", "h", 0.8), ("h", "out", 1.0)), hidden=(("h", 0.1, "TANH"),))
    path = recorded(tmp_path, c, X, np.tanh(X[:, 0] + X[:, 1] * X[:, 2]))
    first, second = (analyse(path, c, AnalysisOptions(random_seed=7)) for _ in range(2))
    strip = lambda r: {k: v for k, v in r.to_dict().items() if k not in ("seconds",)}  # noqa: E731
    assert strip(first) == strip(second) and first.id == second.id
    late = analyse(path, c, AnalysisOptions(random_seed=7, timeout_s=0))
    assert late.timed_out and late.add_synapses == [] and late.focus == first.focus
    with pytest.raises(AnalysisCancelled):
        analyse(path, c, AnalysisOptions(cancel=lambda: True))
    calls = iter(range(1000))                     # cancelled inside the first target's work
    with pytest.raises(AnalysisCancelled):
        analyse(path, c, AnalysisOptions(cancel=lambda: next(calls) >= 2, block_bytes=4096))


def test_forced_focus_and_a_small_memory_bound_give_the_same_suggestions(tmp_path):
    X = inputs()
    c = creature()
    path = recorded(tmp_path, c, X, np.tanh(X[:, 0] + X[:, 1]))
    out = c.neurons[-1].uuid
    forced = analyse(path, c, AnalysisOptions(random_seed=1, focus_uuids=[out]))
    assert [(f.neuron_uuid, f.reason) for f in forced.focus] == [(out, "forced")]
    small = analyse(path, c, AnalysisOptions(random_seed=1, focus_uuids=[out], block_bytes=8000))
    assert [(s.from_uuid, round(s.weight, 4)) for s in small.add_synapses] == \
        [(s.from_uuid, round(s.weight, 4)) for s in forced.add_synapses]


def test_bad_options_are_named_before_any_work(tmp_path):
    c = creature()
    with pytest.raises(AnalysisOptionsError) as info:
        analyse(tmp_path / "missing.parquet", c, AnalysisOptions(focus_size=0, timeout_s=-1, device="tpu",
                                                                  focus_uuids=["input-0", "nope"]))
    assert [f for f, _ in info.value.problems] == ["focus_size", "timeout_s", "device", "focus_uuids"]
    with pytest.raises(FileNotFoundError, match="no discovery recording"):
        analyse(tmp_path / "missing.parquet", c)


def test_the_loader_aligns_neurons_on_observations(tmp_path):
    X = inputs(50)
    c = creature()
    rec = load_recording(recorded(tmp_path, c, X, np.tanh(X[:, 0])), c)
    assert rec.names == ["input-0", "input-1", "input-2", c.neurons[0].uuid] and rec.observations == 50
    np.testing.assert_array_equal(rec.A[:3], X.T)
    assert np.isnan(rec.E[:3]).all() and np.isfinite(rec.E[3]).all()
    np.testing.assert_allclose(rec.A[3], compile_network(c).activate(X)[:, 0])
    bounded = load_recording(recorded(tmp_path, c, X, np.tanh(X[:, 0])), c, max_bytes=3 * 4 * 4 * 10)
    assert bounded.observations == 10 and bounded.recorded_observations == 50
    np.testing.assert_array_equal(bounded.A[:3], X[np.linspace(0, 49, 10).astype(int)].T)
    other = creature(synapses=(("input-0", "zz", 1.0), ("zz", "out", 1.0)), hidden=(("zz", 0, "TANH"),))
    with pytest.raises(ValueError, match="another creature"):
        load_recording(recorded(tmp_path, other, X, X[:, 0]), c)


def test_a_pair_of_sources_that_only_help_together_is_a_coordinated_candidate():
    # e = a1 − a2 where a2 is the part of a1 that is not error: a1 alone explains half the
    # error, a2 alone none, both together all of it; they fire on mostly different samples.
    n = 400
    rng = np.random.default_rng(2)
    support = rng.random(n) < 0.75
    e = np.where(support, rng.choice([-1.0, 1.0], n), 0).astype(np.float32)
    noise = np.where(support, 0, rng.choice([-1.7, 1.7], n)).astype(np.float32)
    c = creature("IDENTITY", inputs=3)
    x0 = np.linspace(-1, 1, n).astype(np.float32)
    nan = np.full(n, np.nan, np.float32)
    A = np.stack([x0, e + noise, noise, x0]).astype(np.float32)
    rec = Recording(["input-0", "input-1", "input-2", c.neurons[0].uuid], np.arange(n, dtype=np.uint32),
                    A, A.copy(), np.stack([nan, nan, nan, e]).astype(np.float32))
    result = analyse_recording(rec, c, AnalysisOptions(random_seed=1))
    pair = [x for x in result.coordinated if x.description.startswith("epistatic")][0]
    weights = {op.from_uuid: op.weight for op in pair.operations}
    assert [op.kind for op in pair.operations] == ["addSynapse", "addSynapse"]
    assert weights == pytest.approx({"input-1": 1.0, "input-2": -1.0}, abs=1e-3) and pair.expected_gain > 0


@pytest.mark.filterwarnings("error")
def test_neat_ais_large_creature_is_analysed_end_to_end(tmp_path):
    """653 inputs, 424 neurons, every kind of squash and aggregate, huge activations."""
    c = Creature.from_json((Path(__file__).parents[1] / "fixtures" / "neat-ai" / "large.json").read_text())
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, c.input)).astype(np.float32)
    result = run(tmp_path, c, X, rng.uniform(0, 1, (300, 1)), focus_size=2)
    assert len(result.focus) == 2 and not result.timed_out
    known = {f"input-{i}" for i in range(c.input)} | {n.uuid for n in c.neurons}
    suggestions = [*result.add_synapses, *result.weight_updates, *result.add_neurons, *result.squash_changes,
                   *result.remove_synapses, *result.remove_neurons, *result.coordinated]
    assert suggestions and all(np.isfinite(x.expected_gain) and x.expected_gain > 0 for x in suggestions)
    named = [getattr(x, k) for x in suggestions for k in ("from_uuid", "to_uuid", "source_uuid", "target_uuid",
                                                          "neuron_uuid") if getattr(x, k, "")]
    assert set(named) <= known

    def plain(x):   # the result travels as JSON/protobuf: only Python types inside
        if isinstance(x, dict):
            return all(plain(v) for v in x.values())
        if isinstance(x, (list, tuple)):
            return all(plain(v) for v in x)
        return x is None or type(x) in (str, int, float, bool)
    assert plain(result.to_dict())
