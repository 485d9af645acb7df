"""The generation loop: ask/tell, elitism, reproducibility, checkpoint resume, islands, stop rules."""
from __future__ import annotations

import json
import math
import random
import time

import numpy as np
import pytest

from neatai.creature import Creature
from neatai.evaluator import evaluate_in_process
from neatai.evolver.config import EvolverConfig
from neatai.evolver.evolution import Evolution
from neatai.genome.operators import initial_creature

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
Y = np.array([[0], [1], [1], [0]], np.float32)


def xor(creatures):
    return evaluate_in_process(creatures, X, Y)


def history(evo: Evolution) -> list:
    out = []
    evo.run(xor, lambda s: out.append((s.generation, s.best_score, s.mean_error, s.species, s.evaluations)))
    return out


def test_xor_is_solved_with_the_real_kernels():
    for seed in range(3):
        evo = Evolution(EvolverConfig(population_size=150, seed=seed, target_error=0.025, iterations=100), 2, 1)
        stats = evo.run(xor)
        assert evo.solved and stats.solved and stats.done
        errors, _ = xor([evo.best])
        assert errors[0] == evo.best_error <= 0.025


def test_same_seed_same_run_different_seed_different_run():
    def run(seed):
        evo = Evolution(EvolverConfig(population_size=40, seed=seed, target_error=0.0, iterations=12), 2, 1)
        return history(evo), evo.best.to_dict(), [c.to_dict() for c in evo.population]

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_checkpoint_through_json_resumes_exactly():
    config = EvolverConfig(population_size=40, seed=11, target_error=0.0, iterations=14, elitism=2)
    whole = Evolution(config, 2, 1)
    expected = history(whole)
    first = Evolution(config, 2, 1)
    part = []
    for _ in range(6):
        s = first.tell(*xor(first.ask()))
        part.append((s.generation, s.best_score, s.mean_error, s.species, s.evaluations))
    resumed = Evolution.from_state(json.loads(json.dumps(first.state_dict(), allow_nan=False)))
    assert resumed.generation == 6 and resumed.evaluations == first.evaluations
    part += history(resumed)
    assert part == expected
    assert resumed.best.to_dict() == whole.best.to_dict()
    assert [c.to_dict() for c in resumed.population] == [c.to_dict() for c in whole.population]


def test_checkpoint_keeps_queued_migrants_and_the_distance_cache_is_only_a_cache():
    config = EvolverConfig(population_size=20, seed=12, target_error=0.0, iterations=6, distance_cache_max_size=3)
    a = Evolution(config, 2, 1)
    a.tell(*xor(a.ask()))
    asked = a.ask()
    a.import_creatures([initial_creature(2, 1, random.Random(1))])
    b = Evolution.from_state(json.loads(json.dumps(a.state_dict())))
    a.tell(*xor(asked))
    b.tell(*xor(b.ask()))
    assert [c.to_dict() for c in a.population] == [c.to_dict() for c in b.population]
    assert history(a) == history(b)
    assert a.distance.stats().evictions > 0 and a.distance.stats().current_size <= 3


def test_elites_are_carried_unchanged_and_not_scored_again():
    evo = Evolution(EvolverConfig(population_size=30, seed=1, elitism=3, target_error=0.0, iterations=5), 2, 1)
    first = evo.ask()
    assert len(first) == 30
    errors, scores = xor(first)
    evo.tell(errors, scores)
    order = sorted(range(30), key=lambda i: (-scores[i], i))
    assert [c.to_dict() for c in evo.population[:3]] == [first[i].to_dict() for i in order[:3]]
    assert evo.scores[:3] == [scores[i] for i in order[:3]]
    asked = evo.ask()
    assert len(asked) <= 27 and all(c is not evo.population[0] for c in asked)
    assert evo.evaluations == 30


def test_population_has_no_duplicates_and_stays_valid():
    evo = Evolution(EvolverConfig(population_size=60, seed=2, target_error=0.0, iterations=8), 2, 1)
    for _ in range(7):
        evo.tell(*xor(evo.ask()))
        assert len(evo.population) == 60
        assert len(set(evo.ids)) == 60
        for c in evo.population:
            assert not Creature.from_json(c.to_dict()).recurrent


def test_stats_report_the_generation():
    evo = Evolution(EvolverConfig(population_size=20, seed=3, target_error=0.0, iterations=3), 2, 1)
    s = evo.tell(*xor(evo.ask()))
    assert (s.generation, s.evaluations, s.done) == (1, 20, False)
    assert s.best_score == evo.best_score and s.best_error == evo.best_error
    assert s.species >= 1 and s.synapses == len(evo.best.synapses) and s.hidden_neurons == evo.best.hidden_count
    assert set(s.phase_seconds) == {"speciate", "reproduce"} and all(v >= 0 for v in s.phase_seconds.values())
    assert 0 < s.mean_error < math.inf


