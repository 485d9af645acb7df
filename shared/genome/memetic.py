"""NEAT-AI's record of what weight tuning did to a creature (reference/neat-ai.md §1.1, §4.4):
the `memetic` object (how many tunings, the score it was tuned from, the original values of the
biases and weights that changed, up to three earlier records) and the "adjusted" trace tag.
Shared by the evaluator's training and the evolver's quantum fine-tuning."""
from __future__ import annotations

import math

from neatai.creature import Creature

ANCESTRY = 3  # earlier records kept, most recent first
# Trace tags of a tuning, which describe the tuned creature only: a mutation drops them (NEAT-AI).
TRACE_TAGS = frozenset({"approach", "trainID", "trained", "untrained-error", "untrained-score", "adjusted",
                        "old-score"})


def memetic_update(original: Creature, tuned: Creature, score: float | None = None) -> tuple[dict, int, int]:
    """The `memetic` record of `tuned`, a copy of `original` with changed biases or weights (a
    synapse `original` lacks counts as weight 0 there), and how many weights and biases changed.
    The generation counts tunings: one past the original's."""
    before = {n.uuid: n.bias for n in original.neurons}
    biases = {n.uuid: before[n.uuid] for n in tuned.neurons if n.uuid in before and n.bias != before[n.uuid]}
    old = {(s.from_uuid, s.to_uuid): s.weight for s in original.synapses}
    weights = [{"fromUUID": s.from_uuid, "toUUID": s.to_uuid, "weight": old.get((s.from_uuid, s.to_uuid), 0.0)}
               for s in tuned.synapses if s.weight != old.get((s.from_uuid, s.to_uuid), 0.0)]
    previous = original.memetic or {}
    record = {"generation": previous.get("generation", 0) + 1, "weights": weights, "biases": biases}
    if score is not None and math.isfinite(score):
        record["score"] = score
    if previous:
        record["ancestry"] = ([{k: v for k, v in previous.items() if k != "ancestry"}]
                              + list(previous.get("ancestry", [])))[:ANCESTRY]
    return record, len(weights), len(biases)


def adjusted(weights: int, biases: int) -> str:
    """NEAT-AI's `adjusted` tag value: "4 weights, 1 bias"."""
    return f"{weights} weight{'s' if weights != 1 else ''}, {biases} bias{'es' if biases != 1 else ''}"
