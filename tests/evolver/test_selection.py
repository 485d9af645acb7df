"""Selection and speciation options: parent selection, mutation-only and interspecies offspring,
the dynamic compatibility threshold, species elitism, the squash allow-list and the NEAT paper's
weight mutation — each by name in RunConfig, validated, and resumed exactly from a checkpoint."""
from __future__ import annotations

import json
import random
from collections import Counter

import numpy as np
import pytest

from neatai.creature import Creature
from neatai.evaluator import evaluate_in_process
from neatai.evolver.config import ConfigError, EvolverConfig
from neatai.evolver.evolution import Evolution, adjust_threshold
from neatai.evolver.species import Species, breeding
from neatai.genome.operators import initial_creature, perturb_weights

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
Y = np.array([[0], [1], [1], [0]], np.float32)

# The settings bench/bench_neat_loop.py measures beside neat-python (XOR with LOGISTIC only).
NEAT_LOOP = {"selection": "TOURNAMENT", "survivalThreshold": 0.1, "mutationRate": 0.5,
             "weightMutation": {"rate": 0.8, "power": 2.5, "replaceRate": 0.0},
             "squashBudget": {"allowedSquashes": ["LOGISTIC"]}}


def xor(creatures):
    return evaluate_in_process(creatures, X, Y)


def test_every_option_reads_by_its_name_and_survives_the_proto():
    config = EvolverConfig.from_dict({
        "populationSize": 60, "speciesElitism": 3, "championMinSpeciesSize": 6, "selection": "FITNESS_PROPORTIONATE",
        "tournamentSize": 4, "mutationOnlyRate": 0.25, "interspeciesCrossoverRate": 0.001, "targetSpecies": 8,
        "compatibilityStep": 0.2, "squashBudget": {"allowedSquashes": ["LOGISTIC", "TANH"]},
        "weightMutation": {"rate": 0.8, "power": 1.5, "replaceRate": 0.1}})
    assert (config.species_elitism, config.champion_min_species_size, config.selection, config.tournament_size) == (
        3, 6, "FITNESS_PROPORTIONATE", 4)
    assert (config.mutation_only_rate, config.interspecies_crossover_rate) == (0.25, 0.001)
    assert (config.target_species, config.compatibility_step, config.allowed_squashes) == (8, 0.2, ("LOGISTIC", "TANH"))
    assert (config.weight_mutation_rate, config.weight_mutation_power, config.weight_replace_rate) == (0.8, 1.5, 0.1)
    assert EvolverConfig.from_proto(config.to_proto()) == config
    assert EvolverConfig.from_dict(config.to_dict()) == config
    assert set(config.squash_pool) == {"LOGISTIC", "TANH"}


def test_bad_values_are_each_named():
    with pytest.raises(ConfigError) as e:
        EvolverConfig.from_dict({"populationSize": 20, "speciesElitism": 0, "selection": "ROULETTE",
                                 "tournamentSize": 1, "mutationOnlyRate": 1.5, "interspeciesCrossoverRate": -0.1,
                                 "targetSpecies": 20, "compatibilityStep": 0,
                                 "squashBudget": {"allowedSquashes": ["LOGISTIC", "NOPE"]},
                                 "weightMutation": {"rate": 2, "power": 0, "replaceRate": -1}})
    paths = {p.path for p in e.value.problems}
    assert paths == {"speciesElitism", "selection", "tournamentSize", "mutationOnlyRate", "interspeciesCrossoverRate",
                     "targetSpecies", "compatibilityStep", "squashBudget.allowedSquashes[1]", "weightMutation.rate",
                     "weightMutation.power", "weightMutation.replaceRate"}
    assert "ROULETTE" in str(e.value) and "'NOPE' is not a squash" in str(e.value)
    with pytest.raises(ConfigError, match="IF alone"):
        EvolverConfig.from_dict({"squashBudget": {"allowedSquashes": ["IF"]}})


def test_allowed_squashes_hold_for_outputs_and_every_neuron_bred():
    evo = Evolution(EvolverConfig.from_dict({**NEAT_LOOP, "populationSize": 60, "seed": 4, "iterations": 25,
                                             "targetError": 0.0}), 2, 1)
    evo.run(xor)
    squashes = {n.squash for c in evo.population for n in c.neurons if n.type != "constant"}
    assert squashes == {"LOGISTIC"}
    assert any(c.hidden_count for c in evo.population)  # hidden neurons were bred, all LOGISTIC


def _scored(n: int, seed: int = 0) -> Evolution:
    evo = Evolution(EvolverConfig(population_size=n, seed=seed, iterations=50, target_error=0.0), 2, 1)
    evo.scores = [float(i) for i in range(n)]
    return evo


