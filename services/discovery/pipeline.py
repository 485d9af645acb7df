"""One discovery run (seed 001 "Pipeline Overview", reference §5.1): record → analyse → build
candidates → filter into slots → phase 1 → caches → phase 2 → caches → the best improvement.

Nothing here knows gRPC or where the evaluators are: the run is handed its three steps —
`record(creature) -> recording path`, `analyse(path, creature) -> DiscoverResult` and
`score(creatures) -> (errors, scores)` — so each can be the real service or a local function.
The original creature is re-scored in the same batch as phase 1, so every delta compares
scores from one evaluation of one dataset; a candidate succeeds when its score is higher.
"""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from neatai.creature import Creature
from neatai.tracing import span

from . import diagnostics as diag
from .caches import DiscoveryCaches, Outcome
from .candidates import BuildStats, Candidate, build
from .combinations import combine, prune, supplement
from .filtering import select
from .result import DiscoverResult

log = logging.getLogger(__name__)

STAGES = ("recording", "analysis", "phase1", "phase2")

Record = Callable[[Creature], str]
Analyse = Callable[[str, Creature], DiscoverResult]
Score = Callable[[Sequence[Creature]], tuple[list[float], list[float]]]
Progress = Callable[[str, dict], None]


class Cancelled(RuntimeError):
    """The caller went away or asked to stop; nothing more is scored or cached."""


class DeadlineExceeded(RuntimeError):
    """The run's deadline passed before it could finish."""


@dataclass
class PipelineOptions:
    threads: int = 4  # evaluator threads: maxCandidates = max(2 × threads, categories)
    slots: int | None = None  # overrides maxCandidates
    removal_slots: int = 3
    phase2: bool = True
    seed: int = 0


@dataclass
class Scored:
    candidate: Candidate
    outcome: Outcome
    phase: int


@dataclass
class DiscoveryOutcome:
    id: str
    original_score: float
    original_error: float
    best: Scored | None
    additional: list[Scored]
    diagnostics: dict[str, diag.TypeDiagnostics]
    timings: dict[str, float]
    analysis: DiscoverResult | None
    recording_path: str
    built: BuildStats
    evaluated: dict[int, int] = field(default_factory=dict)  # phase → candidates scored

    @property
    def improved(self) -> bool:
        return self.best is not None


class Pipeline:
    def __init__(self, record: Record, analyse: Analyse, score: Score, caches: DiscoveryCaches,
                 options: PipelineOptions = PipelineOptions(), diagnostics_dir: str | Path | None = None):
        self.record = record
        self.analyse = analyse
        self.score = score
        self.caches = caches
        self.options = options
        self.diagnostics_dir = diagnostics_dir

    def run(self, creature: Creature, discovery_id: str, progress: Progress = lambda stage, detail: None,
            cancelled: Callable[[], bool] = lambda: False, deadline: float | None = None) -> DiscoveryOutcome:
        """Raises Cancelled, DeadlineExceeded, or what a step raises (nothing is cached then
        beyond the phases that completed)."""
        timings: dict[str, float] = {}

        def checkpoint(stage: str) -> None:
            if cancelled():
                raise Cancelled(f"discovery {discovery_id} cancelled before {stage}")
            if deadline is not None and time.monotonic() > deadline:
                raise DeadlineExceeded(f"discovery {discovery_id} ran out of time before {stage}")

        def timed(stage: str, fn, **attributes):
            checkpoint(stage)
            progress(stage, {})
            t = time.perf_counter()
            with span(f"discovery.{stage}", **attributes):
                value = fn()
            timings[stage] = time.perf_counter() - t
            return value

        rng = random.Random(self.options.seed)
        path = timed("recording", lambda: self.record(creature))
        result = timed("analysis", lambda: self.analyse(path, creature))
        known_removals = self.caches.successful_removal_uuids()
        singles, built = build(creature, result, known_removals)
        selection = select(singles, self.options.threads, rng, self.caches.is_failure, known_removals,
                           self.options.removal_slots, self.options.slots)
        skipped = selection.skipped_cached
        scored: list[Scored] = []

        def phase(number: int, candidates: list[Candidate]) -> tuple[float, float, list[Scored]]:
            # The original first: its score in this batch is what every candidate is compared with.
            errors, scores = self.score([creature] + [c.creature for c in candidates])
            checkpoint(f"caching phase {number}")  # a cancelled run records nothing it scored
            results = []
            for c, e, s in zip(candidates, errors[1:], scores[1:]):
                r = Scored(c, Outcome(scores[0], s, errors[0], e), number)
                self.caches.record(c, r.outcome, discovery_id)
                results.append(r)
            return errors[0], scores[0], results

        original_error, original_score, first = timed(
            "phase1", lambda: phase(1, selection.selected), candidates=len(selection.selected))
        scored += first
        successes = [(r.candidate, r.outcome.candidate_score) for r in first if r.outcome.improved]
        evaluated = {1: len(first)}
        if self.options.phase2 and successes:
            pool = prune(successes)
            if len(successes) == 1:  # #1734: one success is enough, with history beside it
                pool += supplement(creature, pool, self.caches.successes(), built)
            combos = []
            for c in combine(creature, pool, built):
                if self.caches.is_failure(c):  # combo-successful is cached by the resulting structure
                    skipped[c.change_type] += 1
                else:
                    combos.append(c)
            if combos:
                _, _, second = timed("phase2", lambda: phase(2, combos), candidates=len(combos))
                scored += second
                evaluated[2] = len(second)
        improvements = sorted((r for r in scored if r.outcome.improved), key=lambda r: -r.outcome.candidate_score)
        diagnostics = diag.tally((r.candidate.change_type, r.outcome.delta) for r in scored)
        for change_type, n in built.repaired.items():
            diagnostics.setdefault(change_type, diag.TypeDiagnostics()).repaired = n
        for change_type, n in skipped.items():
            diagnostics.setdefault(change_type, diag.TypeDiagnostics()).skipped_cached = n
        if self.diagnostics_dir is not None:
            diag.write(Path(self.diagnostics_dir), discovery_id, diagnostics)
        self.caches.evict()
        if sum(built.repaired.values()):
            log.warning("discovery %s: %d candidate(s) needed a repair (a builder bug): %s", discovery_id,
                        sum(built.repaired.values()), dict(built.repaired))
        return DiscoveryOutcome(discovery_id, original_score, original_error,
                                improvements[0] if improvements else None, improvements[1:], diagnostics,
                                timings, result, path, built, evaluated)
