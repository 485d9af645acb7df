"""Species: stagnation with protection of the best species, fitness-shared offspring allocation."""
from __future__ import annotations

from neatai.creature import Creature
from neatai.evolver.distance import Genome
from neatai.evolver.species import Species, allocate, breeding, rank


def species(i, members, best=0.0, improved=0):
    return Species(i, Creature(1, 1), Genome(str(i), {}, -1), 0, best, improved, list(members))


def test_offspring_are_proportional_to_mean_shifted_score():
    scores = [0.0, 0.0, 1.0, 1.0, 0.5]
    # shifted by the minimum (0): means 0, 1, 0.5 -> shares 0, 2/3, 1/3 of 9
    assert allocate([species(0, [0, 1]), species(1, [2, 3]), species(2, [4])], scores, 9) == [0, 6, 3]


def test_explicit_sharing_divides_by_species_size():
    scores = [1.0, 1.0, 1.0, 1.0, 0.0]
    # four members of score 1 share as much as one member of score 1
    assert allocate([species(0, [0, 1, 2]), species(1, [3]), species(2, [4])], scores, 10) == [5, 5, 0]


def test_failed_creatures_share_nothing():
    scores = [float("-inf"), 0.5, 1.0]
    assert allocate([species(0, [0]), species(1, [1]), species(2, [2])], scores, 4) == [0, 0, 4]
    assert allocate([species(0, [0])], [float("-inf")], 3) == [3]


def test_allocation_rounds_to_the_exact_total():
    scores = [0.3, 0.6, 0.9, 0.0]
    counts = allocate([species(k, [k]) for k in range(4)], scores, 7)
    assert sum(counts) == 7 and counts[3] == 0
    assert allocate([species(0, [0]), species(1, [1])], [0.5, 0.5], 3) in ([2, 1], [1, 2])


def test_stagnant_species_stop_breeding_except_the_two_best():
    group = [species(0, [0], best=0.9, improved=0), species(1, [1], best=0.8, improved=0),
             species(2, [2], best=0.1, improved=0), species(3, [3], best=0.2, improved=18)]
    assert [s.id for s in breeding(group, generation=20, stagnation=15)] == [0, 1, 3]
    assert len(breeding(group, generation=10, stagnation=15)) == 4


def test_rank_sorts_members_and_makes_the_champion_representative():
    s = species(0, [0, 1, 2], best=0.1)
    creatures = [Creature(1, 1) for _ in range(3)]
    genomes = [Genome(str(k), {}, -1) for k in range(3)]
    rank([s], [0.2, 0.7, 0.5], 4, creatures, genomes)
    assert s.members == [1, 2, 0] and s.representative is creatures[1] and s.genome is genomes[1]
    assert (s.best_score, s.last_improved) == (0.7, 4)
    rank([s], [0.2, 0.3, 0.5], 5, creatures, genomes)
    assert (s.best_score, s.last_improved) == (0.7, 4)