def test_stops_at_iterations_or_max_evaluations():
    evo = Evolution(EvolverConfig(population_size=20, seed=4, target_error=0.0, iterations=3), 2, 1)
    assert evo.run(xor).generation == 3 and evo.done and not evo.solved
    evo = Evolution(EvolverConfig(population_size=20, seed=4, target_error=0.0, max_evaluations=50), 2, 1)
    evo.run(xor)
    assert 50 <= evo.evaluations < 70
    with pytest.raises(RuntimeError):
        evo.tell([], [])


def test_results_arriving_after_the_timeout_are_still_taken():
    evo = Evolution(EvolverConfig(population_size=10, seed=0, target_error=0.0, timeout_seconds=0.05), 2, 1)
    creatures = evo.ask()
    time.sleep(0.06)  # the evaluation outlives the budget
    assert evo.done
    stats = evo.tell(*xor(creatures))
    assert stats.done and evo.evaluations == 10


def test_non_finite_results_rank_last_and_do_not_break_breeding():
    evo = Evolution(EvolverConfig(population_size=12, seed=0, target_error=0.0, iterations=4), 2, 1)
    errors, scores = xor(evo.ask())
    errors[0], scores[0] = float("nan"), float("nan")
    errors[1], scores[1] = float("inf"), float("-inf")
    stats = evo.tell(errors, scores)
    assert math.isfinite(stats.best_score) and math.isfinite(stats.mean_score)
    assert len(evo.population) == 12
    assert evo.ranked()[-1][1] == float("-inf") and evo.ranked()[-1][2] == float("inf")
    assert json.loads(json.dumps(evo.state_dict(), allow_nan=False))
    evo.run(xor)
    assert evo.generation == 4


def test_tell_needs_one_result_per_asked_creature():
    evo = Evolution(EvolverConfig(population_size=10, seed=0), 2, 1)
    with pytest.raises(ValueError):
        evo.tell([0.1] * 9, [0.9] * 9)


def test_seed_creatures_and_migrants_join_the_population():
    rng = random.Random(99)
    seeds = [initial_creature(2, 1, rng) for _ in range(3)]
    evo = Evolution(EvolverConfig(population_size=10, seed=0, target_error=0.0, iterations=5), 2, 1, seeds)
    assert [c.to_dict() for c in evo.population[:3]] == [c.to_dict() for c in seeds]
    evo.tell(*xor(evo.ask()))
    asked = evo.ask()  # a generation being scored is never changed: migrants wait for the next
    migrants = [initial_creature(2, 1, rng) for _ in range(2)]
    assert evo.import_creatures(migrants) == 2
    assert not any(m.to_dict() == c.to_dict() for m in migrants for c in evo.population)
    evo.tell(*xor(asked))
    assert [c.to_dict() for c in evo.population[-2:]] == [m.to_dict() for m in migrants]
    assert len(evo.population) == 10
    with pytest.raises(ValueError):
        evo.import_creatures([initial_creature(3, 1, rng)])


def test_migrants_arriving_before_ask_replace_the_last_unscored_creatures():
    rng = random.Random(98)
    evo = Evolution(EvolverConfig(population_size=10, seed=0, target_error=0.0, iterations=5), 2, 1)
    evo.tell(*xor(evo.ask()))
    migrants = [initial_creature(2, 1, rng) for _ in range(2)]
    assert evo.import_creatures(migrants) == 2
    asked = evo.ask()
    assert [c.to_dict() for c in asked[-2:]] == [m.to_dict() for m in migrants]
    assert len(asked) == len(evo.population) - 1 and evo.tell(*xor(asked)).generation == 2


def test_emigrants_are_the_best_fraction():
    evo = Evolution(EvolverConfig(population_size=40, seed=0, migration_fraction=0.1, iterations=3,
                                  target_error=0.0), 2, 1)
    errors, scores = xor(evo.ask())
    best = max(range(40), key=lambda i: (scores[i], -i))
    evo.tell(errors, scores)
    out = evo.emigrants()
    assert len(out) == 4 and out[0].to_dict() == evo.best.to_dict()
    assert [c for c, _, _ in evo.ranked()[:4]] == out and len(evo.ranked()) == 40
    assert [s for _, s, _ in evo.ranked()] == sorted(scores, reverse=True)
    assert evo.best.to_dict() == evo.population[0].to_dict() and scores[best] == evo.best_score
