"""Squash changes (§2.7, NEAT-AI's TS rule) and coordinated multi-operation candidates (§2.8):
constant-neuron folds and epistatic synapse pairs."""
from __future__ import annotations

import math

import numpy as np

from . import squashes
from .result import CoordinatedCandidate, Operation, SquashSuggestion
from .scoring import COORDINATED_ESTIMATION_WEIGHT_SCALE, EPS, HOLDOUT_MIN_SAMPLES, coordinated_gain
from .structure import Structure
from .synapses import TargetSamples

SQUASH_ACCEPT = 1e-4          # a squash must beat the best so far by this MSE
CONSTANT_VARIANCE = 1e-10
FIRING = 0.5                  # epistatic firing |a| ≥ 0.5
COMPLEMENTARITY = 0.7
REDUNDANT = 0.9


def squash_change(xp, ts: TargetSamples, A, V, s: Structure, current: str) -> SquashSuggestion | None:
    """The squash g that brings g(value) closest to the activation the neuron should have had,
    f(value + error), if it beats the current squash by more than 1e-4 MSE."""
    if not squashes.simulated(current):
        return None
    v = V[ts.row][ts.cols]
    if not bool(xp.isfinite(v).all()):
        return None
    ideal = squashes.apply(xp, current, v + ts.e)
    actual = A[ts.row][ts.cols]
    baseline = float(((ideal - actual) ** 2).mean())
    if not math.isfinite(baseline) or baseline <= SQUASH_ACCEPT:
        return None
    lowest, best = baseline, None
    for g in squashes.CHANGE_SQUASHES:   # fixed order: deterministic (NEAT-AI shuffles)
        if g == current:
            continue
        err = float(((ideal - squashes.apply(xp, g, v)) ** 2).mean())
        if math.isfinite(err) and err < lowest - SQUASH_ACCEPT:
            lowest, best = err, g
    if best is None:
        return None
    n = ts.n
    raw = (baseline - lowest) / baseline
    scale = min(0.5, max(0.1, 0.1 + n / 40000 * 0.4))
    gain = raw * scale * min(max(float(s.impact[ts.row]), 0.0), 1.0)
    return SquashSuggestion(s.names[ts.row], current, best, gain, improved_error=lowest, current_error=baseline)


def constant_neuron_folds(A: np.ndarray, s: Structure) -> list[CoordinatedCandidate]:
    """A hidden neuron whose activation never varies is a bias: fold w·mean(a) into each
    child's bias and remove it (setBias… + removeNeuron)."""
    out = []
    for r in s.hidden_rows():
        a = A[r][np.isfinite(A[r])]
        if a.size == 0 or float(a.var()) >= CONSTANT_VARIANCE:
            continue
        mean = float(a.mean())
        ops = [Operation("setBias", neuron_uuid=s.names[c], bias=s.bias[c] + w * mean)
               for c, w in sorted(s.outbound[r].items())]
        ops.append(Operation("removeNeuron", neuron_uuid=s.names[r]))
        savings = 1.0  # removes a neuron without changing any output: worth the full coordinated scale
        gain = coordinated_gain(savings, len(ops), 1.0)
        out.append(CoordinatedCandidate(tuple(ops), max(gain, 1e-5),
                                        f"constant neuron {s.names[r]} (activation {mean:.6g}) folded into bias"))
    return out


def epistatic_pairs(xp, A, ts: TargetSamples, rows: list[int], singles: dict[int, float], s: Structure,
                    max_weight: float, max_sources: int = 16) -> list[CoordinatedCandidate]:
    """§2.8 pairs of unconnected sources that help mostly together: firing sets (|a| ≥ 0.5)
    overlapping little (complementarity ≥ 0.7), correlation < 0.9, a joint least-squares fit
    whose improvement beats the sum of the single ones and is positive on both halves."""
    rows = rows[:max_sources]
    if len(rows) < 2 or ts.n < HOLDOUT_MIN_SAMPLES:
        return []
    a = A[rows][:, ts.cols]
    a = xp.where(xp.isfinite(a), a, 0)
    e = ts.e
    See = float((e * e).sum())
    if See <= EPS:
        return []
    fire = xp.abs(a) >= FIRING
    half = ts.n // 2
    out = []
    G = a @ a.T
    b = a @ e
    nrm = xp.sqrt(xp.diag(G)) + EPS
    corr = G / nrm[:, None] / nrm[None, :]
    host = [np.asarray(x.get() if hasattr(x, "get") else x) for x in (G, b, corr)]
    Gh, bh, ch = host
    impact = 1.0 if s.kind[ts.row] == "output" else 0.5
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            if abs(ch[i, j]) >= REDUNDANT:
                continue
            union = int((fire[i] | fire[j]).sum())
            if union == 0 or 1 - int((fire[i] & fire[j]).sum()) / union < COMPLEMENTARITY:
                continue
            M = np.array([[Gh[i, i], Gh[i, j]], [Gh[i, j], Gh[j, j]]]) + EPS * np.eye(2)
            w = np.clip(np.linalg.solve(M, np.array([bh[i], bh[j]])), -max_weight, max_weight)
            resid = e - float(w[0]) * a[i] - float(w[1]) * a[j]
            combined = (See - float((resid * resid).sum())) / See
            together = singles.get(rows[i], 0.0) + singles.get(rows[j], 0.0)
            if combined <= together * impact or combined <= 0:
                continue
            halves = [float((e[sl] ** 2).sum() - (resid[sl] ** 2).sum()) for sl in (slice(0, half), slice(half, None))]
            if min(halves) <= 0:
                continue
            gain = coordinated_gain(combined * COORDINATED_ESTIMATION_WEIGHT_SCALE, 2, impact)
            if gain <= 0:
                continue
            ops = tuple(Operation("addSynapse", from_uuid=s.names[src], to_uuid=ts.name, weight=float(wk))
                        for src, wk in ((rows[i], w[0]), (rows[j], w[1])))
            out.append(CoordinatedCandidate(ops, gain, f"epistatic pair into {ts.name}: together {combined:.3g}, "
                                                       f"apart {together:.3g}"))
    return out
