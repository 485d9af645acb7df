"""Memetic evolution in process (the real kernels and training, no services): the fine-tune
fraction's curve and bounds, trained copies taking offspring places (never elites, only when
better, never twice), the options read and checked by NEAT-AI's names, and a memetic evolution
that checkpoints and resumes exactly."""
from __future__ import annotations

import json

import numpy as np
import pytest

from neatai.evaluator import evaluate_in_process
from neatai.evaluator.training import train
from neatai.evolver.config import ConfigError, EvolverConfig
from neatai.evolver.evolution import Evolution
from neatai.evolver.memetic import fine_tune_fraction

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
Y = np.array([[0], [1], [1], [0]], np.float32)
CONFIG = EvolverConfig(population_size=20, seed=3, target_error=0.0, iterations=12, memetic=True,
                       backpropagation={"iterations": 3, "initialLearningRate": 0.3})


def test_the_fraction_grows_with_success_and_stays_in_bounds():
    c = EvolverConfig()
    assert fine_tune_fraction(c, []) == 0.2 == fine_tune_fraction(c, [(4, 2)])
    assert [round(fine_tune_fraction(c, [(10, k)]), 6) for k in (0, 2, 8, 10)] == [0.1, 0.14, 0.32, 0.4]
    assert fine_tune_fraction(c, [(3, 3), (1, 0)]) == pytest.approx(0.2 + 0.25 * 2 * 0.2)  # pooled over the window


def memetic_step(evo: Evolution) -> tuple[int, int]:
    """One generation: score, breed, train the candidates in process, hand back the results."""
    errors, scores = evaluate_in_process(evo.ask(), X, Y)
    evo.tell(errors, scores)
    candidates, seed = evo.fine_tune_candidates()
    results = [train(c, X, Y, seed=seed + i, **CONFIG.backpropagation) for i, c in enumerate(candidates)]
    return len(candidates), evo.add_trained(results)


def test_trained_copies_take_offspring_places_only_when_better():
    evo = Evolution(CONFIG, 2, 1)
    errors, scores = evaluate_in_process(evo.ask(), X, Y)
    evo.tell(errors, scores)
    elites = evo.population[:CONFIG.elitism]
    candidates, _ = evo.fine_tune_candidates()
    assert len(candidates) == 4  # the base fraction, 0.2 of 20, the best first
    assert candidates == [c for c, _, _ in evo.ranked()[:4]]
    results = [train(c, X, Y, iterations=5, learningRate=0.5, seed=1) for c in candidates]
    results.append(results[0])  # the same copy twice takes one place
    better = [r for r in results if r.error_after < r.error_before]
    assert better, "training improved none of the best creatures of a random population"
    before = list(evo.population)
    assert evo.add_trained(results) == len(better)
    assert evo.population[:CONFIG.elitism] == elites
    changed = [i for i, (a, b) in enumerate(zip(before, evo.population)) if a is not b]
    assert len(changed) == len({r.creature.structural_hash() for r in better})
    assert all(evo.scores[i] is None for i in changed)  # scored with the next generation
    assert changed == sorted(changed) and changed[-1] == len(evo.population) - 1  # from the last offspring back


def test_a_memetic_evolution_resumes_exactly():
    straight = Evolution(CONFIG, 2, 1)
    figures = [memetic_step(straight) for _ in range(8)]
    assert sum(improved for _, improved in figures) > 0
    resumed = Evolution(CONFIG, 2, 1)
    for _ in range(4):
        memetic_step(resumed)
    resumed = Evolution.from_state(json.loads(json.dumps(resumed.state_dict())))
    assert [memetic_step(resumed) for _ in range(4)] == figures[4:]
    assert resumed.state_dict()["population"] == straight.state_dict()["population"]
    assert resumed.fine_tune_fraction == straight.fine_tune_fraction


def test_memetic_options_by_neat_ai_names():
    c = EvolverConfig.from_dict({"memetic": True, "fineTunePopulation": {"maxPopulationFraction": 0.6,
                                                                          "successRateWindow": 5},
                                 "backpropagation": {"batchSize": 16, "learningRateStrategy": "adaptive"}})
    assert (c.memetic, c.fine_tune_max_fraction, c.fine_tune_window) == (True, 0.6, 5)
    assert EvolverConfig.from_dict(c.to_dict()) == c == EvolverConfig.from_proto(c.to_proto())
    assert not EvolverConfig().memetic
    with pytest.raises(ConfigError) as e:
        EvolverConfig.from_dict({"memetic": "yes"})
    assert [p.path for p in e.value.problems] == ["memetic"]
    with pytest.raises(ConfigError) as e:
        EvolverConfig.from_dict({"backpropagation": {"learningRate": "fast", "disableRandomSamples": 1}})
    assert {p.path for p in e.value.problems} == {"backpropagation.learningRate", "backpropagation.disableRandomSamples"}
    with pytest.raises(ConfigError) as e:
        EvolverConfig.from_dict({"fineTunePopulation": {"maxPopulationFraction": 1.5, "successRateWindow": 0},
                                 "backpropagation": {"iterations": 0, "cosine": 1, "seed": 4}})
    assert {p.path for p in e.value.problems} == {
        "fineTunePopulation.maxPopulationFraction", "fineTunePopulation.successRateWindow",
        "backpropagation.iterations", "backpropagation.cosine", "backpropagation.seed"}
