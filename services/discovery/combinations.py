"""Phase 2: combinations of the phase-1 successes (seed 001 "Phase 2", reference §5.4).

Coordinated candidates are never combined (they are epistatic groups already). The successes
are pruned to the best per slot (the neuron a change acts on), so two changes of one neuron
are not stacked; when phase 1 found a single success it is supplemented with up to 5 relevant
historical successes from the cache (#1734). Strategies, deduplicated by the set combined:
all, all removals, all non-removals, pairs among the first 10, triples among the first 8
(with at least 4), leave-one-out (with at least 3). Every combination is `combo-successful`.
"""
from __future__ import annotations

from itertools import combinations
from typing import Sequence

from neatai.creature import Creature

from .caches import operations_of
from .candidates import COMBO_SUCCESSFUL, COORDINATED, BuildStats, Candidate, fits, realise
from .result import Operation

SUPPLEMENT = 5
PAIRS_AMONG = 10
TRIPLES_AMONG = 8


def slot(candidate: Candidate) -> tuple:
    """What the change acts on: its first operation's target neuron (or synapse)."""
    op: Operation = candidate.operations[0]
    if op.kind in ("removeSynapse", "setWeight"):
        return (op.from_uuid, op.to_uuid)
    if op.kind == "addSynapse":
        return (op.to_uuid,)
    if op.kind == "addNeuron":
        return (op.insert_before_uuid or op.neuron_uuid,)
    return (op.neuron_uuid,)


def prune(successes: Sequence[tuple[Candidate, float]]) -> list[Candidate]:
    """Best first, one per slot, coordinated candidates left out."""
    out, slots = [], set()
    for c, _ in sorted(successes, key=lambda cs: -cs[1]):
        if c.change_type == COORDINATED or slot(c) in slots:
            continue
        slots.add(slot(c))
        out.append(c)
    return out


def supplement(base: Creature, have: Sequence[Candidate], entries: Sequence[dict], stats: BuildStats,
               limit: int = SUPPLEMENT) -> list[Candidate]:
    """Historical successes (best score delta first) that fit `base` and are not already applied."""
    keys = {c.key for c in have}
    slots = {slot(c) for c in have}
    out = []
    for e in entries:
        if len(out) >= limit:
            break
        if e["changeType"].startswith("combo-") or e["changeType"] == COORDINATED or e["key"] in keys:
            continue
        ops = operations_of(e)
        if not ops or not fits(base, ops):
            continue  # it names neurons this creature no longer has
        c = realise(base, Candidate(e["changeType"], f"{e['description']} (from the cache)", ops,
                                    float(e.get("scoreDelta", 0.0)), e.get("rustRequest") or {}), stats)
        if c is None or c.key in keys or slot(c) in slots:
            continue
        keys.add(c.key)
        slots.add(slot(c))
        out.append(c)
    return out


def index_sets(pool: Sequence[Candidate]) -> list[tuple[int, ...]]:
    """The combinations to try, as sorted index tuples into `pool` (best first), each once."""
    n = len(pool)
    removal = [i for i, c in enumerate(pool) if c.is_removal]
    other = [i for i, c in enumerate(pool) if not c.is_removal]
    sets: list[tuple[int, ...]] = []
    if n >= 2:
        sets.append(tuple(range(n)))
    for group in (removal, other):
        if len(group) >= 2:
            sets.append(tuple(group))
    sets += combinations(range(min(n, PAIRS_AMONG)), 2)
    if n >= 4:
        sets += combinations(range(min(n, TRIPLES_AMONG)), 3)
    if n >= 3:
        sets += [tuple(j for j in range(n) if j != i) for i in range(n)]
    seen, out = set(), []
    for s in sets:
        if len(s) >= 2 and s not in seen:
            seen.add(s)
            out.append(s)
    return out


def combine(base: Creature, pool: Sequence[Candidate], stats: BuildStats) -> list[Candidate]:
    """The combination candidates of `pool` applied to `base` (those that do not fit are dropped)."""
    out, keys = [], set()
    for s in index_sets(pool):
        parts = [pool[i] for i in s]
        c = Candidate(COMBO_SUCCESSFUL, " + ".join(p.description for p in parts),
                      tuple(op for p in parts for op in p.operations), sum(p.expected_gain for p in parts),
                      {"parts": [p.key for p in parts], "changeTypes": [p.change_type for p in parts]},
                      parts=tuple(p.key for p in parts))
        c = realise(base, c, stats)
        if c is not None and c.key not in keys:
            keys.add(c.key)
            out.append(c)
    return out
