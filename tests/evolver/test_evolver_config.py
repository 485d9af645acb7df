"""EvolverConfig: NEAT-AI defaults and names, every problem reported, warnings, proto round trip."""
from __future__ import annotations

import pytest

from neatai.creature import Problem
from neatai.evolver.config import ConfigError, EvolverConfig


def test_defaults_are_neat_ais():
    c = EvolverConfig()
    assert (c.population_size, c.elitism, c.mutation_rate, c.mutation_amount) == (50, 1, 0.3, 1)
    assert (c.cost_name, c.cost_of_growth, c.fitness_sample_rate) == ("MSE", 1e-7, 1.0)
    assert (c.ct, c.c1, c.c2, c.c3, c.distance_cache_max_size) == (20.0, 1.0, 1.0, 0.1, 10_000)
    assert (c.medium_threshold, c.large_threshold, c.large_topology_weight) == (100, 300, 0.1)


@pytest.mark.parametrize("population, cp", [(100, 5.0), (50, 2.5), (20, 1.0), (10, 1.0)])
def test_cp_defaults_to_population_over_20_at_least_1(population, cp):
    assert EvolverConfig(population_size=population).compatibility_threshold == cp
    assert EvolverConfig(population_size=population, cp=3.0).compatibility_threshold == 3.0


def test_from_dict_reads_camel_case_and_nested_options():
    c = EvolverConfig.from_dict({
        "populationSize": 150, "mutationRate": 0.5, "costName": "MAE", "targetError": 0.025, "seed": 7,
        "compatibility": {"CT": 10, "CP": 3, "C1": 2, "C2": 0.5, "C3": 0.4},
        "distanceCache": {"maxSize": 99},
        "adaptiveMutationThresholds": {"medium": 50, "large": 80, "largeTopologyWeight": 0.2},
        "islands": {"peers": ["a:1", "b:2"], "migrationInterval": 5, "migrationFraction": 0.1},
        "timeoutMinutes": 2,
    })
    assert (c.population_size, c.mutation_rate, c.cost_name, c.target_error, c.seed) == (150, 0.5, "MAE", 0.025, 7)
    assert (c.ct, c.cp, c.c1, c.c2, c.c3) == (10, 3, 2, 0.5, 0.4)
    assert c.distance_cache_max_size == 99
    assert (c.medium_threshold, c.large_threshold, c.large_topology_weight) == (50, 80, 0.2)
    assert (c.island_peers, c.migration_interval, c.migration_fraction) == (("a:1", "b:2"), 5, 0.1)
    assert c.timeout_seconds == 120
    assert EvolverConfig.from_dict(c.to_dict()) == c


def test_every_problem_is_reported_with_its_option_path():
    with pytest.raises(ConfigError) as e:
        EvolverConfig.from_dict({"populationSize": 1, "mutationRate": 0.001, "costName": "NOPE",
                                 "compatibility": {"CT": -1, "C9": 1}, "bogus": True})
    # unknown names are reported first, on their own
    assert set(e.value.problems) == {Problem("compatibility.C9", "unknown option"), Problem("bogus", "unknown option")}
    with pytest.raises(ConfigError) as e:
        EvolverConfig.from_dict({"populationSize": 1, "mutationRate": 0.001, "costName": "NOPE",
                                 "compatibility": {"CT": -1}, "distanceCache": {"maxSize": 0},
                                 "survivalThreshold": 0, "initialWeights": "zero", "targetError": -0.5,
                                 "squashBudget": {"fixedOutputSquash": "IF"}})
    paths = {p.path: p.message for p in e.value.problems}
    assert paths == {
        "populationSize": "must be at least 2, got 1",
        "elitism": "must be between 0 and populationSize - 1 (0), got 1",
        "mutationRate": "must be in (0.001, 1], got 0.001",
        "costName": "unknown cost 'NOPE' (expected one of MSE, RMSE, MAE, MAPE, MSLE, CROSS_ENTROPY, HINGE)",
        "compatibility.CT": "must be positive, got -1",
        "distanceCache.maxSize": "must be at least 1, got 0",
        "survivalThreshold": "must be in (0, 1], got 0",
        "initialWeights": "unknown initial weights 'zero' (expected one of neat-ai, symmetric)",
        "targetError": "must be >= 0, got -0.5",
        "squashBudget.fixedOutputSquash": "unknown output squash 'IF' (a squash name, not IF)",
    }
    # Errors in a regression's raw units: any non-negative target is valid; outputs can be pinned.
    c = EvolverConfig.from_dict({"targetError": 250.0, "squashBudget": {"fixedOutputSquash": "SOFTMAX"}})
    assert (c.target_error, c.fixed_output_squash) == (250.0, "SOFTMAX")
    assert EvolverConfig.from_proto(c.to_proto()) == c
    assert isinstance(e.value, ValueError)


def test_wrong_types_are_problems_not_crashes():
    with pytest.raises(ConfigError) as e:
        EvolverConfig.from_dict({"populationSize": "big", "mutationRate": float("nan"), "elitism": True,
                                 "feedbackLoop": "yes", "costName": 3, "islands": {"peers": "a:1"}})
    assert {p.path for p in e.value.problems} == {"populationSize", "mutationRate", "elitism", "feedbackLoop",
                                                  "costName", "islands.peers"}


def test_seed_002_warnings_for_unusual_ct_and_cp():
    assert EvolverConfig().warnings() == []
    w = EvolverConfig(ct=1001, cp=10.5).warnings()
    assert [p.path for p in w] == ["compatibility.CT", "compatibility.CP"]
    assert EvolverConfig(population_size=250).warnings()[0].path == "compatibility.CP"  # default CP 12.5


def test_proto_round_trip_and_unset_fields_take_defaults():
    from neatai.v1 import evolver_pb2

    assert EvolverConfig.from_proto(evolver_pb2.RunConfig()) == EvolverConfig()
    c = EvolverConfig(population_size=120, cost_name="RMSE", seed=3, cp=4.0, c3=0.2, medium_threshold=90,
                      island_peers=("h:1",), migration_interval=3, feedback_loop=True, iterations=40,
                      initial_weights="symmetric")
    assert EvolverConfig.from_proto(c.to_proto()) == c
    msg = evolver_pb2.RunConfig(population_size=1)
    with pytest.raises(ConfigError) as e:
        EvolverConfig.from_proto(msg)
    assert e.value.problems[0].path == "populationSize"
