"""The discovery service without gRPC: datasets, caches, the evaluator pool, the analysis step,
concurrency, and the totals that stats and metrics report. `DiscoveryServicer` adapts it.

Recording and scoring go to the evaluators (`EvaluatorPool.record`, `.evaluate`); the
recording is a Parquet file on the recording evaluator's disk, which this service reads where
it runs, then asks that evaluator to delete (DeleteRecording): so the recorder is an evaluator
on this machine (loopback, or a sidecar in the pod sharing the recordings volume), while
scoring may go to any evaluator.
"""
from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Protocol

from neatai.costs import DEFAULT_COST
from neatai.creature import Creature
from neatai.datasets import Dataset, DatasetStore
from neatai.evaluator_pool import EvaluatorError, EvaluatorPool
from neatai.recording import sampled_count

from .caches import CacheLimits, DiscoveryCaches
from .diagnostics import TypeDiagnostics
from .pipeline import Cancelled, DeadlineExceeded, DiscoveryOutcome, Pipeline, PipelineOptions, Progress
from .result import DiscoverResult

log = logging.getLogger(__name__)

DEFAULT_SAMPLE_RATE = 0.2
DEFAULT_RECORD_TIMEOUT_S = 300.0  # discoveryRecordTimeOutMinutes 5
DEFAULT_ANALYSIS_TIMEOUT_S = 600.0  # discoveryAnalysisTimeoutMinutes 10
MAX_TIMEOUT_S = 3600.0
DEFAULT_MAX_OUTGOING_WEIGHT = 0.1  # measured: bench/RESULTS.md "Discovery service"
# Observations x rows (inputs and neurons) one recording, and so one analysis, may hold: the
# recorder's buffer and the analysis' dense matrices grow with it (12 bytes a value loaded).
DEFAULT_MAX_RECORDING_VALUES = 50_000_000


class Analyse(Protocol):
    """The analysis engine: a recording of `creature` → what to change (neatai.discovery.analysis)."""

    def __call__(self, recording_path: str, creature: Creature, options: "DiscoverOptions",
                 cancelled: Callable[[], bool]) -> DiscoverResult: ...


class Busy(RuntimeError):
    """As many discoveries as allowed run already."""


class ShapeMismatch(ValueError):
    """The creature's inputs or outputs differ from the dataset's."""


class RecordingTooLarge(RuntimeError):
    """The recording asked for would cross `max_recording_values`; found before anything is recorded."""

    limit = "max_recording_values"


@dataclass(frozen=True)
class DiscoverOptions:
    sample_rate: float = DEFAULT_SAMPLE_RATE
    cost: str = DEFAULT_COST
    cost_of_growth: float = 1e-7
    seed: int = 0
    max_candidates: int | None = None
    combinations: bool = True
    record_timeout_s: float = DEFAULT_RECORD_TIMEOUT_S
    analysis_timeout_s: float = DEFAULT_ANALYSIS_TIMEOUT_S
    focus_neurons: tuple[str, ...] = ()
    feedback_loop: bool = False
    max_outgoing_weight: float = DEFAULT_MAX_OUTGOING_WEIGHT
    # Set by the service, not the request: recent failures the analysis calibrates its predictions on.
    failure_cache: tuple[dict, ...] = ()


@dataclass
class DiscoveryConfig:
    cache_dir: str | Path
    evaluator_threads: int = 4  # all evaluators together: maxCandidates = max(2 × threads, categories)
    max_concurrent: int = 2
    cache_limits: CacheLimits = field(default_factory=CacheLimits)
    backend: str = "numpy"  # where analyses run, as the engine chose it at start
    max_recording_values: int = DEFAULT_MAX_RECORDING_VALUES  # RecordingTooLarge beyond


@dataclass
class Totals:
    """Counts since start (GetDiscoveryStats, metrics)."""
    runs: Counter = field(default_factory=Counter)  # outcome → count: improved, unimproved, failed, cancelled
    in_flight: int = 0
    by_type: dict[str, TypeDiagnostics] = field(default_factory=dict)
    stage_seconds: Counter = field(default_factory=Counter)  # summed per stage
    stage_runs: Counter = field(default_factory=Counter)


