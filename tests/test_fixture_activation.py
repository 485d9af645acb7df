"""Real NEAT-AI creature files through the compiler and kernels."""
from __future__ import annotations

import numpy as np
import pytest
import reference_activation as ref

from neatai.creature import Creature
from neatai.evaluator import compile_network, evaluate_population

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
XOR_Y = np.array([[0], [1], [1], [0]], np.float32)


def load(fixtures_dir, name: str) -> Creature:
    return Creature.from_json((fixtures_dir / name).read_text())


def test_xor_reproduces_its_recorded_error(fixtures_dir):
    creature = load(fixtures_dir, "XOR.json")
    net = compile_network(creature)
    assert net.recurrent  # the self synapse on its IF neuron reads the (reset) previous state
    error = evaluate_population([net], XOR_X, XOR_Y, cost="MSE")[0]
    assert error == pytest.approx(float(creature.tag("error")), abs=1e-6)
    np.testing.assert_allclose(net.activate(XOR_X), ref.activate(creature, XOR_X.tolist()), rtol=1e-6)


@pytest.mark.parametrize("name", ["NARX.json", "SHIFT.json", "crispr-network.json"])
@pytest.mark.parametrize("feedback_loop", [False, True])
def test_fixtures_give_finite_outputs_that_match_the_reference(fixtures_dir, name, feedback_loop):
    creature = load(fixtures_dir, name)
    X = np.random.default_rng(0).uniform(-1, 1, (64, creature.input)).astype(np.float32)
    out = compile_network(creature).activate(X, feedback_loop=feedback_loop)
    assert out.shape == (64, creature.output) and np.isfinite(out).all()
    np.testing.assert_allclose(out, ref.activate(creature, X.tolist(), feedback_loop), rtol=1e-3, atol=1e-4)


def test_large_creature_matches_the_float64_reference(fixtures_dir):
    creature = load(fixtures_dir, "large.json")
    assert creature.input == 653
    X = np.random.default_rng(2024).uniform(-1, 1, (300, creature.input)).astype(np.float32)
    out = compile_network(creature).activate(X)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, ref.activate(creature, X.tolist()), rtol=1e-3, atol=1e-4)
