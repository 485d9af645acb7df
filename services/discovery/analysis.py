"""The analysis engine: a recording and its creature in, a DiscoverResult out (reference/
discovery.md §2, §3, §9.7).

    load the recording → dense per-neuron arrays (loader.py) on the chosen backend (backend.py)
    impact of every neuron (structure.py); focus ranking and selection, low-impact removals (focus.py)
    per focus target, until the deadline or cancellation (checked between source blocks):
        new synapses, weight updates, harmful synapses (synapses.py)
        new neurons (neurons.py), a squash change, epistatic pairs (changes.py)
    post-processing into expected_gain (scoring.py), best first, truncated to the caps

Deterministic: the only random choice (the 20 % explored focus neurons) draws from
`random_seed`; every other order is fixed. The memory bound: the dense arrays are three
float32 [neurons × observations] matrices; the per-target work runs over source blocks of at
most `block_bytes` per temporary.
"""
from __future__ import annotations

import hashlib
import logging
import math
import os
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from neatai.creature import Creature

from . import changes, focus, neurons, synapses
from .backend import DEVICES, select_backend
from .loader import Recording, load_recording
from .result import (CoordinatedCandidate, DiscoverResult, NeuronSuggestion, Operation, SynapseRemoval,
                     SynapseSuggestion, WeightUpdate)
from .scoring import (ACTIVATION_BOOST, EPS, HIDDEN_SOURCE_BOOST, HIDDEN_TARGET_BOOST, INPUT_SOURCE_BOOST,
                      MIN_IMPROVED_RATIO, NEURON_PESSIMISM, NEURON_PREDICTION_CALIBRATION, SOURCE_STD_REFERENCE,
                      SYNAPSE_PESSIMISM, SYNAPSE_PREDICTION_CALIBRATION, calibration_corrections,
                      coordinated_gain, logistic_modulator, pessimism)
from .structure import Structure

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10 * 60          # discoveryAnalysisTimeoutMinutes
CONSTANT_SOURCE_EFFECT = 1e-7
# A target whose mean squared error is below this is exact up to float32 rounding: fitting
# anything to its error would fit rounding noise.
MIN_TARGET_MSE = 1e-10
WEIGHT_VARIANTS_ADDED = (0.5, 0.25, 0.1)


class AnalysisCancelled(RuntimeError):
    """`options.cancel()` turned true; no result."""


class _DeadlineReached(Exception):
    """Raised inside a target's analysis when the deadline passes (the result keeps what it has)."""


