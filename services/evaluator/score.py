"""NEAT-AI's current score (reference/neat-ai.md §7.1): 1 − error − complexity − version penalty."""
from __future__ import annotations

import math

from neatai.creature import CURRENT_SEMANTIC_VERSION, Creature

from .wire_reader import FlatCreature

MAX_SAFE_INTEGER = 9007199254740991.0
VERSION_PENALTY = 1e-6
_CURRENT_MAJOR = CURRENT_SEMANTIC_VERSION.split(".")[0]


def value_penalty(v: float) -> float:
    """0 up to 1, then 1/(1+1/v), compressed logarithmically above 0.999 (∈ [0, 1))."""
    if not v > 1:
        return 0.0
    p = 1 / (1 + 1 / v)
    if p > 0.999:
        return 0.999 + value_penalty(math.log(v)) / 1000
    return p


def version_penalty(semantic_version: str | None) -> float:
    """1e-6 when the creature's major version is not the current one (none given = current)."""
    if semantic_version is None:
        return 0.0
    return 0.0 if semantic_version.split(".")[0] == _CURRENT_MAJOR else VERSION_PENALTY


def complexity_penalty(creature: Creature | FlatCreature, cost_of_growth: float) -> float:
    if not isinstance(creature, FlatCreature):
        creature = FlatCreature.of(creature)
    values = creature.magnitudes
    if values:
        high = min(max(values), MAX_SAFE_INTEGER)
        mean = min(math.fsum(values) / len(values), MAX_SAFE_INTEGER)
        penalty = (value_penalty(high) + value_penalty(mean)) / 2
    else:
        penalty = 0.0
    # Score.ts adds each neuron's squash class `complexityPenalty` to `penalty`; the per-class
    # values are not recorded in the reference, so no squash adds anything here.
    g = cost_of_growth
    return creature.hidden_count * g + creature.n_synapses * g / 10 + penalty * g / 100


def score(creature: Creature | FlatCreature, error: float, cost_of_growth: float = 1e-7) -> float:
    """Fitness of a creature whose dataset error is `error` (higher is better)."""
    return (1 - error - complexity_penalty(creature, cost_of_growth)
            - version_penalty(creature.semantic_version))
