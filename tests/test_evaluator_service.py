"""The Evaluator (domain, no gRPC): population scores equal the kernel's on the same compiled
networks whatever the chunking, caches hit on repeated creatures, bad requests raise precise
domain errors, and stats describe caches, pool and memory."""
from __future__ import annotations

import numpy as np
import pytest
import reference_activation as ref

from neatai.datasets import Dataset, DatasetNotFound, xor
from neatai.evaluator import compile_network, evaluate_population, score
from neatai.evaluator.service import EvaluationError, Evaluator, ShapeMismatch


@pytest.fixture
def evaluator():
    ev = Evaluator(threads=3, memory_check_interval_s=60)
    yield ev
    ev.close()


def population(n, seed=0, n_in=2, n_out=1):
    rng = np.random.default_rng(seed)
    return [ref.random_creature(rng, n_in=n_in, n_hidden=int(rng.integers(0, 6)), n_out=n_out,
                                squash_names=["TANH", "LOGISTIC", "RELU", "IDENTITY"]) for _ in range(n)]


def test_population_scores_match_the_kernel_in_request_order(evaluator):
    data = xor()
    dataset_id, present = evaluator.register_dataset(data)
    assert (dataset_id, present) == (data.id, False)
    creatures = population(50)
    results = evaluator.evaluate(dataset_id, creatures, cost="MSE", cost_of_growth=1e-7, structural_hashes=True)
    expected = evaluate_population([compile_network(c) for c in creatures], data.X, data.Y, "MSE")
    assert [r.error for r in results] == list(expected)
    assert [r.score for r in results] == [score(c, e, 1e-7) for c, e in zip(creatures, expected)]
    assert [r.structural_hash for r in results] == [c.structural_hash() for c in creatures]
    unasked = evaluator.evaluate(dataset_id, creatures, cost="MSE", cost_of_growth=1e-7)
    assert [r.structural_hash for r in unasked] == [None] * len(creatures)
    assert all(r.activate_seconds >= 0 for r in results)


def test_cost_sample_rate_and_feedback_loop_reach_the_kernel(evaluator):
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, (40, 2)).astype(np.float32)
    data = Dataset(X, (X[:, :1] * X[:, 1:]).astype(np.float32))
    evaluator.register_dataset(data)
    creatures = population(12, seed=5)
    got = evaluator.evaluate(data.id, creatures, cost="MAE", sample_rate=0.5, feedback_loop=True)
    want = evaluate_population([compile_network(c) for c in creatures], data.X, data.Y, "MAE", 0.5, True)
    assert [r.error for r in got] == list(want)


def test_large_work_is_split_over_the_pool_and_small_work_runs_inline(evaluator, monkeypatch):
    chunks = []
    submit = evaluator.pool.submit
    monkeypatch.setattr(evaluator.pool, "submit", lambda *a, **k: chunks.append(len(a[1])) or submit(*a, **k))
    rng = np.random.default_rng(11)
    X = rng.uniform(-1, 1, (4000, 2)).astype(np.float32)
    data = Dataset(X, np.tanh(X[:, :1] - X[:, 1:]))
    evaluator.register_dataset(data)
    creatures = population(40, seed=8)
    got = evaluator.evaluate(data.id, creatures)
    want = evaluate_population([compile_network(c) for c in creatures], data.X, data.Y)
    assert [r.error for r in got] == list(want)
    assert len(chunks) > 1 and sum(chunks) == 40
    evaluator.register_dataset(xor())
    evaluator.evaluate(xor().id, creatures)
    assert sum(chunks) == 40  # 4 records: not worth a pool hand-off


