"""Compiling creatures: the golden cases of reference/neat-ai.md §9.2, the compiled arrays,
the network and template caches, and the score of §7.1."""
from __future__ import annotations

import numpy as np
import pytest
import reference_activation as ref

from neatai.creature import Creature
from neatai.evaluator import Network, NetworkCompiler, compile_network, evaluate_population, score
from neatai.evaluator.score import value_penalty
from neatai.squash import squash_id

G1 = {"input": 2, "output": 1, "forwardOnly": True,
      "neurons": [{"type": "hidden", "uuid": "hidden-1", "bias": 0.0, "squash": "TANH"},
                  {"type": "output", "uuid": "output-0", "bias": 0.0, "squash": "IDENTITY"}],
      "synapses": [{"fromUUID": "input-0", "toUUID": "hidden-1", "weight": 1.0},
                   {"fromUUID": "input-1", "toUUID": "hidden-1", "weight": 0.5},
                   {"fromUUID": "hidden-1", "toUUID": "output-0", "weight": 1.0}]}
G3 = {"input": 2, "output": 1,
      "neurons": [{"type": "hidden", "uuid": "a", "bias": 0.1, "squash": "LOGISTIC"},
                  {"type": "hidden", "uuid": "b", "bias": -0.2, "squash": "TANH"},
                  {"type": "output", "uuid": "output-0", "bias": 0.05, "squash": "IDENTITY"}],
      "synapses": [{"fromUUID": "input-0", "toUUID": "a", "weight": 0.5},
                   {"fromUUID": "input-1", "toUUID": "a", "weight": -0.4},
                   {"fromUUID": "input-0", "toUUID": "b", "weight": 0.3},
                   {"fromUUID": "input-1", "toUUID": "b", "weight": 0.8},
                   {"fromUUID": "a", "toUUID": "output-0", "weight": 1.2},
                   {"fromUUID": "b", "toUUID": "output-0", "weight": -0.7}]}


def run(spec: dict, rows) -> np.ndarray:
    return compile_network(Creature.from_json(spec)).activate(np.array(rows, np.float32))


def test_golden_a_if_with_bias():
    spec = {"input": 3, "output": 1, "neurons": [
        {"type": "hidden", "uuid": "h", "bias": -0.5, "squash": "IDENTITY"},
        {"type": "output", "uuid": "output-0", "bias": 0.0, "squash": "IF"}], "synapses": [
        {"fromUUID": "input-1", "toUUID": "h", "weight": 1},
        {"fromUUID": "input-2", "toUUID": "output-0", "weight": 1, "type": "positive"},
        {"fromUUID": "h", "toUUID": "output-0", "weight": 1, "type": "condition"},
        {"fromUUID": "input-0", "toUUID": "output-0", "weight": 1, "type": "negative"}]}
    np.testing.assert_allclose(run(spec, [[-1, 0.4, 1], [-1, 0.6, 1]])[:, 0], [-1, 1])


def test_golden_b_constant():
    spec = {"input": 1, "output": 1, "neurons": [
        {"type": "constant", "uuid": "k", "bias": 0.5},
        {"type": "output", "uuid": "output-0", "bias": 0.0, "squash": "IDENTITY"}],
        "synapses": [{"fromUUID": "k", "toUUID": "output-0", "weight": 1}]}
    np.testing.assert_allclose(run(spec, [[-7.0], [0.0], [123.0]])[:, 0], [0.5, 0.5, 0.5])


def test_golden_c_minimum_and_if_identities():
    rng = np.random.default_rng(11)
    X = rng.uniform(-1, 1, (1000, 3)).astype(np.float32)
    X[:, 1] = rng.integers(0, 2, 1000)
    minimum = {"input": 3, "output": 1, "neurons": [
        {"type": "output", "uuid": "output-0", "bias": 0.0, "squash": "MINIMUM"}],
        "synapses": [{"fromUUID": f"input-{i}", "toUUID": "output-0", "weight": 1} for i in range(3)]}
    np.testing.assert_allclose(run(minimum, X)[:, 0], X.min(axis=1), atol=1e-5)
    if_else = {"input": 3, "output": 1, "neurons": [
        {"type": "output", "uuid": "output-0", "bias": 0.0, "squash": "IF"}], "synapses": [
        {"fromUUID": "input-0", "toUUID": "output-0", "weight": 1, "type": "negative"},
        {"fromUUID": "input-1", "toUUID": "output-0", "weight": 1, "type": "condition"},
        {"fromUUID": "input-2", "toUUID": "output-0", "weight": 1, "type": "positive"}]}
    np.testing.assert_allclose(run(if_else, X)[:, 0], np.where(X[:, 1] > 0, X[:, 2], X[:, 0]), atol=1e-5)


def test_golden_1_minimal_creature():
    out = run(G1, [[1.0, 0.5], [0, 0], [-1, 2], [0.25, -0.75]])[:, 0]
    np.testing.assert_allclose(out, [0.8482836399575129, 0, 0, -0.1243530017715962], rtol=1e-6, atol=1e-7)


