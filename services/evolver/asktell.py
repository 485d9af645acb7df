"""Client-computed fitness: one generation's creatures leased out to clients and their scores.

A run whose config has `clientFitness` has no dataset: each generation the run manager puts the
creatures to score in a `ClientBatch`, `Ask` leases some of them to a client for
`leaseSeconds`, `Tell` records scores by id in any order. A creature whose lease runs out
unscored (its client vanished, or is slow) is offered again, so several clients share a
generation and none can lose it. Ids are `<generation>-<position>`: the generation's creatures
and their order are fixed by the evolution state, so a resumed run offers the same ids, and a
score told for a generation that is over is recognised as stale and ignored.
"""
from __future__ import annotations

import math
import time
from typing import Sequence

from neatai.creature import Creature


def creature_id(generation: int, position: int) -> str:
    return f"{generation}-{position}"


def parse_id(text: str) -> tuple[int, int] | None:
    """(generation, position) of an id `Ask` handed out, or None when `text` is not one."""
    generation, sep, position = text.partition("-")
    if not sep or not generation.isdigit() or not position.isdigit():
        return None
    return int(generation), int(position)


class ClientBatch:
    """The creatures of generation `generation` still to be scored by clients."""

    def __init__(self, generation: int, creatures: Sequence[Creature], lease_seconds: float,
                 results: dict[int, tuple[float, float]] | None = None):
        self.generation = generation
        self.creatures = list(creatures)
        self.lease_seconds = lease_seconds
        self.leased_until = [0.0] * len(self.creatures)  # time.monotonic(); 0: never offered
        self.results: dict[int, tuple[float, float]] = dict(results or {})  # position -> (score, error)

    @property
    def complete(self) -> bool:
        return len(self.results) == len(self.creatures)

    def offer(self, limit: int, now: float | None = None) -> list[int]:
        """Lease up to `limit` unscored creatures: never offered first, then those whose lease ran out."""
        now = time.monotonic() if now is None else now
        fresh = [k for k, t in enumerate(self.leased_until) if t == 0.0 and k not in self.results]
        expired = [k for k, t in enumerate(self.leased_until) if 0.0 < t <= now and k not in self.results]
        chosen = (fresh + expired)[:limit]
        for k in chosen:
            self.leased_until[k] = now + self.lease_seconds
        return chosen

    def next_expiry(self) -> float | None:
        """When the next lease of an unscored creature runs out (None: nothing is leased)."""
        pending = [t for k, t in enumerate(self.leased_until) if t > 0.0 and k not in self.results]
        return min(pending, default=None)

    def record(self, position: int, score: float, error: float) -> bool:
        """Keep the first score told for `position`; False when it has one already or is no creature here."""
        if not 0 <= position < len(self.creatures) or position in self.results:
            return False
        self.results[position] = (score, error)
        return True

    def scores(self) -> tuple[list[float], list[float]]:
        """(errors, scores) in the creatures' order, for `Evolution.tell` (call when complete)."""
        return ([self.results[k][1] for k in range(len(self.creatures))],
                [self.results[k][0] for k in range(len(self.creatures))])


def stored(results: dict[int, tuple[float, float]] | list) -> list[list]:
    """Scores as JSON rows [position, score, error] (leases are not kept: after a restart every
    unscored creature is offered anew)."""
    items = results.items() if isinstance(results, dict) else results
    return [[k, _num(s), _num(e)] for k, (s, e) in items]


def restored(rows: list[list]) -> dict[int, tuple[float, float]]:
    return {k: (float(s), float(e)) for k, s, e in rows}


def _num(v: float) -> float | str:
    return v if math.isfinite(v) else str(v)  # JSON has no infinities: float("-inf") reads them back