@pytest.mark.parametrize("selection", ["TOURNAMENT", "FITNESS_PROPORTIONATE"])
def test_selection_by_fitness_prefers_the_better_parents(selection):
    evo = _scored(30)
    evo.config = evo.config.replace(selection=selection, tournament_size=3)
    parents = sorted(range(30), key=lambda i: -evo.scores[i])  # best first, as species rank them
    picks = Counter(evo._pick(parents) for _ in range(6000))
    best_half = sum(picks[i] for i in parents[:15])
    assert best_half > 0.6 * 6000  # uniform would give half
    assert picks[parents[0]] > picks[parents[-1]]
    uniform = _scored(30)
    even = Counter(uniform._pick(parents) for _ in range(6000))
    assert abs(sum(even[i] for i in parents[:15]) - 3000) < 300


def test_fitness_proportionate_never_picks_the_worst_of_a_species_and_copes_with_equal_scores():
    evo = _scored(5)
    evo.config = evo.config.replace(selection="FITNESS_PROPORTIONATE")
    parents = [4, 3, 2, 1, 0]
    assert 0 not in {evo._pick(parents) for _ in range(500)}  # shifted by the worst: weight 0
    evo.scores = [1.0] * 5
    assert {evo._pick(parents) for _ in range(500)} == set(parents)


def test_dynamic_threshold_steps_towards_the_target_species_count():
    config = EvolverConfig(population_size=100, target_species=6, compatibility_step=0.5)
    assert adjust_threshold(3.0, 3, config) == pytest.approx(2.25)  # half the species wanted: 0.5 * 50 % down
    assert adjust_threshold(3.0, 9, config) == pytest.approx(3.75)  # too many: merge
    assert adjust_threshold(3.0, 6, config) == 3.0
    assert adjust_threshold(3.0, 60, config) == 6.0  # at most doubled
    assert adjust_threshold(3.0, 1, EvolverConfig(population_size=100)) == 3.0  # off by default


def test_a_run_with_a_species_target_holds_near_it():
    config = EvolverConfig.from_dict({**NEAT_LOOP, "populationSize": 100, "seed": 2, "iterations": 30,
                                      "targetError": 0.0, "targetSpecies": 6, "compatibilityStep": 0.3,
                                      "compatibility": {"CP": 3.0, "C3": 0.4}})
    evo = Evolution(config, 2, 1)
    counts = []
    evo.run(xor, lambda s: counts.append(s.species))
    assert evo.cp != 3.0
    late = counts[10:]
    assert 3 <= sum(late) / len(late) <= 12, counts


def test_species_elitism_protects_the_best_stagnant_species():
    def species(i, best):
        return Species(i, None, None, 0, best_score=best, last_improved=0, members=[i])

    group = [species(0, 1.0), species(1, 3.0), species(2, 2.0), species(3, 0.0)]
    assert [s.id for s in breeding(group, 100, 15, 1)] == [1]
    assert [s.id for s in breeding(group, 100, 15, 3)] == [0, 1, 2]
    assert len(breeding(group, 5, 15, 1)) == 4  # none stagnant yet


def test_perturb_weights_moves_every_weight_within_the_power():
    rng = random.Random(3)
    c = initial_creature(5, 2, rng)
    before = [s.weight for s in c.synapses] + [n.bias for n in c.neurons]
    assert perturb_weights(c, rng, 0.25, 0.0)
    after = [s.weight for s in c.synapses] + [n.bias for n in c.neurons]
    assert all(0 < abs(a - b) <= 0.25 for a, b in zip(after, before))
    perturb_weights(c, rng, 0.25, 1.0)  # all replaced from U(-1, 1)
    assert all(-1 <= s.weight <= 1 for s in c.synapses)


@pytest.mark.parametrize("options", [
    {"selection": "TOURNAMENT", "mutationOnlyRate": 0.25, "interspeciesCrossoverRate": 0.2, "targetSpecies": 5,
     "compatibility": {"CP": 3.0, "C3": 0.4}, "weightMutation": {"rate": 0.8}},
    {"selection": "FITNESS_PROPORTIONATE", "speciesElitism": 1, "championMinSpeciesSize": 3},
])
def test_runs_with_the_options_resume_exactly_and_stay_valid(options):
    config = EvolverConfig.from_dict({"populationSize": 40, "seed": 9, "iterations": 12, "targetError": 0.0, **options})
    whole = Evolution(config, 2, 1)
    whole.run(xor)
    first = Evolution(config, 2, 1)
    for _ in range(5):
        first.tell(*xor(first.ask()))
    resumed = Evolution.from_state(json.loads(json.dumps(first.state_dict(), allow_nan=False)))
    assert resumed.cp == first.cp
    resumed.run(xor)
    assert [c.to_dict() for c in resumed.population] == [c.to_dict() for c in whole.population]
    assert resumed.best_score == whole.best_score
    for c in whole.population:
        assert Creature.from_json(c.to_dict()).to_dict() == c.to_dict()  # valid, canonical


def test_the_neat_loop_settings_solve_xor_with_logistic_only():
    solved = 0
    for seed in (1, 2, 3):
        evo = Evolution(EvolverConfig.from_dict({**NEAT_LOOP, "populationSize": 150, "seed": seed,
                                                 "iterations": 150, "targetError": 0.025}), 2, 1)
        evo.run(xor)
        solved += evo.solved
        assert evo.best.neurons[-1].squash == "LOGISTIC"
    assert solved == 3
