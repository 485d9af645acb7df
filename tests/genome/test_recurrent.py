"""Recurrent mutations (NEAT-AI Mutation.ALL): ADD_SELF_CONN, ADD_BACK_CONN and their removals
apply only to creatures that are not forward-only, and every creature they leave — alone or mixed
with every other operator over many seeded applications — is valid NEAT-AI JSON that the compiled
network runs with state carried from one record to the next."""
from __future__ import annotations

import random

import numpy as np
import pytest

from neatai.creature import Creature
from neatai.evaluator import Session, compile_network, evaluate_in_process
from neatai.evolver.config import EvolverConfig
from neatai.evolver.evolution import Evolution
from neatai.genome import operators as op


def recurrent_start(rng: random.Random, inputs: int = 3, outputs: int = 2) -> Creature:
    c = op.initial_creature(inputs, outputs, rng, forward_only=False)
    for _ in range(3):
        op.add_node(c, rng)
    return c


def assert_valid(c: Creature) -> None:
    again = Creature.from_json(c.to_dict())  # validates every synapse, neuron and IF role
    assert again.to_dict() == c.to_dict(), "not in canonical order"
    assert c.forward_only is False


def self_loops(c: Creature) -> int:
    return sum(s.from_uuid == s.to_uuid for s in c.synapses)


def back_edges(c: Creature) -> int:
    index = c.uuid_index()
    return sum(index[s.from_uuid] > index[s.to_uuid] for s in c.synapses)


def test_forward_only_creatures_never_take_recurrent_synapses():
    rng = random.Random(1)
    c = op.initial_creature(2, 1, rng)
    op.add_node(c, rng)
    assert not any(op.OPERATORS[m](c, rng) for m in (op.ADD_SELF_CONN, op.ADD_BACK_CONN))
    assert not set(op.RECURRENT) & set(op.candidates(c))
    for _ in range(300):
        op.mutate(c, EvolverConfig(), rng)
    assert not c.recurrent


def test_add_self_and_back_connections_do_what_they_say():
    rng = random.Random(2)
    c = recurrent_start(rng)
    assert op.add_self_conn(c, rng) and self_loops(c) == 1
    assert op.add_back_conn(c, rng) and back_edges(c) == 1
    assert c.recurrent
    assert_valid(c)
    assert {op.SUB_SELF_CONN, op.SUB_BACK_CONN} <= set(op.candidates(c))


def test_removals_take_only_recurrent_synapses_and_keep_every_neuron_fed():
    rng = random.Random(3)
    c = recurrent_start(rng)
    for _ in range(6):
        op.add_self_conn(c, rng)
        op.add_back_conn(c, rng)
    forward = [s for s in c.synapses if not (s.from_uuid == s.to_uuid or back_edges_of(c, s))]
    loops, backs = self_loops(c), back_edges(c)
    assert op.sub_self_conn(c, rng) and self_loops(c) == loops - 1
    assert op.sub_back_conn(c, rng) and back_edges(c) == backs - 1
    assert [s for s in c.synapses if not (s.from_uuid == s.to_uuid or back_edges_of(c, s))] == forward
    assert_valid(c)


def back_edges_of(c: Creature, s) -> bool:
    index = c.uuid_index()
    return index[s.from_uuid] > index[s.to_uuid]


@pytest.mark.parametrize("seed", range(8))
def test_many_seeded_applications_keep_creatures_valid_and_runnable(seed):
    rng = random.Random(seed)
    config = EvolverConfig(feedback_loop=True)
    c = recurrent_start(rng, 2 + seed % 3, 1 + seed % 2)
    applied = set()
    X = np.random.default_rng(seed).standard_normal((6, c.input)).astype(np.float32)
    for step in range(400):
        if step % 3 == 0:  # the recurrent operators directly too, so each is applied many times
            method = rng.choice(op.RECURRENT)
            if op.OPERATORS[method](c, rng):
                applied.add(method)
        applied.update(op.mutate(c, config, rng))
        if step % 40 == 0:
            assert_valid(c)
            out = compile_network(c).activate(X, feedback_loop=True)
            assert out.shape == (6, c.output) and np.isfinite(out).all()
    assert_valid(c)
    assert set(op.RECURRENT) <= applied


def test_state_carries_across_records_through_a_self_synapse():
    rng = random.Random(4)
    c = op.initial_creature(1, 1, rng, output_squash="IDENTITY", forward_only=False)
    c.synapses[0].weight, c.neurons[0].bias = 1.0, 0.0
    assert op.add_self_conn(c, rng)
    next(s for s in c.synapses if s.from_uuid == s.to_uuid).weight = 1.0
    out = compile_network(c).activate(np.ones((4, 1), np.float32), feedback_loop=True)[:, 0]
    assert out.tolist() == [1.0, 2.0, 3.0, 4.0]  # an accumulator: y_t = x_t + y_(t-1)


def test_a_feedback_loop_run_evolves_valid_recurrent_creatures():
    X = np.array([[1], [0], [0], [1], [0], [1]], np.float32)
    Y = np.array([[1], [1], [0], [1], [1], [1]], np.float32)  # x_t or x_(t-1): needs memory
    config = EvolverConfig(population_size=40, seed=6, iterations=15, target_error=0.0, feedback_loop=True)

    def score(creatures):
        return evaluate_in_process(creatures, X, Y, feedback_loop=True)

    evo = Evolution(config, 1, 1)
    evo.run(score)
    assert any(c.recurrent for c in evo.population)
    for c in evo.population:
        assert_valid(c)


def test_a_session_carries_state_from_call_to_call_as_one_feedback_loop_call_does():
    rng = random.Random(7)
    c = recurrent_start(rng, 2, 1)
    for _ in range(4):
        op.add_self_conn(c, rng)
        op.add_back_conn(c, rng)
    assert c.recurrent
    net = compile_network(c)
    X = np.random.default_rng(7).standard_normal((9, 2)).astype(np.float32)
    whole = net.activate(X, feedback_loop=True)
    session = Session(net)
    stepped = np.vstack([session.step(x) for x in X])  # one record per call
    np.testing.assert_array_equal(stepped, whole)
    assert session.steps == 9
    session.reset()
    np.testing.assert_array_equal(session.step(X[:4]), whole[:4])  # a fresh episode
    with pytest.raises(ValueError, match="X"):
        session.step(np.zeros((1, 3), np.float32))
