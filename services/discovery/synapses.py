"""Synapse analysis for one target neuron, all candidate sources at once (§2.3, §2.5, §9.3):
new synapses by closed-form least squares with the nine weight variants and the rotated 30 %
hold-out, weight updates of existing synapses (the delta is fitted and clamped, not the
weight: §2.3 step 9's flag), and harmful existing synapses.

Conventions: e is the target's VALUE-domain error (target − actual), so adding a contribution
c to the target's value leaves e − c. A target whose squash is simulated (squashes.py) and not
IDENTITY is scored in the activation domain: expected = f(v + e), base = expected − y,
new = expected − f(v + c). Removing an existing synapse's contribution w·a is scored the same
way with c = −w·a; it is harmful when w·a and e have opposite signs (it pushes the value away
from its target), the convention the README's target − actual errors imply (§2.5 flag (a)).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import squashes
from .scoring import EPS, HOLDOUT_FRACTION, HOLDOUT_MIN_SAMPLES, WEIGHT_VARIANTS, holdout_offset


@dataclass(frozen=True)
class PairResult:
    source: int            # row
    weight: float          # the new synapse's weight (add) or the new weight (update)
    improvement: float     # fraction of the target's squared error removed (validation split when held out)
    train_improvement: float
    improved: int          # samples whose |error| shrinks
    total: int
    source_std: float
    source_mean: float
    source_range: float


@dataclass
class TargetSamples:
    """One target's samples: where its error is finite, with its value, activation and squash."""
    row: int
    name: str
    cols: object           # xp bool[observations]
    e: object              # xp float32[n]
    v: object
    y: object
    squash: str            # "" when scored in the VALUE domain

    @property
    def n(self) -> int:
        return int(self.e.shape[0])


def target_samples(xp, A, V, E, row: int, name: str, squash: str) -> TargetSamples | None:
    cols = xp.isfinite(E[row]) & xp.isfinite(A[row])
    if not bool(cols.any()):
        return None
    v = V[row][cols]
    y = A[row][cols]
    e = E[row][cols]
    simulate = squash if squash != "IDENTITY" and squashes.simulated(squash) else ""
    if simulate and not bool(xp.isfinite(v).all()):
        v = xp.where(xp.isfinite(v), v, y)   # no value: NEAT-AI approximates f⁻¹(y); y is the IDENTITY guess
    return TargetSamples(row, name, cols, e, v, y, simulate)


def _masks(xp, m, names: list[str], target: str, holdout: bool):
    """(train, validation) masks (|S|, n): validation is a rotated 30 % block of each pair's
    valid samples, offset by FNV-1a(source ‖ 0xFF ‖ target), when the pair has ≥ 20 samples."""
    nk = m.sum(1)
    if not holdout:
        return m, None
    rank = xp.cumsum(m, 1) - 1
    offsets = xp.asarray(np.array([holdout_offset(s, target) for s in names], np.int64))
    nk64 = xp.maximum(nk, 1).astype(xp.int64)
    cut = xp.rint(HOLDOUT_FRACTION * nk64)
    val = m & (((rank + (offsets % nk64)[:, None]) % nk64[:, None]) < cut[:, None]) & (nk >= HOLDOUT_MIN_SAMPLES)[:, None]
    return m & ~val, val


def _sums(xp, base2_terms, new2_terms, mask):
    return (xp.where(mask, base2_terms, 0).sum(1, dtype=xp.float64),
            xp.where(mask, new2_terms, 0).sum(1, dtype=xp.float64))


def _simulated_terms(xp, ts: TargetSamples, contribution):
    expected = squashes.apply(xp, ts.squash, ts.v + ts.e)[None, :]
    base = expected - ts.y[None, :]
    new = expected - squashes.apply(xp, ts.squash, ts.v[None, :] + contribution)
    return base, new


def _improvement(base2, new2):
    return (base2 - new2) / np.maximum(base2, EPS)


