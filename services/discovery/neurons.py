"""Neuron-addition grid search for one target (§2.6, §9.4): a new hidden neuron
h = f(w_in·a + b) fed by source a and feeding the target with w_out, over
squash (§2.6's 15 specs; ReLU with both orientations gives the two half-rectified candidates)
× orientation (±1) × scale (wide or smooth grid) × bias (13 values; IDENTITY without ±0.1 and 0,
since an IDENTITY neuron without bias is a plain synapse).

For each configuration o = f(w_in·a + b), w_out = Σe·o / (Σo² + ε) clamped, improvement
(2 w_out Σeo − w_out² Σo²) / Σe² (VALUE domain). The grid runs on the pair's training split,
at most `grid_samples` of them, one source at a time, configurations in blocks of
`block_elements` (the memory bound); the best configuration per (source, squash) is then
re-scored on the validation split (hold-out) and counted over every sample.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import squashes
from .scoring import (BIASES, EPS, MIN_NEURON_OUTPUT_STD_DEV, MIN_NEURON_SAMPLE_COUNT, NEURON_MIN_IMPROVED_RATIO,
                      SCALES_SMOOTH, SCALES_WIDE, holdout_offset, validation_mask)
from .synapses import TargetSamples


@dataclass(frozen=True)
class NeuronResult:
    source: int
    squash: str
    incoming_weight: float
    bias: float
    outgoing_weight: float
    improvement: float
    improved: int
    total: int


def grid(squash: str) -> tuple[np.ndarray, np.ndarray]:
    """(w_in, b) of every configuration of one squash."""
    scales = SCALES_SMOOTH if squash in squashes.SMOOTH else SCALES_WIDE
    biases = [b for b in BIASES if not (squash == "IDENTITY" and abs(b) <= 0.1)]
    w = np.array([o * s for o in (1, -1) for s in scales for _ in biases], np.float32)
    b = np.array([b for _ in (1, -1) for _ in scales for b in biases], np.float32)
    return w, b


def _fit(xp, o, e, limit):
    """(w_out, Σe² − Σ(e − w_out·o)²) of each row of o against e, and each row's std."""
    So = (o * o).sum(-1)
    Seo = o @ e
    mean = o.mean(-1)
    w = xp.clip(Seo / (So + EPS), -limit, limit)
    std = xp.sqrt(xp.maximum(So / o.shape[-1] - mean * mean, 0))
    return w, (2 * w * Seo - w * w * So), std


def search(xp, A, ts: TargetSamples, rows: list[int], names: list[str], max_weight: float,
           grid_samples: int = 1024, block_elements: int = 4_000_000,
           check=lambda: None) -> list[NeuronResult]:
    """The best new neuron per (source, squash) that passes §2.6's filters; `check()` runs
    before each source (it raises to stop: deadline, cancellation)."""
    out = []
    n = ts.n
    if n < MIN_NEURON_SAMPLE_COUNT:
        return out
    e_all = ts.e
    See_all = float((e_all * e_all).sum())
    if See_all <= EPS:
        return out
    for r in rows:
        check()
        a_all = A[r][ts.cols]
        finite = xp.isfinite(a_all)
        if int(finite.sum()) < MIN_NEURON_SAMPLE_COUNT:
            continue
        a_all = xp.where(finite, a_all, 0)
        val = xp.asarray(validation_mask(n, holdout_offset(names[r], ts.name))) & finite
        train = finite & ~val
        idx = xp.nonzero(train)[0]
        if idx.shape[0] > grid_samples:   # evenly spaced: deterministic, covers the whole range
            idx = idx[xp.asarray(np.linspace(0, int(idx.shape[0]) - 1, grid_samples).astype(np.int64))]
        a, e = a_all[idx], e_all[idx]
        See = float((e * e).sum())
        if See <= EPS:
            continue
        for squash in squashes.NEURON_SQUASHES:
            w_in, b = grid(squash)
            best, best_i = -np.inf, -1
            step = max(1, block_elements // max(1, int(a.shape[0])))
            for at in range(0, len(w_in), step):
                wi = xp.asarray(w_in[at:at + step])[:, None]
                bi = xp.asarray(b[at:at + step])[:, None]
                o = squashes.apply(xp, squash, wi * a[None, :] + bi)
                w_out, gain, std = _fit(xp, o, e, max_weight)
                gain = xp.where((std >= MIN_NEURON_OUTPUT_STD_DEV) & xp.isfinite(gain), gain, -np.inf)
                i = int(xp.argmax(gain))
                if float(gain[i]) > best:
                    best, best_i = float(gain[i]), at + i
            if best_i < 0 or best / See <= 0:
                continue
            result = _rescore(xp, squash, float(w_in[best_i]), float(b[best_i]), a_all, e_all, finite, val, train,
                              max_weight, r)
            if result is not None:
                out.append(result)
    return out


def _rescore(xp, squash, w_in, bias, a, e, finite, val, train, limit, r) -> NeuronResult | None:
    o = squashes.apply(xp, squash, w_in * a + bias)
    w_out, _, _ = _fit(xp, xp.where(train, o, 0)[None, :], xp.where(train, e, 0), limit)
    w_out = w_out[0]
    w_out = float(w_out)
    score = val if bool(val.any()) else train
    new = e - w_out * o
    b2 = float(xp.where(score, e * e, 0).sum())
    n2 = float(xp.where(score, new * new, 0).sum())
    improvement = (b2 - n2) / max(b2, EPS)
    improved = int(((xp.abs(new) + EPS < xp.abs(e)) & finite).sum())
    total = int(finite.sum())
    if improvement <= 0 or improved / total < NEURON_MIN_IMPROVED_RATIO or abs(w_out) <= EPS:
        return None
    if float(xp.where(finite, o, 0).std()) < MIN_NEURON_OUTPUT_STD_DEV:
        return None
    return NeuronResult(r, squash, w_in, bias, w_out, improvement, improved, total)