class AnalysisOptionsError(ValueError):
    """Options that cannot be used; `problems` are (field, message) pairs, one per bad option."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__("; ".join(f"{f}: {m}" for f, m in problems))
        self.problems = problems


@dataclass
class AnalysisOptions:
    focus_size: int = 6                       # discoveryMaxNeurons
    focus_uuids: Sequence[str] = ()           # discoveryFocusNeuronUUIDs: forced focus
    random_seed: int | None = None
    cost_of_growth: float = 1e-7
    # NEAT-AI clamps new weights to 0.01 (IDENTITY) / 0.03 (non-linear) since its Issues #888/#905
    # to tame over-prediction; its original bound was 10. The fitted weight is what the scoring
    # pipeline re-scores, and the calibration constants already discount the prediction, so
    # the original bound is the default; pass 0.01 for NEAT-AI's current behaviour.
    max_outgoing_weight: float = 10.0
    holdout: bool = True
    timeout_s: float = DEFAULT_TIMEOUT_S
    cancel: Callable[[], bool] | None = None
    max_synapse_candidates: int | None = None   # None: max(50, 10 · focus)
    max_neuron_candidates: int | None = None    # None: max(25, 5 · focus)
    max_add_neuron_per_target: int = field(
        default_factory=lambda: min(32, max(1, int(os.environ.get("NEAT_AI_DISCOVERY_MAX_ADD_NEURON_PER_TARGET", 3)))))
    neuron_sources: int = 8                   # sources per target the neuron grid searches (most relevant first)
    neuron_grid_samples: int = 1024           # training samples per grid search
    block_bytes: int = 64 * 1024 ** 2         # the memory bound of one per-target temporary
    # The memory bound of the dense arrays (three float32 [neurons × observations]): a larger
    # recording is analysed on evenly spaced observations that fit (result.extra says how many).
    recording_bytes: int = 2 * 1024 ** 3
    failure_cache: Sequence[dict] = ()        # {changeType, expectedErrorReduction, actualErrorReduction}
    # NEAT-AI's 1e-5 is above what removing any neuron with < 660 synapses saves at
    # costOfGrowth 1e-7, which would switch the rule off; 0 keeps it on.
    removal_noise_floor: float = 0.0
    drought: bool = False                     # 60/40 exploit/explore instead of 80/20
    device: str | None = None                 # auto|cpu|gpu; None: NEATAI_DISCOVERY_DEVICE
    id: str | None = None

    def problems(self, creature: Creature) -> list[tuple[str, str]]:
        """Every option that cannot be used with this creature, as (field, message)."""
        out = []

        def need(ok: bool, name: str, message: str):
            if not ok:
                out.append((name, f"{message}, got {getattr(self, name)!r}"))
        need(self.focus_size >= 1, "focus_size", "must be >= 1")
        need(0 <= self.timeout_s <= 3600, "timeout_s", "must be in [0, 3600] seconds")
        need(math.isfinite(self.cost_of_growth) and self.cost_of_growth >= 0, "cost_of_growth", "must be finite and >= 0")
        need(math.isfinite(self.max_outgoing_weight) and self.max_outgoing_weight > 0, "max_outgoing_weight",
             "must be finite and > 0")
        need(self.neuron_sources >= 0, "neuron_sources", "must be >= 0")
        need(self.neuron_grid_samples >= 10, "neuron_grid_samples", "must be >= 10")
        need(self.block_bytes >= 1024, "block_bytes", "must be >= 1024")
        need(self.recording_bytes >= 1024, "recording_bytes", "must be >= 1024")
        need(self.removal_noise_floor >= 0, "removal_noise_floor", "must be >= 0")
        need(self.device in (None, *DEVICES), "device", f"must be one of {', '.join(DEVICES)}")
        for cap in ("max_synapse_candidates", "max_neuron_candidates"):
            need(getattr(self, cap) is None or getattr(self, cap) >= 1, cap, "must be >= 1 when set")
        kinds = {n.uuid: n.type for n in creature.neurons}
        bad = [u for u in self.focus_uuids if kinds.get(u) not in ("hidden", "output")]
        if bad:
            out.append(("focus_uuids", f"not hidden or output neurons of the creature: {bad[:5]}"))
        return out


def analyse(recording_path: str | Path, creature: Creature, options: AnalysisOptions | None = None) -> DiscoverResult:
    """Analyse a recording (its Parquet file or folder) of `creature`."""
    start = time.monotonic()
    options = options or AnalysisOptions()
    problems = options.problems(creature)
    if problems:
        raise AnalysisOptionsError(problems)
    recording = load_recording(recording_path, creature, options.recording_bytes)
    return analyse_recording(recording, creature, options, start)


def analyse_recording(recording: Recording, creature: Creature, options: AnalysisOptions,
                      start: float | None = None) -> DiscoverResult:
    start = time.monotonic() if start is None else start
    deadline = start + options.timeout_s
    s = Structure.of(creature)
    backend = select_backend(recording.A.size, options.device)
    xp = backend.xp
    A, V, E = (xp.asarray(m) for m in (recording.A, recording.V, recording.E))
    rng = np.random.default_rng(options.random_seed)
    corrections = calibration_corrections(options.failure_cache)
    stats = focus.neuron_stats(recording.A, recording.E, s)
    ranked = focus.rank(stats, s)
    chosen = focus.select(ranked, s, options.focus_size, options.cost_of_growth, rng, list(options.focus_uuids),
                          options.drought)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # input rows have no errors: their mean is NaN
        err2 = np.nan_to_num(np.nanmean(recording.E.astype(np.float64) ** 2, axis=1))
    selectable = s.selectable_rows()
    total_err2 = float(err2[selectable].sum()) if selectable else 0.0
    result = DiscoverResult(id=options.id or _result_id(options, creature), focus=chosen, backend=backend.name,
                            observations=recording.observations)
    result.remove_neurons = focus.low_impact_removals(stats, s, options.cost_of_growth, options.removal_noise_floor)
    result.coordinated = changes.constant_neuron_folds(recording.A, s)

    def check() -> None:
        """Between source blocks and grid sources: a long target stops promptly too."""
        if options.cancel is not None and options.cancel():
            raise AnalysisCancelled("the analysis was cancelled")
        if time.monotonic() > deadline:
            raise _DeadlineReached()

    engine = _Target(xp, A, V, E, s, options, corrections, total_err2, err2, check)
    for done, f in enumerate(chosen):
        try:
            check()
            engine.analyse(s.row[f.neuron_uuid], result)
        except _DeadlineReached:
            result.timed_out = True
            log.warning("discovery analysis stopped at its %.0f s deadline in focus neuron %d of %d",
                        options.timeout_s, done + 1, len(chosen))
            break
    _finish(result, options)
    result.seconds = time.monotonic() - start
    result.extra = {"backend_reason": backend.reason, "neurons": len(s.names), "focus_ranked": len(ranked),
                    "recorded_observations": recording.recorded_observations or recording.observations}
    return result


def _result_id(options: AnalysisOptions, creature: Creature) -> str:
    if options.random_seed is None:
        return str(uuid.uuid4())
    digest = hashlib.blake2b(f"{options.random_seed}|{creature.structural_hash()}".encode(), digest_size=16)
    return str(uuid.UUID(bytes=digest.digest()))


class _Target:
    """The per-target analyses with what they share."""

    def __init__(self, xp, A, V, E, s: Structure, options: AnalysisOptions, corrections, total_err2, err2, check):
        self.xp, self.A, self.V, self.E, self.s, self.o = xp, A, V, E, s, options
        self.corrections, self.total_err2, self.err2, self.check = corrections, total_err2, err2, check

    def share_impact(self, t: int) -> tuple[float, float]:
        share = self.err2[t] / self.total_err2 if self.total_err2 > 0 else 0.0
        impact = 1.0 if self.s.kind[t] == "output" else min(max(float(self.s.impact[t]), 0.0), 1.0) or 0.1
        return float(share), impact

    def blocks(self, rows: list[int], n: int):
        """Source rows in blocks whose (block, n) float32 temporaries fit block_bytes; the
        deadline and cancellation are checked before each."""
        per = max(1, self.o.block_bytes // max(1, 4 * n))
        for i in range(0, len(rows), per):
            self.check()
            yield rows[i:i + per]

    def analyse(self, t: int, result: DiscoverResult) -> None:
        xp, s, o = self.xp, self.s, self.o
        if s.is_aggregate(t):
            return   # an aggregate's value is not bias + Σ w·a: nothing here models it
        ts = synapses.target_samples(xp, self.A, self.V, self.E, t, s.names[t], s.squash[t])
        if ts is None or ts.n == 0 or float((ts.e * ts.e).mean()) <= MIN_TARGET_MSE:
            return
        share, impact = self.share_impact(t)
        sources = s.candidate_sources(t)
        fits = []
        for block in self.blocks(sources, ts.n):
            fits += synapses.fit_sources(xp, self.A, ts, block, s.names, o.max_outgoing_weight, o.holdout)
        singles = {}
        for p in fits:
            singles[p.source] = max(p.train_improvement, 0.0)
            self.add_synapse(p, t, share, impact, result)
        existing = dict(s.inbound[t])
        for block in self.blocks(list(existing), ts.n):
            for p in synapses.fit_sources(xp, self.A, ts, block, s.names, o.max_outgoing_weight, o.holdout,
                                          existing={r: existing[r] for r in block}):
                self.weight_update(p, t, share, impact, result)
        for h in synapses.harmful_synapses(xp, self.A, ts, existing):
            ratio = (h.harmful - h.helpful) / h.total
            gain = (h.improvement * share * impact * pessimism(ratio, SYNAPSE_PESSIMISM) * SYNAPSE_PREDICTION_CALIBRATION
                    * self.corrections.get("remove-synapse", 1.0))
            if gain > 0:
                result.remove_synapses.append(synapses_removal(s, h, t, gain))
        relevant = self.relevant_sources(ts, list(range(t)))
        for n in neurons.search(xp, self.A, ts, [r for r in relevant if s.kind[r] != "output"][:o.neuron_sources],
                                s.names, o.max_outgoing_weight, o.neuron_grid_samples, max(1, o.block_bytes // 4),
                                self.check):
            self.add_neuron(n, t, share, impact, result)
        change = changes.squash_change(xp, ts, self.A, self.V, s, s.squash[t])
        if change is not None:
            result.squash_changes.append(change)
        unconnected_rows = set(sources)
        unconnected = [r for r in relevant if r in unconnected_rows]
        result.coordinated += changes.epistatic_pairs(xp, self.A, ts, unconnected, singles, s, o.max_outgoing_weight)

    def relevant_sources(self, ts, rows: list[int]) -> list[int]:
        """Rows most related to the target's error: best uncentred r² of a or |a| with e."""
        xp = self.xp
        if not rows:
            return []
        scores = []
        for block in self.blocks(rows, ts.n):
            a = self.A[block][:, ts.cols].astype(xp.float64)   # huge activations overflow float32 squares
            a = xp.where(xp.isfinite(a), a, 0)
            e = ts.e.astype(xp.float64)
            See = float((e * e).sum()) + EPS
            best = None
            for feature in (a, xp.abs(a)):
                r2 = xp.nan_to_num((feature @ e) ** 2 / (((feature * feature).sum(1) + EPS) * See))
                best = r2 if best is None else xp.maximum(best, r2)
            scores.append(np.asarray(best.get() if hasattr(best, "get") else best))
        score = np.concatenate(scores)
        order = sorted(range(len(rows)), key=lambda i: (-score[i], rows[i]))
        return [rows[i] for i in order]

    def add_synapse(self, p: synapses.PairResult, t: int, share: float, impact: float, result: DiscoverResult):
        s, o = self.s, self.o
        ratio = p.improved / p.total if p.total else 0.0
        if p.improvement <= 0 or ratio < MIN_IMPROVED_RATIO or p.source_std < EPS:
            return
        if abs(p.weight) * p.source_range <= CONSTANT_SOURCE_EFFECT * max(1.0, p.source_std / SOURCE_STD_REFERENCE):
            # §2.3 step 8: the synapse would add a constant; say so as a bias change instead
            gain = coordinated_gain(p.improvement, 1, impact)
            if gain > 0:
                bias = s.bias[t] + p.weight * p.source_mean
                result.coordinated.append(CoordinatedCandidate(
                    (Operation("setBias", neuron_uuid=s.names[t], bias=bias),), gain,
                    f"constant source {s.names[p.source]}: fold {p.weight * p.source_mean:.6g} into the bias"))
            return
        boost = INPUT_SOURCE_BOOST if s.kind[p.source] == "input" else HIDDEN_SOURCE_BOOST
        if s.kind[t] == "hidden":
            boost *= HIDDEN_TARGET_BOOST
        reduction = p.improvement * share * impact
        gain = (reduction * pessimism(ratio, SYNAPSE_PESSIMISM) * boost * SYNAPSE_PREDICTION_CALIBRATION
                * logistic_modulator(ratio) * self.corrections.get("add-synapses", 1.0)
                * min(1.0, p.source_std / SOURCE_STD_REFERENCE))
        if gain <= 0:
            return
        result.add_synapses.append(SynapseSuggestion(
            s.names[p.source], s.names[t], p.weight, gain, reduction, p.improved, p.total, impact,
            f"least squares on {p.total} samples, improvement {p.improvement:.4g}"))

    def weight_update(self, p: synapses.PairResult, t: int, share: float, impact: float, result: DiscoverResult):
        ratio = p.improved / p.total if p.total else 0.0
        if p.improvement <= 0 or ratio < MIN_IMPROVED_RATIO:
            return
        gain = (p.improvement * share * impact * pessimism(ratio, SYNAPSE_PESSIMISM) * SYNAPSE_PREDICTION_CALIBRATION
                * logistic_modulator(ratio) * self.corrections.get("add-synapses", 1.0))
        old = self.s.inbound[t][p.source]
        result.weight_updates.append(WeightUpdate(self.s.names[p.source], self.s.names[t], p.weight, gain,
                                                  f"weight {old:.6g} -> {p.weight:.6g}, improvement {p.improvement:.4g}"))

    def add_neuron(self, n: neurons.NeuronResult, t: int, share: float, impact: float, result: DiscoverResult):
        ratio = n.improved / n.total
        reduction = n.improvement * share * impact
        gain = (reduction * pessimism(ratio, NEURON_PESSIMISM) * ACTIVATION_BOOST.get(n.squash, 1.0)
                * NEURON_PREDICTION_CALIBRATION * logistic_modulator(ratio) * self.corrections.get("add-neurons", 1.0))
        if gain > 0:
            result.add_neurons.append(NeuronSuggestion(
                self.s.names[n.source], self.s.names[t], n.incoming_weight, n.outgoing_weight, n.squash, n.bias, gain,
                reduction, n.improved, n.total, impact, f"grid search, improvement {n.improvement:.4g}"))