def fit_sources(xp, A, ts: TargetSamples, rows: list[int], names: list[str], max_weight: float,
                holdout: bool = True, existing: dict[int, float] | None = None) -> list[PairResult]:
    """Least-squares fits e ≈ w·a for every source row (new synapses; with `existing`, the
    delta on top of each existing weight), scored per §2.3. Returns every pair with a fit."""
    if not rows:
        return []
    a = A[rows][:, ts.cols]
    m = xp.isfinite(a)
    a = xp.where(m, a, 0)
    e = xp.broadcast_to(ts.e[None, :], a.shape)
    train, val = _masks(xp, m, [names[r] for r in rows], ts.name, holdout)
    S_aa = xp.where(train, a * a, 0).sum(1, dtype=xp.float64)   # float64 sums: no overflow, no drift
    S_ea = xp.where(train, a * e, 0).sum(1, dtype=xp.float64)
    helpful = xp.where(train & (xp.abs(a) > EPS) & (xp.abs(e) > EPS), 1, 0).sum(1)
    w_star = S_ea / (S_aa + EPS)
    limit = max_weight
    best_w = xp.zeros(len(rows), xp.float32)
    best_train = xp.full(len(rows), -np.inf, xp.float32)
    for k in WEIGHT_VARIANTS:
        w = xp.clip(k * w_star, -limit, limit).astype(xp.float32)
        if ts.squash:
            base, new = _simulated_terms(xp, ts, w[:, None] * a)
            b2, n2 = _sums(xp, base * base, new * new, train)
        else:
            b2 = xp.where(train, e * e, 0).sum(1, dtype=xp.float64)
            n2 = b2 - (2 * w * S_ea - w * w * S_aa)
        imp = _improvement(b2, n2)
        better = imp > best_train
        best_w = xp.where(better, w, best_w)
        best_train = xp.where(better, imp, best_train)
    # the chosen weight on the validation split (the train split without a hold-out)
    score_mask = train if val is None else xp.where((val.sum(1) > 0)[:, None], val, train)
    contribution = best_w[:, None] * a
    if ts.squash:
        base, new = _simulated_terms(xp, ts, contribution)
    else:
        base, new = e, e - contribution
    b2, n2 = _sums(xp, base * base, new * new, score_mask)
    imp = _improvement(b2, n2)
    improved = ((xp.abs(new) + EPS < xp.abs(base)) & m).sum(1)
    total = m.sum(1)
    count = xp.maximum(total, 1)
    mean = a.sum(1, dtype=xp.float64) / count
    std = xp.sqrt(xp.maximum((xp.where(m, a * a, 0).sum(1, dtype=xp.float64) / count) - mean * mean, 0))
    span = xp.where(m, a, -np.inf).max(1) - xp.where(m, a, np.inf).min(1)
    ok = (helpful > 0) & (S_aa > EPS) & (xp.abs(w_star) > EPS)
    cols = [np.asarray(x.get() if hasattr(x, "get") else x) for x in
            (best_w, imp, best_train, improved, total, std, mean, span, ok)]
    out = []
    for i, r in enumerate(rows):
        if not cols[8][i]:
            continue
        weight = float(cols[0][i]) + (existing.get(r, 0.0) if existing else 0.0)
        out.append(PairResult(r, weight, float(cols[1][i]), float(cols[2][i]), int(cols[3][i]), int(cols[4][i]),
                              float(cols[5][i]), float(cols[6][i]), float(cols[7][i])))
    return out


@dataclass(frozen=True)
class HarmfulResult:
    source: int
    improvement: float      # fraction of the target's squared error removing the synapse removes
    harmful: int
    helpful: int
    total: int


def harmful_synapses(xp, A, ts: TargetSamples, inbound: dict[int, float]) -> list[HarmfulResult]:
    """§2.5 for the target's existing synapses: (harmful − helpful)/total > 0 (Issue #416) and
    removing it lowers the target's squared error."""
    rows = list(inbound)
    if not rows:
        return []
    a = A[rows][:, ts.cols]
    m = xp.isfinite(a)
    w = xp.asarray(np.array([inbound[r] for r in rows], np.float32))
    c = xp.where(m, w[:, None] * a, 0)
    e = ts.e[None, :]
    live = m & (xp.abs(c) > EPS) & (xp.abs(e) > EPS)
    harmful = (live & (xp.sign(c) != xp.sign(e))).sum(1)
    helpful = (live & (xp.sign(c) == xp.sign(e))).sum(1)
    if ts.squash:
        base, new = _simulated_terms(xp, ts, -c)
    else:
        base, new = xp.broadcast_to(e, c.shape), e + c
    b2, n2 = _sums(xp, base * base, new * new, m)
    imp = _improvement(b2, n2)
    cols = [np.asarray(x.get() if hasattr(x, "get") else x) for x in (imp, harmful, helpful, m.sum(1))]
    out = []
    for i, r in enumerate(rows):
        total = int(cols[3][i])
        if total and (cols[1][i] - cols[2][i]) / total > 0 and cols[0][i] > 0:
            out.append(HarmfulResult(r, float(cols[0][i]), int(cols[1][i]), int(cols[2][i]), total))
    return out