def test_golden_3_two_hidden_mlp():
    out = run(G3, [[0, 0], [0, 1], [1, 0], [1, 1]])[:, 0]
    np.testing.assert_allclose(out, [0.8181377491321609, 0.18473428292738447, 0.7550199712334854,
                                     0.20839228763565626], rtol=1e-6)


def test_golden_4_maximum_minimum_with_a_constant():
    spec = {"input": 2, "output": 2, "neurons": [
        {"type": "constant", "uuid": "k", "bias": 0.5},
        {"type": "output", "uuid": "output-0", "bias": 0.1, "squash": "MAXIMUM"},
        {"type": "output", "uuid": "output-1", "bias": -0.1, "squash": "MINIMUM"}],
        "synapses": [{"fromUUID": src, "toUUID": f"output-{o}", "weight": w}
                     for o in range(2) for src, w in (("input-0", 2), ("input-1", -1), ("k", 1))]}
    out = run(spec, [[0.1, 0.2], [0.9, -0.3], [-0.5, 0.5]])
    np.testing.assert_allclose(out, [[0.6, -0.3], [1.9, 0.2], [0.6, -1.1]], rtol=1e-6, atol=1e-7)


def test_compiled_arrays_are_flat_csr_grouped_by_target():
    net = compile_network(Creature.from_json(G3))
    assert (net.n_inputs, net.n_outputs, net.n_neurons, net.n_synapses, net.recurrent) == (2, 1, 3, 6, False)
    assert net.squash.tolist() == [squash_id("LOGISTIC"), squash_id("TANH"), squash_id("IDENTITY")]
    assert net.offsets.tolist() == [0, 2, 4, 6]
    assert net.sources.tolist() == [0, 1, 0, 1, 2, 3]
    np.testing.assert_array_equal(net.weights, np.float32([0.5, -0.4, 0.3, 0.8, 1.2, -0.7]))
    np.testing.assert_array_equal(net.bias, np.float32([0.1, -0.2, 0.05]))
    for array, dtype in ((net.offsets, np.int32), (net.sources, np.int32), (net.weights, np.float32),
                         (net.roles, np.int8), (net.bias, np.float32)):
        assert array.dtype == dtype and array.flags.c_contiguous


def reweighted(spec: dict, scale: float) -> Creature:
    c = Creature.from_json(spec)
    for s in c.synapses:
        s.weight *= scale
    for n in c.neurons:
        n.bias *= scale
    return c


def test_network_cache_hits_on_the_same_structure_and_evicts_least_recent():
    compiler = NetworkCompiler(network_cache_size=2, template_cache_size=4)
    networks, templates = compiler.caches()
    assert (networks.name, templates.name) == ("compiled-networks", "topology-templates")
    a, b, c = (reweighted(G3, s) for s in (1.0, 2.0, 3.0))
    first, hit = compiler.compile(a)
    assert not hit
    again, hit = compiler.compile(Creature.from_json(G3))  # equal structure, separate object
    assert hit and again is first
    compiler.compile(b)
    compiler.compile(c)  # evicts a
    _, hit = compiler.compile(a)
    assert not hit
    stats = networks.stats()
    assert (stats.hits, stats.misses, stats.evictions, stats.current_size, stats.max_size) == (1, 4, 2, 2, 2)


def test_template_hit_swaps_in_the_weights_and_biases():
    compiler = NetworkCompiler()
    _, templates = compiler.caches()
    X = np.random.default_rng(2).uniform(-1, 1, (64, 2)).astype(np.float32)
    base, _ = compiler.compile(reweighted(G3, 1.0))
    other_creature = reweighted(G3, 0.5)
    other_creature.synapses.reverse()  # listing order must not matter
    other, hit = compiler.compile(other_creature)
    assert not hit and templates.stats().hits == 1 and templates.stats().misses == 1
    assert other.shares_topology(base)  # the index arrays are shared, not rebuilt
    assert not np.allclose(other.activate(X), base.activate(X))
    np.testing.assert_allclose(other.activate(X), ref.activate(other_creature, X.tolist()), rtol=1e-5, atol=1e-6)


def test_template_separates_synapse_roles():
    compiler = NetworkCompiler()
    c = ref.random_creature(np.random.default_rng(8), n_hidden=10, squash_names=["IF", "TANH"])
    d = c.copy()
    flip = next(s for s in d.synapses if s.type == "condition")
    flip.type = "negative"  # same wiring, another role: another topology
    assert c.topology_hash() != d.topology_hash()
    compiler.compile(c)
    compiler.compile(d)
    assert compiler.caches()[1].stats().hits == 0


def test_template_hits_compile_random_creatures_exactly():
    compiler = NetworkCompiler(template_cache_size=10)
    rng = np.random.default_rng(12)
    X = rng.uniform(-2, 2, (50, 3)).astype(np.float32)
    base = ref.random_creature(np.random.default_rng(5), n_hidden=16, recurrent=True)
    for k in range(5):
        c = base.copy()
        for s in c.synapses:
            s.weight = float(rng.uniform(-1, 1))
        for n in c.neurons:
            n.bias = float(rng.uniform(-1, 1))
        net, _ = compiler.compile(c)
        np.testing.assert_allclose(net.activate(X), ref.activate(c, X.tolist()), rtol=1e-3, atol=1e-4)
    assert compiler.caches()[1].stats().hits == 4