class DiscoveryService:
    def __init__(self, pool: EvaluatorPool, datasets: DatasetStore, analyse: Analyse, config: DiscoveryConfig,
                 recorder: EvaluatorPool | None = None):
        self.pool = pool
        self.recorder = recorder or pool  # the evaluator whose disk this service reads
        self.datasets = datasets
        self.analyse = analyse
        self.config = config
        self.caches = DiscoveryCaches(config.cache_dir, config.cache_limits)
        self.totals = Totals()
        self._slots = threading.BoundedSemaphore(config.max_concurrent)
        self._lock = threading.Condition()

    def dataset(self, dataset_id: str) -> Dataset:
        """Raises neatai.datasets.DatasetNotFound."""
        return self.datasets.get(dataset_id)

    def discover(self, dataset_id: str, creature: Creature, options: DiscoverOptions,
                 progress: Progress = lambda stage, detail: None, cancelled: Callable[[], bool] = lambda: False,
                 deadline: float | None = None) -> DiscoveryOutcome:
        """One discovery run. Raises DatasetNotFound, ShapeMismatch, RecordingTooLarge, Busy, Cancelled,
        DeadlineExceeded, EvaluatorError (the evaluators could not record or score)."""
        dataset = self.dataset(dataset_id)
        if (creature.input, creature.output) != (dataset.inputs, dataset.outputs):
            raise ShapeMismatch(f"the creature has {creature.input} inputs/{creature.output} outputs, "
                                f"dataset {dataset_id} has {dataset.inputs}/{dataset.outputs}")
        self._check_size(dataset, creature, options)
        if not self._slots.acquire(blocking=False):
            raise Busy(f"{self.config.max_concurrent} discoveries are running; retry later")
        discovery_id = f"discovery-{uuid.uuid4().hex[:12]}"
        with self._lock:
            self.totals.in_flight += 1
        outcome_name = "failed"
        try:
            folders: dict[str, str] = {}  # recording path → its folder on the recorder
            pipeline = Pipeline(self._recorder(dataset, options, folders),
                                lambda path, c: self._analysed(path, c, options, cancelled, folders),
                                self._scorer(dataset, options), self.caches,
                                PipelineOptions(threads=self.config.evaluator_threads, slots=options.max_candidates,
                                                phase2=options.combinations, seed=options.seed),
                                diagnostics_dir=self.config.cache_dir)
            outcome = pipeline.run(creature, discovery_id, progress, cancelled, deadline)
            outcome_name = "improved" if outcome.improved else "unimproved"
            self._count(outcome)
            return outcome
        except (Cancelled, DeadlineExceeded):
            outcome_name = "cancelled"
            raise
        finally:
            with self._lock:
                self.totals.in_flight -= 1
                self.totals.runs[outcome_name] += 1
                self._lock.notify_all()
            self._slots.release()

    def _check_size(self, dataset: Dataset, creature: Creature, options: DiscoverOptions) -> None:
        observations = sampled_count(dataset.records, options.sample_rate)
        rows = creature.input + len(creature.neurons)
        if observations * rows > self.config.max_recording_values:
            raise RecordingTooLarge(
                f"recording {observations} observations x {rows} neurons (inputs included) = {observations * rows} "
                f"values exceeds the limit of {self.config.max_recording_values} (max_recording_values): lower "
                "options.sample_rate, or raise --max-recording-values")

    def _recorder(self, dataset: Dataset, options: DiscoverOptions, folders: dict[str, str]):
        def record(creature: Creature) -> str:
            response = self.recorder.record(dataset, creature, options.sample_rate, options.seed,
                                            options.record_timeout_s)
            folders[response.path] = response.directory
            return response.path
        return record

    def _analysed(self, path: str, creature: Creature, options: DiscoverOptions, cancelled: Callable[[], bool],
                  folders: dict[str, str]) -> DiscoverResult:
        try:
            options = replace(options, failure_cache=tuple(self.caches.failure_summaries()))
            return self.analyse(path, creature, options, cancelled)
        finally:  # the recording served its purpose: the evaluator that wrote it deletes it
            try:
                self.recorder.delete_recording(folders.pop(path))
            except EvaluatorError as e:  # it sweeps orphans itself; the run need not fail
                log.warning("recording %s not deleted: %s", path, e)

    def _scorer(self, dataset: Dataset, options: DiscoverOptions):
        def score(creatures):
            return self.pool.evaluate(dataset, list(creatures), cost=options.cost,
                                      cost_of_growth=options.cost_of_growth, feedback_loop=options.feedback_loop)
        return score

    def _count(self, outcome: DiscoveryOutcome) -> None:
        with self._lock:
            for change_type, d in outcome.diagnostics.items():
                t = self.totals.by_type.setdefault(change_type, TypeDiagnostics())
                t.evaluated += d.evaluated
                t.improved += d.improved
                t.delta_sum += d.delta_sum
                t.repaired += d.repaired
                t.skipped_cached += d.skipped_cached
            for stage, seconds in outcome.timings.items():
                self.totals.stage_seconds[stage] += seconds
                self.totals.stage_runs[stage] += 1

    def snapshot(self) -> Totals:
        """A copy of the totals, safe to read while runs go on."""
        with self._lock:
            return Totals(Counter(self.totals.runs), self.totals.in_flight,
                          {k: TypeDiagnostics(**vars(v)) for k, v in self.totals.by_type.items()},
                          Counter(self.totals.stage_seconds), Counter(self.totals.stage_runs))

    def close(self, wait_s: float = 30.0) -> None:
        """Close the evaluator pool once the runs in flight have ended (a stopped server
        cancels them; each stops at its next stage). A channel closed under a call still using
        it can crash the process, so a run still going after `wait_s` keeps the pool open."""
        with self._lock:
            idle = self._lock.wait_for(lambda: self.totals.in_flight == 0, timeout=wait_s)
        if idle:
            self.pool.close()
            if self.recorder is not self.pool:
                self.recorder.close()
        else:
            log.warning("%d discoveries still running after %.0fs; their evaluator channels stay open",
                        self.totals.in_flight, wait_s)
