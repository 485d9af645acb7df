"""Focus-neuron ranking and selection (§3.3, §3.4) and the low-impact removal candidates that
come out of the same pass (§2.9)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .result import FocusNeuron, NeuronRemoval
from .scoring import REMOVAL_SAVINGS_BOOST
from .structure import Structure

IMPACT_EPS, IMPACT_EXPONENT = 1e-4, 0.8
FIRING = 1e-6
EXPLOIT, DROUGHT_EXPLOIT = 0.8, 0.6


@dataclass(frozen=True)
class NeuronStats:
    row: int
    total_error: float      # min(mean |e|, the largest output mean |e|)
    mean_abs_error: float
    mean_activation: float  # mean |activation|
    firing: float           # fraction of samples with |a| > 1e-6
    variance: float
    score: float            # §3.3's weighted score


def neuron_stats(A: np.ndarray, E: np.ndarray, s: Structure) -> dict[int, NeuronStats]:
    """§3.3 per selectable neuron (NumPy arrays: one pass over the recording):
    total_error × (impact + 1e-4)^0.8 × frequency factor × (0.5 + history success). The
    history is 0 here (the success cache lives in the pipeline), so the last factor is 0.5; the
    gradient factor (saturation, dead units, mean gradient) and the opt-in reconstruction term
    are not modelled (factor 1)."""
    rows = s.selectable_rows()
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # a neuron without finite errors: NaN, then 0
        abs_e = np.nanmean(np.abs(E[rows]), axis=1) if rows else np.zeros(0)
        abs_a = np.nanmean(np.abs(A[rows]), axis=1) if rows else np.zeros(0)
        var = np.nanvar(A[rows], axis=1) if rows else np.zeros(0)
        firing = np.nanmean(np.abs(A[rows]) > FIRING, axis=1) if rows else np.zeros(0)
    abs_e, abs_a, var = (np.nan_to_num(x) for x in (abs_e, abs_a, var))
    outputs = [abs_e[i] for i, r in enumerate(rows) if s.kind[r] == "output"]
    cap = max(outputs) if outputs else float("inf")
    out = {}
    for i, r in enumerate(rows):
        total = float(min(abs_e[i], cap))
        frequency = 0.8 if firing[i] < 0.1 or firing[i] > 0.9 else 1.0
        if s.kind[r] == "output":
            frequency = 1.0   # an output fires whenever it is non-zero; the factor targets hidden units
        score = float(total * (s.impact[r] + IMPACT_EPS) ** IMPACT_EXPONENT * frequency * 0.5)
        out[r] = NeuronStats(r, total, float(abs_e[i]), float(abs_a[i]), float(firing[i]), float(var[i]), score)
    return out


def rank(stats: dict[int, NeuronStats], s: Structure) -> list[NeuronStats]:
    """Best first; ties by impact (desc), then uuid."""
    return sorted(stats.values(), key=lambda n: (-n.score, -s.impact[n.row], s.names[n.row]))


def select(ranked: list[NeuronStats], s: Structure, size: int, cost_of_growth: float, rng: np.random.Generator,
           forced: list[str] = (), drought: bool = False) -> list[FocusNeuron]:
    """§3.4: forced uuids first; the rest 80 % exploit (best ranked) and 20 % explore (roulette
    without replacement on (max(totalError·impact − cog, cog))² over the others; 60/40 in a
    drought)."""
    chosen = [FocusNeuron(u, 0.0, "forced") for u in forced if u in s.row]
    left = max(0, size - len(chosen))
    taken = {s.row[f.neuron_uuid] for f in chosen}
    pool = [n for n in ranked if n.row not in taken and n.total_error * min(s.impact[n.row], 1.0) >= cost_of_growth]
    exploit = int(round(left * (DROUGHT_EXPLOIT if drought else EXPLOIT)))
    for n in pool[:exploit]:
        chosen.append(FocusNeuron(s.names[n.row], n.score, "exploit"))
    rest = pool[exploit:]
    weights = np.array([max(n.total_error * min(s.impact[n.row], 1.0) - cost_of_growth, cost_of_growth) ** 2
                        for n in rest], np.float64)
    while rest and len(chosen) < size:
        total = weights.sum()
        i = int(rng.integers(len(rest))) if not np.isfinite(total) or total <= 0 else \
            int(rng.choice(len(rest), p=weights / total))
        chosen.append(FocusNeuron(s.names[rest[i].row], rest[i].score, "explore"))
        rest.pop(i)
        weights = np.delete(weights, i)
    return chosen


def low_impact_removals(stats: dict[int, NeuronStats], s: Structure, cost_of_growth: float,
                        noise_floor: float) -> list[NeuronRemoval]:
    """§2.9: remove a hidden neuron when 1.5 × its growth cost saving exceeds its
    activation-weighted impact (impact × mean |activation|) by at least the noise floor."""
    out = []
    for r in s.hidden_rows():
        n = stats.get(r)
        if n is None:
            continue
        savings = cost_of_growth * (1 + (len(s.inbound[r]) + len(s.outbound[r])) / 10)
        boosted = REMOVAL_SAVINGS_BOOST * savings
        awi = float(s.impact[r]) * n.mean_activation
        net = boosted - awi
        if boosted > awi and net >= noise_floor:
            out.append(NeuronRemoval(s.names[r], "low-impact", net, total_error=n.total_error,
                                     impact=float(s.impact[r]), mean_activation=n.mean_activation,
                                     expected_error_reduction=awi))
    return sorted(out, key=lambda x: -x.expected_gain)