def test_a_batch_compiles_as_one_creature_at_a_time_does():
    from neatai.evaluator import FlatCreature
    rng = np.random.default_rng(3)
    base = ref.random_creature(np.random.default_rng(4), n_hidden=6)
    batch = []
    for k in range(12):  # one topology, some structures repeated within the batch
        c = base.copy()
        for s in c.synapses:
            s.weight = float(k % 5) + 0.5
        batch.append(FlatCreature.of(c))
    one, many = NetworkCompiler(network_cache_size=64), NetworkCompiler(network_cache_size=64)
    singles = [one.compile(c) for c in batch]
    networks, hits = many.compile_all(batch)
    X = rng.uniform(-1, 1, (20, base.input)).astype(np.float32)
    assert [n.parameters for n in networks] == [n.parameters for n, _ in singles]
    assert all(np.array_equal(a.activate(X), b.activate(X)) for a, (b, _) in zip(networks, singles))
    assert hits == [False] * 12  # looked up before any of the batch was put
    assert all(n.shares_topology(networks[0]) for n in networks)  # one template serves the batch
    again, hits = many.compile_all(batch)
    assert hits == [True] * 12 and all(a is b for a, b in zip(again, networks))
    stats = many.caches()[0].stats()
    assert (stats.hits, stats.misses, stats.current_size) == (12, 12, 5)


def test_network_cache_defaults_to_twice_the_population():
    assert NetworkCompiler().caches()[0].stats().max_size == 512
    assert NetworkCompiler(population_size=300).caches()[0].stats().max_size == 600
    assert NetworkCompiler(population_size=300, memetic=True).caches()[0].stats().max_size == 900  # seed 000
    assert NetworkCompiler().caches()[1].stats().max_size == 100


def test_the_embedded_evaluator_caches_three_populations_for_a_memetic_run():
    from neatai.app.runner import embedded_evaluator_config
    from neatai.evolver.config import EvolverConfig

    size = lambda **c: embedded_evaluator_config(EvolverConfig(**c), threads=1).network_cache_size  # noqa: E731
    assert (size(population_size=300, memetic=True), size(population_size=300)) == (900, 600)
    assert size(population_size=50, memetic=True) == 512  # never below the evaluator's default


# ---- score (§7.1) -----------------------------------------------------------------------------

@pytest.mark.parametrize("v,expected,tol", [
    (0, 0, 1e-12), (1, 0, 1e-12), (0.5, 0, 1e-12), (2, 0.6667, 1e-4), (10, 0.90909, 1e-5),
    (5000, 0.9998949270042241, 1e-3), (1e10, 0.9999583781651307, 1e-3),
    (184323183.02923888, 0.9999500803736046, 1e-3),
])
def test_golden_d_value_penalty(v, expected, tol):
    assert value_penalty(v) == pytest.approx(expected, abs=tol)


def test_golden_7_score():
    assert score(Creature.from_json(G3), 0.02, cost_of_growth=1e-4) == pytest.approx(0.979739727, abs=1e-9)


def test_score_penalises_an_old_major_version():
    spec = dict(G3, semanticVersion="3.2.1")
    current = dict(G3, semanticVersion="4.0.0")
    assert score(Creature.from_json(current), 0.02, 1e-4) - score(Creature.from_json(spec), 0.02, 1e-4) \
        == pytest.approx(1e-6, rel=1e-6)


def test_network_from_arrays_validates_and_matches_the_compiler():
    compiled = compile_network(Creature.from_json(G3))
    arrays = dict(ops=compiled.ops, bias=compiled.bias, lo=compiled.lo, hi=compiled.hi, offsets=compiled.offsets,
                  sources=compiled.sources, weights=compiled.weights, roles=compiled.roles)
    by_hand = Network(2, 1, **arrays)
    X = np.random.default_rng(3).uniform(-1, 1, (16, 2)).astype(np.float32)
    np.testing.assert_array_equal(by_hand.activate(X), compiled.activate(X))
    assert not by_hand.recurrent
    for change, message in ((dict(sources=[0, 1, 0, 1, 2, 9]), "source out of range"),
                            (dict(offsets=[0, 2, 7, 6]), "offsets"),
                            (dict(ops=[6, 7, 99]), "unknown op"),
                            (dict(roles=[0, 0, 0, 0, 0, 4]), "role"),
                            (dict(weights=[1.0]), "disagree")):
        with pytest.raises(ValueError, match=message):
            Network(2, 1, **{**arrays, **change})
    assert Network(2, 1, **{**arrays, "sources": [0, 1, 0, 1, 2, 4]}).recurrent  # output reads itself


def test_an_unbuilt_network_is_refused_not_run():
    empty = Network.__new__(Network)
    with pytest.raises(ValueError, match="never built"):
        empty.activate(np.zeros((1, 2), np.float32))
    with pytest.raises(ValueError, match="never built"):
        evaluate_population([empty], np.zeros((1, 2), np.float32), np.zeros((1, 1), np.float32))
