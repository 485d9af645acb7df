"""`training.train` with the predictiveCoding option (seed 004 §3.2): off changes nothing,
replace and complement lower the error, the creature carries the trace tags, bad settings are
named, and the option travels through TrainOptions."""
from __future__ import annotations

import numpy as np
import pytest

import pc_reference as R
from neatai import predictive_coding_options as pc_options
from neatai.evaluator.training import TrainOptionsError, train
from neatai.training_options import options_from_proto, options_to_proto


def task():
    c = R.random_dag(0, n_in=4, n_hidden=12, n_out=1)
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, (256, 4)).astype(np.float32)
    Y = np.tanh(X[:, :1] * X[:, 1:2] + 0.5 * X[:, 2:3]).astype(np.float32)
    return c, X, Y


def test_disabled_predictive_coding_changes_nothing():
    c, X, Y = task()
    plain = train(c, X, Y, iterations=5, seed=3)
    off = train(c, X, Y, iterations=5, seed=3, predictiveCoding={"enabled": False, "inferenceRate": 0.3})
    assert off.creature.to_dict() == plain.creature.to_dict() and off.error_after == plain.error_after
    assert off.creature.tag("pc-energy") is None


@pytest.mark.parametrize("mode", ["replace", "complement"])
def test_both_modes_lower_the_error_and_tag_the_creature(mode):
    c, X, Y = task()
    r = train(c, X, Y, iterations=10, seed=3, predictiveCoding={"enabled": True, "integrationMode": mode})
    assert r.error_after < 0.95 * r.error_before
    assert float(r.creature.tag("pc-energy")) > 0
    assert 0 < float(r.creature.tag("pc-inference-steps")) <= pc_options.DEFAULTS["maxInferenceIterations"]


def test_replace_trains_by_the_hebbian_rule_alone():
    """replace ignores the backprop options (a backprop learning rate of 1 would move it a lot)."""
    c, X, Y = task()
    pcc = {"enabled": True, "learningRate": 0.05}
    a = train(c, X, Y, iterations=3, seed=3, predictiveCoding=pcc, optimizer="sgd", learningRate=1.0)
    b = train(c, X, Y, iterations=3, seed=3, predictiveCoding=pcc, optimizer="sgd", learningRate=0.001)
    assert a.creature.to_dict() == b.creature.to_dict()
    both = train(c, X, Y, iterations=3, seed=3, predictiveCoding={**pcc, "integrationMode": "complement"},
                 optimizer="sgd", learningRate=1.0)
    assert both.creature.to_dict() != a.creature.to_dict()


@pytest.mark.parametrize("value, name", [
    ({"enabled": "yes"}, "predictiveCoding.enabled"),
    ({"maxInferenceIterations": 0}, "predictiveCoding.maxInferenceIterations"),
    ({"inferenceRate": float("inf")}, "predictiveCoding.inferenceRate"),
    ({"learningRate": -0.1}, "predictiveCoding.learningRate"),
    ({"convergenceThreshold": -1}, "predictiveCoding.convergenceThreshold"),
    ({"integrationMode": "both"}, "predictiveCoding.integrationMode"),
    ({"steps": 3}, "predictiveCoding.steps"),
    ("on", "predictiveCoding"),
])
def test_bad_settings_are_named(value, name):
    c, X, Y = task()
    with pytest.raises(TrainOptionsError) as e:
        train(c, X, Y, predictiveCoding=value)
    assert [p for p, _ in e.value.problems] == [name]


def test_the_option_round_trips_through_train_options():
    options = {"iterations": 4, "predictiveCoding": {"enabled": True, "maxInferenceIterations": 7,
                                                      "convergenceThreshold": 0.0, "inferenceRate": 0.2,
                                                      "learningRate": 0.03, "integrationMode": "complement",
                                                      "fixedPrediction": True}}
    assert options_from_proto(options_to_proto(options)) == options
    assert options_from_proto(options_to_proto({"iterations": 4})) == {"iterations": 4}


def test_feedback_loop_training_carries_the_state_and_lowers_the_error():
    c = R.recurrent_dag(2, n_in=4, n_hidden=10, n_out=1)
    rng = np.random.default_rng(1)
    X = rng.normal(0, 1, (128, 4)).astype(np.float32)
    Y = np.tanh(X[:, :1] + np.roll(X[:, 1:2], 1, axis=0)).astype(np.float32)   # needs the previous record
    r = train(c, X, Y, feedback_loop=True, iterations=8, seed=2,
              predictiveCoding={"enabled": True, "learningRate": 0.1})
    assert r.error_after < r.error_before and r.creature.tag("pc-energy") is not None


def test_a_run_config_with_bad_predictive_coding_is_refused_by_name():
    from neatai.evolver.config import ConfigError, EvolverConfig
    with pytest.raises(ConfigError) as e:
        EvolverConfig(memetic=True, backpropagation={"predictiveCoding": {"enabled": True, "inferenceRate": -1}})
    assert [p.path for p in e.value.problems] == ["backpropagation.predictiveCoding.inferenceRate"]
