"""Which candidates get an evaluation slot (seed 001 "Candidate Filtering Detail", reference
§5.3): cached failures first out, then a minimum per category, then weighted sampling without
replacement by expected gain; removals from a separate pool that prefers novel removals.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Sequence

from .candidates import ADD_NEURONS, ADD_SYNAPSES, CHANGE_SQUASH, COORDINATED, Candidate

# CandidateFiltering.ts: diversity slots, removal slots.
MIN_PER_CATEGORY = {ADD_NEURONS: 1, ADD_SYNAPSES: 1, CHANGE_SQUASH: 1, COORDINATED: 1}
REMOVAL_SLOTS = 3


@dataclass
class Selection:
    selected: list[Candidate]
    skipped_cached: Counter = field(default_factory=Counter)  # known failures, per change type
    offered: Counter = field(default_factory=Counter)  # candidates that reached the slots, per type
    max_candidates: int = 0


def max_candidates(threads: int, categories: int) -> int:
    return max(2 * threads, categories)


def weighted_sample(items: Sequence[Candidate], k: int, rng: random.Random) -> list[Candidate]:
    """Roulette wheel on positive expected gain, without replacement; uniform when no weight is positive."""
    pool = list(items)
    out = []
    while pool and len(out) < k:
        weights = [c.expected_gain if c.expected_gain > 0 else 0.0 for c in pool]
        total = sum(weights)
        if not total > 0:  # also NaN
            pick = rng.randrange(len(pool))
        else:
            r, pick = rng.random() * total, len(pool) - 1
            for i, w in enumerate(weights):
                r -= w
                if r < 0:
                    pick = i
                    break
        out.append(pool.pop(pick))
    return out


def select(candidates: Sequence[Candidate], threads: int, rng: random.Random,
           is_failure: Callable[[Candidate], bool] = lambda c: False,
           known_removals: set[str] = frozenset(), removal_slots: int = REMOVAL_SLOTS,
           slots: int | None = None) -> Selection:
    """The candidates to score. `known_removals`: neurons whose removal is in the success cache
    (removals of other neurons are tried first). `slots` overrides max(2 × threads, categories)."""
    sel = Selection([])
    fresh = []
    seen = set()
    for c in candidates:
        if is_failure(c):
            sel.skipped_cached[c.change_type] += 1
        elif c.key not in seen:  # two suggestions that build the same change take one slot
            seen.add(c.key)
            fresh.append(c)
            sel.offered[c.change_type] += 1
    removals = [c for c in fresh if c.is_removal]
    groups: dict[str, list[Candidate]] = {}
    for c in fresh:
        if not c.is_removal:
            groups.setdefault(c.change_type, []).append(c)
    for group in groups.values():
        group.sort(key=lambda c: -c.expected_gain)
    sel.max_candidates = slots if slots is not None else max_candidates(threads, len(groups))
    chosen: list[Candidate] = []
    for change_type, group in groups.items():  # diversity first: the top of each category
        take = min(MIN_PER_CATEGORY.get(change_type, 0), len(group), sel.max_candidates - len(chosen))
        chosen += group[:take]
        del group[:take]
    rest = [c for group in groups.values() for c in group]
    chosen += weighted_sample(rest, sel.max_candidates - len(chosen), rng)
    sel.selected = chosen + select_removals(removals, removal_slots, known_removals, rng)
    return sel


def select_removals(removals: Sequence[Candidate], k: int, known: set[str], rng: random.Random) -> list[Candidate]:
    """The lowest-impact top max(10, 3k), novel removals first, each group shuffled."""
    k = min(k, len(removals))
    if k == 0:
        return []
    ranked = sorted(removals, key=lambda c: c.impact if c.impact is not None else float("inf"))[:max(10, 3 * k)]
    def is_novel(c: Candidate) -> bool:
        return not c.removed_neurons() or not set(c.removed_neurons()) <= known

    novel = [c for c in ranked if is_novel(c)]
    repeat = [c for c in ranked if not is_novel(c)]
    rng.shuffle(novel)
    rng.shuffle(repeat)
    return (novel + repeat)[:k]
