"""Classic NEAT genetic distance (seed 002) with NEAT-AI's distance LRU cache (seed 000).

    d = C1*E/N + C2*D/N + C3*W

E counts excess genes (newer than the other genome's newest), D disjoint genes, W is the mean
|weight difference| of matching genes, N the larger synapse count, or 1 when that is below CT.
Genes match by innovation number and IF role. The cache is keyed by the (min, max) pair of
creature ids (structural hashes), so a cached distance can never be stale.
"""
from __future__ import annotations

from dataclasses import dataclass

from neatai.creature import Creature
from neatai.genome.innovation import InnovationTracker
from neatai.lru import CacheStats, LRUCache


@dataclass(frozen=True)
class Genome:
    """What distance needs of a creature: its id and its genes (key -> weight)."""

    id: str
    genes: dict[tuple[int, str | None], float]
    newest: int  # highest innovation number, -1 without synapses

    @classmethod
    def of(cls, c: Creature, tracker: InnovationTracker, creature_id: str | None = None) -> Genome:
        known = tracker.numbers
        genes = {}
        newest = -1
        for s in c.synapses:
            n = known.get((s.from_uuid, s.to_uuid))
            if n is None:
                n = tracker.number(s.from_uuid, s.to_uuid)
            genes[n, s.type] = s.weight
            if n > newest:
                newest = n
        return cls(creature_id or c.structural_hash(), genes, newest)


def distance(a: Genome, b: Genome, ct: float, c1: float, c2: float, c3: float) -> float:
    excess = disjoint = matching = 0
    diff = 0.0
    newest_a, newest_b = a.newest, b.newest
    for key, w in a.genes.items():
        v = b.genes.get(key)
        if v is not None:
            matching += 1
            diff += abs(w - v)
        elif key[0] > newest_b:
            excess += 1
        else:
            disjoint += 1
    for key in b.genes:
        if key not in a.genes:
            if key[0] > newest_a:
                excess += 1
            else:
                disjoint += 1
    n = max(len(a.genes), len(b.genes))
    if n < ct:
        n = 1
    w_bar = diff / matching if matching else 0.0
    return c1 * excess / n + c2 * disjoint / n + c3 * w_bar


class DistanceCache:
    """Distances by creature-id pair in an LRU named "distance" (distanceCache.maxSize)."""

    def __init__(self, max_size: int = 10_000, ct: float = 20.0, c1: float = 1.0, c2: float = 1.0,
                 c3: float = 0.1):
        self.lru: LRUCache[tuple[str, str], float] = LRUCache("distance", max_size)
        self.ct, self.c1, self.c2, self.c3 = ct, c1, c2, c3

    @classmethod
    def from_config(cls, config) -> DistanceCache:
        return cls(config.distance_cache_max_size, config.ct, config.c1, config.c2, config.c3)

    def __call__(self, a: Genome, b: Genome) -> float:
        if a.id == b.id:
            return 0.0
        key = (a.id, b.id) if a.id < b.id else (b.id, a.id)
        d = self.lru.get(key)
        if d is None:
            d = distance(a, b, self.ct, self.c1, self.c2, self.c3)
            self.lru.put(key, d)
        return d

    def stats(self) -> CacheStats:
        return self.lru.stats()
