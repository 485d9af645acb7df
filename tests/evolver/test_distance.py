"""Genetic distance on hand-computed genomes (incl. the CT and CP edges) and the distance LRU."""
from __future__ import annotations

import pytest

from neatai.creature import Creature, Neuron, Synapse
from neatai.evolver.distance import DistanceCache, Genome, distance
from neatai.genome.innovation import InnovationTracker
from neatai.evolver.species import speciate


def creature(synapses, hidden=True) -> Creature:
    neurons = ([Neuron("h", "hidden", 0.0, "TANH")] if hidden else []) + [Neuron("output-0", "output", 0.0, "TANH")]
    return Creature(2, 1, neurons, [Synapse(a, b, w) for a, b, w in synapses], forward_only=True)


@pytest.fixture
def pair():
    tracker = InnovationTracker()
    for key in [("input-0", "output-0"), ("input-1", "output-0"), ("input-0", "h"), ("h", "output-0"),
                ("input-1", "h")]:
        tracker.number(*key)  # innovations 0..4 in this order
    a = creature([("input-0", "output-0", 1.0), ("input-1", "output-0", 2.0), ("input-0", "h", 0.5),
                  ("h", "output-0", 0.5)])  # genes 0 1 2 3
    b = creature([("input-0", "output-0", 1.5), ("input-1", "output-0", 2.0), ("input-1", "h", 1.0)])  # genes 0 1 4
    return Genome.of(a, tracker), Genome.of(b, tracker)


def test_excess_disjoint_and_weight_terms(pair):
    a, b = pair
    # matching 0, 1 (|dw| 0.5, 0 -> W 0.25); 2, 3 disjoint (older than b's newest 4); 4 excess (newer than a's 3)
    assert distance(a, b, ct=20, c1=1, c2=1, c3=0.1) == pytest.approx(1 + 2 + 0.025)
    assert distance(a, b, ct=20, c1=2, c2=0.5, c3=1) == pytest.approx(2 * 1 + 0.5 * 2 + 0.25)
    assert distance(a, b, 20, 1, 1, 0.1) == distance(b, a, 20, 1, 1, 0.1)


def test_n_is_the_larger_synapse_count_and_1_below_ct(pair):
    a, b = pair  # 4 and 3 synapses
    assert distance(a, b, ct=4, c1=1, c2=1, c3=0.1) == pytest.approx(1 / 4 + 2 / 4 + 0.025)  # N = 4 = CT: normalised
    assert distance(a, b, ct=4.5, c1=1, c2=1, c3=0.1) == pytest.approx(3.025)  # N = 4 < CT: N = 1


def test_identical_genomes_are_at_distance_zero(pair):
    a, _ = pair
    assert distance(a, a, 20, 1, 1, 0.1) == 0.0
    assert distance(Genome("x", {}, -1), Genome("y", {}, -1), 20, 1, 1, 0.1) == 0.0


def test_same_species_only_when_distance_is_below_cp(pair):
    a, b = pair
    cache = DistanceCache()
    creatures = [creature([]), creature([])]
    species, next_id = speciate([a, b], creatures, [], cp=3.025, distance=cache, next_id=0, generation=1)
    assert [s.members for s in species] == [[0], [1]] and next_id == 2  # d == CP: different species
    species, _ = speciate([a, b], creatures, [], cp=3.0251, distance=cache, next_id=0, generation=1)
    assert [s.members for s in species] == [[0, 1]]


def test_cache_is_keyed_by_the_unordered_id_pair_with_stats(pair):
    a, b = pair
    cache = DistanceCache(max_size=2)
    d = cache(a, b)
    assert cache(b, a) == d
    s = cache.stats()
    assert (s.name, s.hits, s.misses, s.current_size, s.max_size) == ("distance", 1, 1, 1, 2)
    assert cache(a, a) == 0.0 and cache.stats().misses == 1  # self-distance needs no entry


def test_cache_evicts_the_least_recently_used_pair(pair):
    a, b = pair
    c = Genome("c", {}, -1)
    cache = DistanceCache(max_size=2)
    cache(a, b)
    cache(a, c)
    cache(a, b)  # refresh (a, b)
    cache(b, c)  # evicts (a, c)
    s = cache.stats()
    assert (s.evictions, s.current_size) == (1, 2)
    assert (min(a.id, c.id), max(a.id, c.id)) not in cache.lru
    assert (min(a.id, b.id), max(a.id, b.id)) in cache.lru


def test_creature_id_is_the_structural_hash(pair):
    tracker = InnovationTracker()
    c = creature([("input-0", "output-0", 1.0)], hidden=False)
    assert Genome.of(c, tracker).id == c.structural_hash()


def test_innovation_numbers_are_per_endpoint_pair_and_survive_a_checkpoint():
    t = InnovationTracker()
    assert [t.number("a", "b"), t.number("b", "c"), t.number("a", "b")] == [0, 1, 0]
    again = InnovationTracker.from_state(t.state_dict())
    assert again.number("b", "c") == 1 and again.number("x", "y") == 2
