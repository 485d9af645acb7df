"""The constants and small formulas that turn a local improvement into NEAT-AI's
expectedCreatureScoreGain (reference/discovery.md §2.3, §2.4, §2.6, §2.10, §10), and the
deterministic hold-out split."""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np

EPS = 1e-8
MIN_IMPROVED_RATIO = 0.6             # synapse
NEURON_MIN_IMPROVED_RATIO = 0.55     # Issue #1109
MIN_NEURON_SAMPLE_COUNT = 10
MIN_NEURON_OUTPUT_STD_DEV = 0.01
WEIGHT_VARIANTS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, -0.5, -1.0)
HOLDOUT_MIN_SAMPLES = 20
HOLDOUT_FRACTION = 0.3
SOURCE_STD_REFERENCE = 0.05
SYNAPSE_PREDICTION_CALIBRATION = 0.0003
NEURON_PREDICTION_CALIBRATION = 0.003
COORDINATED_SCALE = 0.00005
COORDINATED_MIN_GAIN = 1e-5
COORDINATED_FLOOR = 5e-7
COORDINATED_ESTIMATION_WEIGHT_SCALE = 0.2
COORDINATED_PESSIMISM = {1: 1.0, 2: 0.5, 3: 0.2}   # ≥4 ops: 0.1
SYNAPSE_PESSIMISM = (0.03, 0.90)     # floor, exponent
NEURON_PESSIMISM = (0.08, 0.80)
INPUT_SOURCE_BOOST, HIDDEN_SOURCE_BOOST, HIDDEN_TARGET_BOOST = 1.5, 1.2, 1.5
ACTIVATION_BOOST = {"GELU": 2.0, "ABSOLUTE": 1.95, "Mish": 1.78, "ReLU6": 1.70, "BENT_IDENTITY": 1.57,
                    "ELU": 1.5, "Softplus": 1.43, "SINE": 1.15, "ArcTan": 1.13, "SOFTSIGN": 1.08,
                    "CLIPPED": 1.03, "TANH": 1.0, "BIPOLAR": 0.95, "IDENTITY": 0.85, "HARD_TANH": 0.80}
SCALES_WIDE = (0.1, 0.2, 0.35, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
SCALES_SMOOTH = (0.1, 0.2, 0.35, 0.5, 1.0, 2.0, 4.0, 10.0)
BIASES = (-10.0, -5.0, -2.0, -1.0, -0.5, -0.1, 0.0, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0)
EWMA_ALPHA, CORRECTION_BOUNDS = 0.3, (0.001, 1.0)
REMOVAL_SAVINGS_BOOST = 1.5


def fnv1a(data: bytes) -> int:
    """32-bit FNV-1a."""
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def holdout_offset(source: str, target: str) -> int:
    return fnv1a(source.encode() + b"\xff" + target.encode())


def validation_mask(n: int, offset: int) -> np.ndarray:
    """§2.3 step 4: sample i of n is validation iff (i + offset) % n < round(0.3 n) — a
    contiguous rotated block; all False below HOLDOUT_MIN_SAMPLES (no hold-out)."""
    if n < HOLDOUT_MIN_SAMPLES:
        return np.zeros(n, bool)
    return (np.arange(n) + offset % n) % n < round(HOLDOUT_FRACTION * n)


def pessimism(ratio: float, floor_exp: tuple[float, float]) -> float:
    floor, exponent = floor_exp
    return floor + (1 - floor) * max(ratio, 0.0) ** exponent


def logistic_modulator(ratio: float) -> float:
    """Newer NEAT-AI: floor 0.1, steepness 8, midpoint 0.6 on the improved ratio."""
    return 0.1 + 0.9 / (1 + math.exp(-8 * (ratio - 0.6)))


def coordinated_gain(improvement: float, ops: int, target_impact: float) -> float:
    """§2.4's coordinated discount; 0 when below the minimum gain."""
    gain = improvement * target_impact * COORDINATED_PESSIMISM.get(ops, 0.1) * COORDINATED_SCALE
    return gain if gain >= COORDINATED_FLOOR else 0.0


def calibration_corrections(failure_cache: Iterable[dict]) -> dict[str, float]:
    """§2.10: per change type, the EWMA (α 0.3, oldest first) of actual/expected error
    reduction over the failure-cache summaries, clamped to [0.001, 1]; types absent → 1."""
    out: dict[str, float] = {}
    for entry in failure_cache:
        kind = entry.get("changeType")
        expected, actual = entry.get("expectedErrorReduction"), entry.get("actualErrorReduction")
        if not kind or expected is None or actual is None:
            continue
        expected, actual = float(expected), float(actual)
        if expected == 0 or not (math.isfinite(expected) and math.isfinite(actual)):
            continue
        ratio = actual / expected
        out[kind] = ratio if kind not in out else EWMA_ALPHA * ratio + (1 - EWMA_ALPHA) * out[kind]
    lo, hi = CORRECTION_BOUNDS
    return {k: min(max(v, lo), hi) for k, v in out.items()}
