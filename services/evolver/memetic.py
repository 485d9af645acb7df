"""Memetic fine-tuning (reference/neat-ai.md §4.4): the population sizing (seed 000 "Fine-Tune
Population Sizing": the fraction of the population trained each generation adapts on how often
training improved a creature over the last few generations), and NEAT-AI's quantum fine-tuning
of the fittest creature against a reference creature (`quantumAdjust`).

NEAT-AI documents the bounds (min 0.1, max 0.4, base 0.2, a window of 10 generations) and that
the fraction grows on success and shrinks on failure, not the curve. Here it is piecewise
linear in the windowed success rate: base when half the trainings improved their creature (or
none was tried yet), max when all did, min when none did — a pure function of the window, so a
resumed run, which restores the window, sizes its training as the uninterrupted run would.
"""
from __future__ import annotations

import math
import random
from typing import Sequence

from neatai.creature import Creature
from neatai.genome.memetic import adjusted, memetic_update

from .config import EvolverConfig


def fine_tune_fraction(config: EvolverConfig, window: Sequence[tuple[int, int]]) -> float:
    """The fraction for the next training, from (trained, improved) per recent generation."""
    trained = sum(t for t, _ in window)
    base, low, high = config.fine_tune_base_fraction, config.fine_tune_min_fraction, config.fine_tune_max_fraction
    if trained == 0:
        return base
    rate = sum(i for _, i in window) / trained
    if rate >= 0.5:
        return base + (rate - 0.5) * 2 * (high - base)
    return base - (0.5 - rate) * 2 * (base - low)


# ---- quantum fine-tuning (reference/neat-ai.md §4.4, NEAT-AI quantumAdjust) ---------------------

MIN_STEP = 1e-7  # NEAT-AI's quantum: adjusted values are whole multiples of it


def quantum_adjust(best: float, reference: float, u: float, forward_only: bool, backtrack: bool) -> float:
    """NEAT-AI's quantumAdjust of one parameter: from the fittest creature's value `best` along
    d = best - reference (the reference creature's value), by the uniform draw u in [0, 1):
    forward, best + d*u*scale, carries on the way the fittest moved away from the reference;
    otherwise best + d*u*(scale + 1) - d lands anywhere from back at the reference to past
    best. scale is 1 when backtracking (the reference scored better), else 2. The result is
    rounded to MIN_STEP and at least one quantum away from best; a parameter the two creatures
    share within a quantum (|d| < 0.9 * MIN_STEP) is left as it is."""
    d = best - reference
    if abs(d) < 0.9 * MIN_STEP:
        return best
    scale = 1 if backtrack else 2
    delta = d * u * scale if forward_only else d * u * (scale + 1) - d
    value = round((best + delta) / MIN_STEP) * MIN_STEP
    if abs(value - best) < MIN_STEP:  # forced at least one quantum away, the way delta points
        value = best + math.copysign(MIN_STEP, delta if delta else d)
    return value


def quantum_fine_tune(fittest: Creature, score: float, reference: Creature, rng: random.Random,
                      forward_only: bool, backtrack: bool) -> Creature | None:
    """A copy of `fittest` with quantum_adjust applied to every bias it shares with `reference`
    (the same neuron uuid with the same squash) and every synapse weight (a synapse the
    reference lacks counts as weight 0 there, as NEAT-AI adds it with weight 0); frozen genes
    and constants stay. None when nothing changed. The copy is tagged approach=fine and
    adjusted, and its `memetic` records the fittest's score and the original values of what
    changed (neatai.genome.memetic)."""
    out = fittest.copy()
    theirs = {n.uuid: n for n in reference.neurons}
    for n in out.neurons:
        ref = theirs.get(n.uuid)
        if n.type == "constant" or n.frozen or ref is None or ref.type == "constant" or ref.squash != n.squash:
            continue
        n.bias = quantum_adjust(n.bias, ref.bias, rng.random(), forward_only, backtrack)
    ref_weights = {(s.from_uuid, s.to_uuid): s.weight for s in reference.synapses}
    for s in out.synapses:
        if not s.frozen:
            s.weight = quantum_adjust(s.weight, ref_weights.get((s.from_uuid, s.to_uuid), 0.0), rng.random(),
                                      forward_only, backtrack)
    out.memetic, weights, biases = memetic_update(fittest, out, score)
    if not weights and not biases:
        return None
    out.set_tag("approach", "fine")
    out.set_tag("adjusted", adjusted(weights, biases))
    return out