def test_repeated_creatures_hit_the_compiled_network_cache(evaluator):
    evaluator.register_dataset(xor())
    creatures = population(20, seed=1)
    first = evaluator.evaluate(xor().id, creatures)
    networks = evaluator.stats().caches[0]
    assert networks.name == "compiled-networks" and networks.misses >= 20
    second = evaluator.evaluate(xor().id, creatures)
    after = evaluator.stats().caches[0]
    assert after.hits - networks.hits == 20
    assert all(r.compile_seconds == 0 for r in second)
    assert any(r.compile_seconds > 0 for r in first)
    assert [r.error for r in first] == [r.error for r in second]


def test_domain_errors(evaluator):
    with pytest.raises(DatasetNotFound):
        evaluator.evaluate("sha256:" + "0" * 64, population(1))
    evaluator.register_dataset(xor())
    creatures = population(3) + population(1, n_in=3)
    with pytest.raises(ShapeMismatch, match=r"1 creature\(s\) \(first creatures\[3\] with 3 inputs/1 outputs\)") as e:
        evaluator.evaluate(xor().id, creatures)
    assert e.value.field == "creatures[3]"
    for kwargs, field in [({"cost": "NOPE"}, "cost"), ({"sample_rate": 0.0}, "fitness_sample_rate"),
                          ({"sample_rate": 1.5}, "fitness_sample_rate"), ({"sample_rate": 0.1}, "fitness_sample_rate"),
                          ({"cost_of_growth": -1.0}, "cost_of_growth"), ({"cost_of_growth": float("nan")}, "cost_of_growth")]:
        with pytest.raises(EvaluationError) as e:
            evaluator.evaluate(xor().id, population(2), **kwargs)
        assert e.value.field == field, kwargs
    assert evaluator.evaluate(xor().id, []) == []


def test_activate_runs_one_creature(evaluator):
    creature = population(1, seed=9, n_out=1)[0]
    X = np.array([[0, 1], [1, 1], [0.5, -2]], dtype=np.float32)
    np.testing.assert_array_equal(evaluator.activate(creature, X), compile_network(creature).activate(X))
    with pytest.raises(EvaluationError, match=r"expected shape \(rows, 2\)"):
        evaluator.activate(creature, np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(EvaluationError, match="non-finite"):
        evaluator.activate(creature, np.array([[np.inf, 0]], dtype=np.float32))


def test_stats_and_memory_capped_threads():
    ev = Evaluator(threads=8, max_memory_mb=4096, estimated_memory_per_worker_mb=2048, network_cache_size=7,
                   template_cache_size=5, dataset_store_bytes=1 << 20, memory_budget_bytes=1 << 40,
                   memory_check_interval_s=60)
    try:
        stats = ev.stats()
        assert ev.threads == 2
        assert [(c.name, c.max_size) for c in stats.caches] == [
            ("compiled-networks", 7), ("topology-templates", 5), ("datasets", 1 << 20)]
        assert stats.pools[0].total_workers == 2 and stats.pools[0].name == "evaluator"
        assert stats.memory.budget_bytes == 1 << 40 and stats.memory.resident_bytes > 0
        # Under pressure the monitor relieves the compiler's caches but keeps the datasets.
        assert {c.name for c in ev.memory.caches()} == {"compiled-networks", "topology-templates"}
    finally:
        ev.close()
    with pytest.raises(TypeError, match="unknown evaluator option"):
        Evaluator(thread=1)


def test_memory_pressure_clears_compiled_networks_but_keeps_datasets():
    # A 1-byte budget puts any process at the critical level on the first check.
    ev = Evaluator(threads=1, memory_budget_bytes=1, memory_check_interval_s=60)
    try:
        ev.register_dataset(xor())
        ev.evaluate(xor().id, population(5))
        stats = ev.stats()
        networks, templates, datasets = stats.caches
        assert stats.memory.critical_events == 1 and stats.memory.level == "critical"
        assert networks.current_size == templates.current_size == 0 and networks.evictions >= 5
        assert datasets.current_size == xor().nbytes
        assert len(ev.evaluate(xor().id, population(5))) == 5  # recompiles on demand
    finally:
        ev.close()
