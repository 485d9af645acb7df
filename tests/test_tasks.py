"""Tasks, held-out splits, metrics and folded standardisation, checked against scikit-learn and
against the compiled network on real data."""
from __future__ import annotations

import random

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris, load_wine
from sklearn.metrics import accuracy_score, mean_squared_error, r2_score, recall_score

from neatai.creature import Creature
from neatai.evaluator import compile_network
from neatai.evolver.config import EvolverConfig
from neatai.genome.operators import initial_creature, mutate
from neatai.genome.scaling import unstandardised
from neatai.tasks import (
    CLASSIFICATION, REGRESSION, ClassEncoding, Scaling, class_values, infer_task, split, task_metrics,
)


def test_tasks_are_inferred_from_the_targets():
    iris, diabetes = load_iris(), load_diabetes()
    assert infer_task(iris.target.reshape(-1, 1).astype(np.float32)) == CLASSIFICATION
    assert infer_task(np.eye(3, dtype=np.float32)[iris.target]) == CLASSIFICATION
    assert infer_task(diabetes.target.reshape(-1, 1)) == REGRESSION  # integers, but 214 distinct values
    assert infer_task(np.array([[0.5], [1.5]])) == REGRESSION
    assert class_values(np.array([3.0, 3.0])) is None  # one class is no classification


def test_class_columns_become_one_output_for_two_classes_and_one_hot_for_more():
    two = ClassEncoding("y", (0.0, 1.0))
    assert two.outputs == 1 and two.names == ("y=1",)
    assert two.encode(np.array([1.0, 0.0])).tolist() == [[1.0], [0.0]]
    three = ClassEncoding("species", (0.0, 1.0, 2.0))
    Y = three.encode(np.array([2.0, 0.0]))
    assert Y.tolist() == [[0, 0, 1], [1, 0, 0]] and three.names == ("species=0", "species=1", "species=2")
    assert three.decode(Y).tolist() == [2.0, 0.0]
    with pytest.raises(ValueError, match="label 7"):
        three.encode(np.array([7.0]))


def test_splits_are_seeded_stratified_and_refused_for_tiny_data():
    y = load_wine().target
    train, held = split(len(y), 0.2, seed=5, strata=y)
    assert len(np.intersect1d(train, held)) == 0 and len(train) + len(held) == len(y)
    for k in range(3):  # every class held out in proportion
        assert abs((y[held] == k).mean() - (y == k).mean()) < 0.03
    again = split(len(y), 0.2, seed=5, strata=y)
    assert np.array_equal(held, again[1]) and not np.array_equal(held, split(len(y), 0.2, seed=6, strata=y)[1])
    assert split(4, 0.2, seed=1) is None and split(100, 0.0, seed=1) is None


def test_metrics_match_scikit_learn():
    rng = np.random.default_rng(0)
    y = load_iris().target
    outputs = rng.random((len(y), 3))
    truth = np.eye(3)[y]
    m = task_metrics(CLASSIFICATION, outputs, truth)
    assert m["accuracy"] == pytest.approx(accuracy_score(y, outputs.argmax(1)))
    assert m["per_class_accuracy"] == pytest.approx(list(recall_score(y, outputs.argmax(1), average=None)))
    target = load_diabetes().target.reshape(-1, 1)
    guess = target + rng.normal(0, 40, target.shape)
    m = task_metrics(REGRESSION, guess, target)
    assert m["r2"] == pytest.approx(r2_score(target, guess))
    assert m["rmse"] == pytest.approx(mean_squared_error(target, guess) ** 0.5)


def test_folded_scaling_takes_raw_inputs_and_gives_raw_outputs():
    """Whatever evolution made of a creature (aggregates, any output squash), the folded copy on
    raw data computes what the creature computes on standardised data, mapped back."""
    rng = random.Random(3)
    X = load_diabetes().data[:60].astype(np.float32) * 40 + 7  # raw units far from standard
    inputs = Scaling.fit(X)
    targets = Scaling(np.array([150.0, -3.0]), np.array([75.0, 0.5]))
    kinds = set()
    for trial in range(120):
        c = initial_creature(X.shape[1], 2, rng, "symmetric", "IDENTITY" if trial % 2 else None)
        for _ in range(rng.randint(0, 25)):
            mutate(c, EvolverConfig(fixed_output_squash="IDENTITY" if trial % 2 else None), rng)
        expected = targets.invert(compile_network(c).activate(inputs.apply(X)))
        folded = Creature.from_json(unstandardised(c, inputs, targets).to_json())  # valid NEAT-AI JSON
        got = compile_network(folded).activate(X)
        np.testing.assert_allclose(got, expected, rtol=2e-4, atol=2e-4 * np.abs(expected).max())
        kinds.add("in place" if folded.hidden_count == c.hidden_count else "wrapped")
    assert kinds == {"in place", "wrapped"}
