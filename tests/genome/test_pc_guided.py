"""PC-guided mutation (seed 004 §3.4): aimed by the prediction errors predictive-coding
training tags on the neurons, drawn in proportion to them, signals dropped once used; in the
evolver only when pc_guided_mutation is set, and the option travels through RunConfig."""
from __future__ import annotations

import random

import numpy as np

import pc_reference as R
from neatai.evaluator.training import train
from neatai.evolver.config import EvolverConfig
from neatai.evolver.evolution import Evolution
from neatai.genome.operators import copy_creature
from neatai.genome.pc_guided import (ERROR_TAG, GUIDED_ADD_CONN, GUIDED_ADD_NODE, UNSETTLED_TAG, guided_mutation,
                                     has_signals, tag_prediction_errors)


def tagged(errors, unsettled):
    c = R.random_dag(0, n_in=4, n_hidden=6, n_out=2, p=0.2)
    tag_prediction_errors(c, [n.uuid for n in c.neurons], errors, unsettled)
    return c


def inward(c, uuid):
    return sum(s.to_uuid == uuid for s in c.synapses)


def test_a_poorly_predicted_neuron_gets_a_new_inward_synapse():
    errors = [0.0] * 8
    errors[3] = 1.0
    c = tagged(errors, [0.0] * 8)
    target = c.neurons[3].uuid
    before = inward(c, target)
    assert guided_mutation(c, random.Random(1)) == GUIDED_ADD_CONN
    assert inward(c, target) == before + 1 and not has_signals(c)


def test_a_slow_settling_neuron_gets_a_new_neuron_in_front_of_it():
    unsettled = [0.0] * 8
    unsettled[4] = 0.5
    c = tagged([0.0] * 8, unsettled)
    target, count = c.neurons[4].uuid, len(c.neurons)
    assert guided_mutation(c, random.Random(2)) == GUIDED_ADD_NODE
    assert len(c.neurons) == count + 1
    new = c.neurons[[n.uuid for n in c.neurons].index(target) - 1]
    assert new.type == "hidden" and any(s.from_uuid == new.uuid and s.to_uuid == target for s in c.synapses)
    R.Oracle(c)  # still a valid creature in dependency order


def test_targets_are_drawn_in_proportion_to_the_errors():
    picks = []
    for seed in range(300):
        c = tagged([0, 0, 3, 1, 0, 0, 0, 0], [0.0] * 8)
        feeding = {n.uuid: inward(c, n.uuid) for n in c.neurons}
        guided_mutation(c, random.Random(seed))
        picks.append(next(k for k, n in enumerate(c.neurons) if inward(c, n.uuid) > feeding[n.uuid]))
    share = picks.count(2) / len(picks)
    assert set(picks) == {2, 3} and 0.65 < share < 0.85


def test_without_signals_nothing_is_guided():
    c = R.random_dag(0, n_in=4, n_hidden=6, n_out=2)
    assert not has_signals(c) and guided_mutation(c, random.Random(0)) is None


def test_pc_training_tags_every_neuron():
    c = R.random_dag(1, n_in=4, n_hidden=6, n_out=1)
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, (64, 4)).astype(np.float32)
    Y = np.tanh(X[:, :1]).astype(np.float32)
    r = train(c, X, Y, iterations=2, predictiveCoding={"enabled": True})
    names = [{t.name for t in n.tags or []} for n in r.creature.neurons]
    assert all({ERROR_TAG, UNSETTLED_TAG} <= s for s in names) and has_signals(r.creature)
    assert not has_signals(train(c, X, Y, iterations=2).creature)


def test_the_evolver_guides_half_the_mutations_only_when_asked():
    signals = tagged([0.0, 0.0, 1.0, 0, 0, 0, 0, 0], [0.0] * 8)
    for on, low, high in ((True, 80, 140), (False, 0, 15)):   # off: only a removed neuron loses them
        evo = Evolution(EvolverConfig(population_size=10, seed=1, pc_guided_mutation=on), 4, 2)
        guided = 0
        for _ in range(200):
            child = copy_creature(signals)
            evo._mutate(child)
            guided += not has_signals(child)   # a guided mutation drops the signals
        assert low <= guided <= high


def test_the_option_round_trips_through_run_config():
    c = EvolverConfig(pc_guided_mutation=True)
    assert EvolverConfig.from_proto(c.to_proto()).pc_guided_mutation
    assert EvolverConfig.from_dict({"pcGuidedMutation": True}).pc_guided_mutation
    assert not EvolverConfig.from_proto(EvolverConfig().to_proto()).pc_guided_mutation
