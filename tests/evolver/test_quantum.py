"""NEAT-AI's quantum fine-tuning (quantumAdjust, reference/neat-ai.md §4.4): the step of one
parameter as coded, a copy of the fittest stepped against a reference creature (shared biases
and weights only, frozen genes and constants kept, the change recorded in `memetic`), and a
memetic evolution whose quantum copies take offspring places deterministically and resume exactly."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest

from neatai.creature import Creature
from neatai.evaluator import evaluate_in_process
from neatai.evaluator.training import train
from neatai.evolver.config import ConfigError, EvolverConfig
from neatai.evolver.evolution import Evolution
from neatai.evolver.memetic import MIN_STEP, quantum_adjust, quantum_fine_tune


@pytest.mark.parametrize("best, ref, u, forward, backtrack, expected", [
    (1.0, 0.9, 0.5, True, False, 1.1),           # forward: best + d*u*2
    (1.0, 0.9, 0.5, True, True, 1.05),           # backtracking: best + d*u*1
    (1.0, 0.9, 0.5, False, False, 1.05),         # randomise: best + d*u*3 - d
    (1.0, 0.9, 0.0, False, False, 0.9),          # ... which reaches back to the reference at u = 0
    (0.123456789, 0.0, 0.5, True, False, 0.2469136),  # rounded to whole quanta of 1e-7
    (1.0, 0.9, 0.0, True, False, 1.0 + MIN_STEP),  # no move: forced one quantum away, along d
    (1.0, 1.0 + 0.5e-7, 0.7, True, False, 1.0),  # shared within a quantum: left as it is
])
def test_quantum_adjust_as_coded(best, ref, u, forward, backtrack, expected):
    assert quantum_adjust(best, ref, u, forward, backtrack) == pytest.approx(expected, abs=1e-12)


PAIR = {"input": 2, "output": 1,
        "neurons": [{"type": "hidden", "uuid": "h", "bias": 0.5, "squash": "TANH"},
                    {"type": "constant", "uuid": "k", "bias": 0.3},
                    {"type": "hidden", "uuid": "f", "bias": 0.2, "squash": "TANH", "frozen": True},
                    {"type": "output", "uuid": "output-0", "bias": -0.1, "squash": "IDENTITY"}],
        "synapses": [{"fromUUID": "input-0", "toUUID": "h", "weight": 0.8},
                     {"fromUUID": "input-1", "toUUID": "f", "weight": 0.4},
                     {"fromUUID": "h", "toUUID": "output-0", "weight": 1.5},
                     {"fromUUID": "f", "toUUID": "output-0", "weight": 0.6},
                     {"fromUUID": "k", "toUUID": "output-0", "weight": -0.2}]}


def reference_of(spec: dict, **changes) -> Creature:
    r = Creature.from_json(spec)
    for n in r.neurons:
        n.bias -= 0.1
    for s in r.synapses:
        s.weight -= 0.1
    for uuid, squash in changes.items():
        next(n for n in r.neurons if n.uuid == uuid).squash = squash
    return r


def test_a_copy_of_the_fittest_steps_what_it_shares_with_the_reference():
    fittest = Creature.from_json(PAIR)
    reference = reference_of(PAIR, **{"output-0": "TANH"})  # the output's squash differs: not shared
    reference.synapses = [s for s in reference.synapses if s.from_uuid != "k"]  # missing there: weight 0
    out = quantum_fine_tune(fittest, 2.5, reference, random.Random(1), forward_only=True, backtrack=False)
    bias = {n.uuid: n.bias for n in out.neurons}
    assert bias["h"] > 0.5 and bias["f"] == 0.2 and bias["k"] == 0.3 and bias["output-0"] == -0.1
    weights = {(s.from_uuid, s.to_uuid): s.weight for s in out.synapses}
    assert weights[("input-0", "h")] > 0.8 and weights[("h", "output-0")] > 1.5  # forward: on past the fittest
    assert weights[("k", "output-0")] < -0.2  # away from the reference's missing (0) weight
    assert all(abs(w / MIN_STEP - round(w / MIN_STEP)) < 1e-6 for w in weights.values())  # whole quanta
    assert out.tag("approach") == "fine" and fittest.tag("approach") is None  # the fittest is not changed
    m = out.memetic
    assert m["generation"] == 1 and m["score"] == 2.5 and m["biases"] == {"h": 0.5}
    assert {(w["fromUUID"], w["toUUID"]): w["weight"] for w in m["weights"]} == {
        ("input-0", "h"): 0.8, ("input-1", "f"): 0.4, ("h", "output-0"): 1.5, ("f", "output-0"): 0.6,
        ("k", "output-0"): -0.2}  # the frozen neuron's bias stays; its synapses are not frozen
    again = quantum_fine_tune(out, 2.6, fittest, random.Random(2), forward_only=False, backtrack=True)
    assert again.memetic["generation"] == 2 and again.memetic["ancestry"][0]["score"] == 2.5
    assert Creature.from_json(again.to_dict()).to_dict() == again.to_dict()  # a valid creature


def test_nothing_to_step_against_a_twin():
    fittest = Creature.from_json(PAIR)
    assert quantum_fine_tune(fittest, 1.0, fittest.copy(), random.Random(0), True, False) is None


X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
Y = np.array([[0], [1], [1], [0]], np.float32)
CONFIG = EvolverConfig(population_size=20, seed=3, target_error=0.0, iterations=12, memetic=True,
                       quantum_adjust=True, backpropagation={"iterations": 3, "initialLearningRate": 0.3})


def step(evo: Evolution) -> tuple[int, int]:
    """One memetic generation in process: score, breed, train, then the quantum copies."""
    errors, scores = evaluate_in_process(evo.ask(), X, Y)
    evo.tell(errors, scores)
    candidates, seed = evo.fine_tune_candidates()
    improved = evo.add_trained([train(c, X, Y, seed=seed + i, **CONFIG.backpropagation)
                                for i, c in enumerate(candidates)])
    return improved, evo.add_quantum(len(candidates))


def test_quantum_copies_take_offspring_places_after_the_trained_ones():
    evo = Evolution(CONFIG, 2, 1)
    errors, scores = evaluate_in_process(evo.ask(), X, Y)
    evo.tell(errors, scores)
    elites = evo.population[:CONFIG.elitism]
    fittest = evo.ranked()[0][0]
    before = list(evo.population)
    joined = evo.add_quantum(4)
    assert joined == 4  # no previous fittest yet: four near-top references of this generation
    changed = [i for i, (a, b) in enumerate(zip(before, evo.population)) if a is not b]
    assert len(changed) == 4 and changed[-1] == len(evo.population) - 1 and evo.population[:CONFIG.elitism] == elites
    for i in changed:
        c = evo.population[i]
        assert c.tag("approach") == "fine" and evo.scores[i] is None
        assert c.topology_hash() == fittest.topology_hash()  # the fittest's wiring, other weights


def test_a_quantum_evolution_is_deterministic_and_resumes_exactly():
    straight = Evolution(CONFIG, 2, 1)
    figures = [step(straight) for _ in range(8)]
    assert sum(q for _, q in figures) > 0
    twin = Evolution(CONFIG, 2, 1)
    assert [step(twin) for _ in range(8)] == figures
    resumed = Evolution(CONFIG, 2, 1)
    for _ in range(4):
        step(resumed)
    resumed = Evolution.from_state(json.loads(json.dumps(resumed.state_dict())))
    assert [step(resumed) for _ in range(4)] == figures[4:]
    assert resumed.state_dict()["population"] == straight.state_dict()["population"]


def test_quantum_adjust_is_a_memetic_option_by_neat_ai_name():
    c = EvolverConfig.from_dict({"memetic": True, "quantumAdjust": True})
    assert c.quantum_adjust and EvolverConfig.from_dict(c.to_dict()) == c == EvolverConfig.from_proto(c.to_proto())
    assert not EvolverConfig().quantum_adjust
    with pytest.raises(ConfigError, match="quantumAdjust: is a memetic option"):
        EvolverConfig(quantum_adjust=True)
