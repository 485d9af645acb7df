"""Memetic fine-tuning's population sizing (reference/neat-ai.md §4.4; seed 000 "Fine-Tune
Population Sizing"): the fraction of the population trained each generation adapts on how
often training improved a creature over the last few generations.

NEAT-AI documents the bounds (min 0.1, max 0.4, base 0.2, a window of 10 generations) and that
the fraction grows on success and shrinks on failure, not the curve. Here it is piecewise
linear in the windowed success rate: base when half the trainings improved their creature (or
none was tried yet), max when all did, min when none did — a pure function of the window, so a
resumed run, which restores the window, sizes its training as the uninterrupted run would.
"""
from __future__ import annotations

from typing import Sequence

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