def synapses_removal(s: Structure, h: synapses.HarmfulResult, t: int, gain: float) -> SynapseRemoval:
    return SynapseRemoval(s.names[h.source], s.names[t], gain,
                          f"harmful on {h.harmful} of {h.total} samples (helpful on {h.helpful}); "
                          f"removing it removes {h.improvement:.4g} of the target's squared error")


def _finish(result: DiscoverResult, options: AnalysisOptions) -> None:
    """Sort best first, add the gentler weight variants, cap the lists (§2.4, §2.6, §5.8)."""
    focus_n = max(1, len(result.focus))
    max_syn = options.max_synapse_candidates or max(50, 10 * focus_n)
    max_neu = options.max_neuron_candidates or max(25, 5 * focus_n)
    by_gain = lambda x: (-x.expected_gain, getattr(x, "from_uuid", ""), getattr(x, "to_uuid", ""))  # noqa: E731
    best = sorted(result.add_synapses, key=by_gain)
    variants = []
    for p in best:
        for k in WEIGHT_VARIANTS_ADDED:   # the improvement at k·w of a least-squares fit is (2k − k²)·that at w
            fraction = 2 * k - k * k
            variants.append(SynapseSuggestion(p.from_uuid, p.to_uuid, p.weight * k, p.expected_gain * fraction,
                                              p.expected_error_reduction * fraction, p.improved_count, p.total_count,
                                              p.target_impact, f"{k}× variant of the fitted weight"))
    result.add_synapses = sorted(best + variants, key=by_gain)[:max_syn]
    result.weight_updates.sort(key=by_gain)
    result.remove_synapses.sort(key=by_gain)
    per_target: dict[str, int] = {}
    kept, seen = [], set()
    for n in sorted(result.add_neurons, key=lambda x: (-x.expected_gain, x.target_uuid, x.source_uuid, x.squash)):
        if (n.target_uuid, n.squash) in seen:
            continue   # one per (target, squash), the best
        seen.add((n.target_uuid, n.squash))
        if per_target.get(n.target_uuid, 0) < options.max_add_neuron_per_target:
            per_target[n.target_uuid] = per_target.get(n.target_uuid, 0) + 1
            kept.append(n)
    result.add_neurons = kept[:max_neu]
    result.squash_changes.sort(key=lambda x: (-x.expected_gain, x.neuron_uuid))
    result.coordinated.sort(key=lambda x: (-x.expected_gain, x.description))
