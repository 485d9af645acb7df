"""Species: representatives, assignment by distance < CP, stagnation, explicit fitness sharing.

Each generation every creature joins the first species (oldest first) whose representative is
closer than CP, or founds a new species. A species whose best score has not improved for
`species_stagnation` generations stops breeding, unless it is one of the `species_elitism` best
species (two by default, so the population never dies out). Offspring are shared out in proportion to each species' mean
shifted score (explicit fitness sharing: a member's share is its score over its species size).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

from neatai.creature import Creature

from .distance import Genome

PROTECTED_SPECIES = 2


@dataclass
class Species:
    id: int
    representative: Creature
    genome: Genome
    created: int  # generation founded
    best_score: float = -math.inf
    last_improved: int = 0
    members: list[int] = field(default_factory=list)  # population indices, best first after rank()

    def state_dict(self) -> dict:
        return {"id": self.id, "representative": self.representative.to_dict(), "created": self.created,
                "bestScore": self.best_score if math.isfinite(self.best_score) else None,
                "lastImproved": self.last_improved}


def speciate(genomes: Sequence[Genome], creatures: Sequence[Creature], species: list[Species], cp: float,
             distance: Callable[[Genome, Genome], float], next_id: int, generation: int) -> tuple[list[Species], int]:
    """Assign every creature to a species; returns the non-empty species and the next free id."""
    for s in species:
        s.members = []
    for i, g in enumerate(genomes):
        for s in species:
            if distance(g, s.genome) < cp:
                s.members.append(i)
                break
        else:
            species.append(Species(next_id, creatures[i], g, generation, last_improved=generation, members=[i]))
            next_id += 1
    return [s for s in species if s.members], next_id


def rank(species: list[Species], scores: Sequence[float], generation: int, creatures: Sequence[Creature],
         genomes: Sequence[Genome]) -> None:
    """Sort members best first, record improvement, and make the champion the representative."""
    for s in species:
        s.members.sort(key=lambda i: (-scores[i], i))
        s.representative, s.genome = creatures[s.members[0]], genomes[s.members[0]]
        best = scores[s.members[0]]
        if best > s.best_score:
            s.best_score, s.last_improved = best, generation


def breeding(species: list[Species], generation: int, stagnation: int,
             protected_count: int = PROTECTED_SPECIES) -> list[Species]:
    """The species allowed to breed: not stagnant, or among the best `protected_count`
    (neat-python's species_elitism)."""
    protected = {s.id for s in sorted(species, key=lambda s: (-s.best_score, s.id))[:protected_count]}
    return [s for s in species if s.id in protected or generation - s.last_improved < stagnation]


def allocate(species: list[Species], scores: Sequence[float], total: int) -> list[int]:
    """Offspring per species ∝ mean shifted score (largest remainder rounding), summing to `total`."""
    if not species or total <= 0:
        return [0] * len(species)
    finite = [scores[i] for s in species for i in s.members if math.isfinite(scores[i])]
    low = min(finite, default=0.0)  # a failed creature (score -inf) adds nothing to its species
    shares = [sum(scores[i] - low for i in s.members if math.isfinite(scores[i])) / len(s.members)
              for s in species]
    whole = sum(shares)
    if whole <= 0:
        shares, whole = [1.0] * len(species), float(len(species))
    exact = [total * x / whole for x in shares]
    counts = [int(e) for e in exact]
    order = sorted(range(len(species)), key=lambda k: (-(exact[k] - counts[k]), k))
    for k in order[:total - sum(counts)]:
        counts[k] += 1
    return counts
