"""The Evaluator: registered datasets, compiled-network caches, a work-stealing pool of threads
running the nogil kernels, and a memory monitor — everything the gRPC servicer exposes, with
no gRPC in it.

`evaluate` splits a population into chunks (a few per worker, so idle workers can steal the
tail of a slow chunk list; a population too small to be worth it runs in the calling thread).
Creatures arrive as `Creature` models or as `FlatCreature`s (the RPC reads valid messages
straight into that form); either way they are flattened once. Each chunk compiles its creatures
(cached by their compiled bytes, which identify a creature's structure and topology exactly; see
`network.py`) and scores them in one
`evaluate_population` call, which releases the GIL.

`evaluate_creatures` is that chunk step on its own, public: in-process scoring (tests,
benchmarks, an embedded evolution) uses it instead of a server, with the same results.
"""
from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from neatai import metrics
from neatai.costs import COST_NAMES, DEFAULT_COST
from neatai.creature import DEFAULT_LIMITS, Creature, Limits
from neatai.datasets import MiB, Dataset, DatasetStore
from neatai.lru import CacheStats, LRUCache
from neatai.memory import MemoryMonitor, MemoryStats
from neatai.pool import PoolStats, WorkStealingPool, effective_threads
from neatai.recording import DEFAULT_SAMPLE_RATE

from .forward import evaluate_population, sample_rows
from .recorder import DEFAULT_TIMEOUT_S, RecordOutcome, default_recording_dir, record
from .train_jobs import TrainingCounters, TrainingJob
from .training import train_options
from .wire_reader import FlatCreature
from .network import NetworkCompiler
from .score import score
from .session import Session

# Chunks per worker: enough for stealing to even out uneven chunks, few enough that the
# per-call overhead (input checks, packing) stays small.
CHUNKS_PER_WORKER = 4
# Kernel work (synapse+neuron updates × records) worth a chunk of its own, ~0.5 ms. Below it,
# handing work to the pool costs more than it saves (thread wake-ups, GIL hand-offs while
# compiling), so a small population runs in the calling thread.
MIN_CHUNK_WORK = 500_000
SESSIONS = 4096  # Activate sessions kept (episodes in flight); the least recently used go first


class EvaluationError(ValueError):
    """A request that cannot be evaluated as given; `field` names the request part at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class ShapeMismatch(EvaluationError):
    """A creature's input/output counts differ from the dataset's."""


@dataclass(frozen=True)
class CreatureResult:
    error: float
    score: float
    compile_seconds: float
    activate_seconds: float
    structural_hash: str | None  # None unless asked for (computing it costs ~1 µs a creature)


@dataclass(frozen=True)
class Scores:
    """A scored batch column by column (what the RPC writes out without building objects)."""
    errors: np.ndarray            # float64 per creature
    scores: np.ndarray
    compile_seconds: np.ndarray   # 0 on a cache hit
    activate_seconds: np.ndarray  # the batch's kernel time shared in proportion to size
    structural_hashes: list[str] | None = None

    def __len__(self) -> int:
        return len(self.errors)

    def rows(self) -> list[CreatureResult]:
        hashes = self.structural_hashes or [None] * len(self)
        return [CreatureResult(*r) for r in zip(self.errors.tolist(), self.scores.tolist(),
                                                self.compile_seconds.tolist(), self.activate_seconds.tolist(), hashes)]

    @staticmethod
    def join(parts: Sequence[Scores]) -> Scores:
        if len(parts) == 1:
            return parts[0]
        hashes = None if parts[0].structural_hashes is None else [h for p in parts for h in p.structural_hashes]
        return Scores(*(np.concatenate([getattr(p, f) for p in parts])
                        for f in ("errors", "scores", "compile_seconds", "activate_seconds")), hashes)


@dataclass(frozen=True)
class EvaluatorStats:
    caches: list[CacheStats]
    pools: list[PoolStats]
    memory: MemoryStats


@dataclass
class EvaluatorConfig:
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    # NEAT-AI workerThreadCap: threads = min(threads, max_memory_mb // per-worker) when > 0.
    max_memory_mb: float = 0
    estimated_memory_per_worker_mb: float = 2048
    network_cache_size: int = 512
    template_cache_size: int = 100
    dataset_store_bytes: int = 1024 * MiB
    # None: the container's memory limit (cgroup), else the machine's RAM.
    memory_budget_bytes: int | None = None
    memory_check_interval_s: float = 1.0
    # Fractions of the budget where caches are shrunk (warning) and cleared (critical).
    memory_warning: float = 0.70
    memory_critical: float = 0.85
    limits: Limits = DEFAULT_LIMITS
    # Where Record writes recordings (env NEATAI_RECORDING_DIR, else <tmp>/neatai-discovery).
    recording_dir: str = field(default_factory=default_recording_dir)


class Evaluator:
    def __init__(self, config: EvaluatorConfig | None = None, **overrides):
        config = config or EvaluatorConfig()
        for key, value in overrides.items():
            if not hasattr(config, key):
                raise TypeError(f"unknown evaluator option {key!r}")
            setattr(config, key, value)
        self.config = config
        self.limits = config.limits
        self.threads = effective_threads(config.threads, config.max_memory_mb, config.estimated_memory_per_worker_mb)
        self.compiler = NetworkCompiler(config.network_cache_size, config.template_cache_size)
        self.sessions: LRUCache[str, tuple] = LRUCache("activate-sessions", SESSIONS)  # Activate session_id
        self.datasets = DatasetStore(config.dataset_store_bytes)
        self.pool = WorkStealingPool("evaluator", self.threads)
        # Compiled networks can be rebuilt at will; datasets cannot (callers re-upload on
        # NOT_FOUND), so only the compiler's caches give memory back under pressure.
        self.memory = MemoryMonitor(config.memory_budget_bytes, config.memory_warning, config.memory_critical,
                                    interval_s=config.memory_check_interval_s)
        self.memory.register(self.compiler.caches)
        self.memory.start()
        self.training = TrainingCounters()
        self._metrics = [
            metrics.register_training(lambda: [self.training]),
            metrics.register_caches(self.caches),
            metrics.register_pools(lambda: [self.pool]),
            metrics.register_memory(lambda: [self.memory]),
        ]

    # -- datasets ---------------------------------------------------------------------------

    def register_dataset(self, dataset: Dataset) -> tuple[str, bool]:
        return self.datasets.register(dataset)

    def dataset(self, dataset_id: str) -> Dataset:
        """The registered dataset; raises `DatasetNotFound`."""
        return self.datasets.get(dataset_id)

    # -- evaluation -------------------------------------------------------------------------

    def evaluate(self, dataset_id: str, creatures: Sequence[Creature | FlatCreature], cost: str = DEFAULT_COST,
                 cost_of_growth: float = 1e-7, sample_rate: float = 1.0,
                 feedback_loop: bool = False, structural_hashes: bool = False) -> list[CreatureResult]:
        """Error and score of every creature on the dataset, in order (with each one's structural
        hash when `structural_hashes`).

        Raises `DatasetNotFound`, `ShapeMismatch` or `EvaluationError` (bad cost, rate, growth).
        """
        return self.evaluate_scores(dataset_id, creatures, cost, cost_of_growth, sample_rate, feedback_loop,
                                    structural_hashes).rows()

    def evaluate_scores(self, dataset_id: str, creatures: Sequence[Creature | FlatCreature], cost: str = DEFAULT_COST,
                        cost_of_growth: float = 1e-7, sample_rate: float = 1.0, feedback_loop: bool = False,
                        structural_hashes: bool = False) -> Scores:
        """`evaluate`, as columns."""
        dataset = self.dataset(dataset_id)
        if cost not in COST_NAMES:
            raise EvaluationError("cost", f"unknown cost {cost!r}; expected one of {', '.join(COST_NAMES)}")
        if not (0 < sample_rate <= 1):
            raise EvaluationError("fitness_sample_rate", f"must be in (0, 1], got {sample_rate}")
        if len(sample_rows(dataset.records, sample_rate)) == 0:
            raise EvaluationError("fitness_sample_rate",
                                  f"{sample_rate} keeps none of the dataset's {dataset.records} records")
        if not (math.isfinite(cost_of_growth) and cost_of_growth >= 0):
            raise EvaluationError("cost_of_growth", f"must be finite and >= 0, got {cost_of_growth}")
        self.check_shapes(dataset, creatures)
        creatures = [c if isinstance(c, FlatCreature) else FlatCreature.of(c) for c in creatures]
        records = len(sample_rows(dataset.records, sample_rate))
        work = records * sum(c.size for c in creatures)
        bounds = _chunks(len(creatures), min(self.threads * CHUNKS_PER_WORKER, work // MIN_CHUNK_WORK))
        chunk = (dataset.X, dataset.Y, cost, cost_of_growth, sample_rate, feedback_loop, self.compiler,
                 structural_hashes)
        if len(bounds) == 1:
            return score_creatures(creatures, *chunk)
        futures = [self.pool.submit(score_creatures, creatures[a:b], *chunk) for a, b in bounds]
        return Scores.join([f.result() for f in futures])

    # -- training ---------------------------------------------------------------------------

    def train(self, dataset_id: str, creatures: Sequence[Creature], cost: str = DEFAULT_COST,
              feedback_loop: bool = False, options: dict | None = None, stop: Callable[[], bool] | None = None,
              progress: bool = False) -> TrainingJob:
        """Start training every creature on the dataset with NEAT-AI's options (training.DEFAULTS),
        one pool task per creature; `stop()` true stops the job (see train_jobs). With `progress`
        the job's events include every pass.

        Raises `EvaluationError` (bad cost), `TrainOptionsError` (every bad option, by name),
        `DatasetNotFound` or `ShapeMismatch`, in that order, before any work starts."""
        if cost not in COST_NAMES:
            raise EvaluationError("cost", f"unknown cost {cost!r}; expected one of {', '.join(COST_NAMES)}")
        options = dict(options or {})
        train_options(options, np.random.default_rng(0))  # validates; each task resolves its own draw
        dataset = self.dataset(dataset_id)
        self.check_shapes(dataset, creatures)
        return TrainingJob(self.pool, creatures, dataset.X, dataset.Y, cost, feedback_loop, options, self.training,
                           stop, progress)

    @staticmethod
    def check_shapes(dataset: Dataset, creatures: Sequence[Creature | FlatCreature]) -> None:
        bad = [i for i, c in enumerate(creatures) if (c.input, c.output) != (dataset.inputs, dataset.outputs)]
        if bad:
            c = creatures[bad[0]]
            raise ShapeMismatch(
                f"creatures[{bad[0]}]",
                f"{len(bad)} creature(s) (first creatures[{bad[0]}] with {c.input} inputs/{c.output} outputs) do not "
                f"match dataset {dataset.id} with {dataset.inputs} inputs/{dataset.outputs} outputs")

    def record(self, dataset_id: str, creature: Creature, sample_rate: float = DEFAULT_SAMPLE_RATE,
               seed: int | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
               stop: Callable[[], bool] = lambda: False, predictive_coding: dict | None = None) -> RecordOutcome:
        """Record the creature on a sample of the dataset under config.recording_dir (recorder.py).
        Raises `DatasetNotFound`, `ShapeMismatch`, then what `recorder.record` raises."""
        dataset = self.dataset(dataset_id)
        self.check_shapes(dataset, [creature])
        return record(creature, dataset, dataset_id, self.config.recording_dir, sample_rate, seed, timeout_s, stop,
                      predictive_coding_options=predictive_coding)

    def activate(self, creature: Creature, X: np.ndarray, feedback_loop: bool = False) -> np.ndarray:
        """Outputs float32[n, creature.output] of one creature on rows X float32[n, creature.input]."""
        X = self._activation_inputs(creature, X)
        network, _ = self.compiler.compile(creature)
        return network.activate(X, feedback_loop)

    def step(self, session_id: str, creature: Creature, X: np.ndarray, reset: bool = False) -> tuple[np.ndarray, int]:
        """Outputs of rows X taken after the rows this session stepped before (its recurrent
        state kept between calls), and the session's steps so far. A session is started anew by
        `reset`, by another creature, or when it was evicted (the least recently used go first)."""
        X = self._activation_inputs(creature, X)
        key = creature.structural_hash()
        entry = self.sessions.get(session_id)
        if entry is None or entry[0] != key:
            entry = (key, Session(self.compiler.compile(creature)[0]), threading.Lock())
            self.sessions.put(session_id, entry)
        _, session, lock = entry
        with lock:  # two calls of one session take their turns
            if reset:
                session.reset()
            return session.step(X), session.steps

    @staticmethod
    def _activation_inputs(creature: Creature, X: np.ndarray) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != creature.input:
            raise EvaluationError("inputs", f"expected shape (rows, {creature.input}), got {X.shape}")
        if not np.isfinite(X).all():
            raise EvaluationError("inputs.values", "non-finite value in the inputs")
        return X

    # -- introspection ----------------------------------------------------------------------

    def caches(self):
        return [*self.compiler.caches(), self.datasets.cache]

    def stats(self) -> EvaluatorStats:
        self.memory.check()
        return EvaluatorStats([c.stats() for c in self.caches()], [self.pool.stats()], self.memory.stats())

    def close(self) -> None:
        for registration in self._metrics:
            registration.close()
        self.memory.stop()
        self.pool.shutdown(wait=True, cancel_pending=True)


def evaluate_creatures(creatures: Sequence[Creature | FlatCreature], X: np.ndarray, Y: np.ndarray,
                       cost: str = DEFAULT_COST, cost_of_growth: float = 1e-7, sample_rate: float = 1.0,
                       feedback_loop: bool = False, compiler: NetworkCompiler | None = None,
                       structural_hashes: bool = False) -> list[CreatureResult]:
    """Score creatures on rows X float32[n, inputs] against Y float32[n, outputs] in the calling
    thread: compile each (through `compiler`, default a process-wide one) and run one kernel call.

    Inputs are not validated beyond what the kernel checks (`Evaluator.evaluate` validates a
    request first); a bad cost or shape raises ValueError.
    """
    return score_creatures(creatures, X, Y, cost, cost_of_growth, sample_rate, feedback_loop, compiler,
                           structural_hashes).rows()


def score_creatures(creatures: Sequence[Creature | FlatCreature], X: np.ndarray, Y: np.ndarray,
                    cost: str = DEFAULT_COST, cost_of_growth: float = 1e-7, sample_rate: float = 1.0,
                    feedback_loop: bool = False, compiler: NetworkCompiler | None = None,
                    structural_hashes: bool = False) -> Scores:
    """`evaluate_creatures`, as columns."""
    compiler = compiler or _in_process_compiler()
    flat = [c if isinstance(c, FlatCreature) else FlatCreature.of(c) for c in creatures]
    t0 = time.perf_counter()
    networks, hits = compiler.compile_all(flat)
    compiled = time.perf_counter() - t0
    t0 = time.perf_counter()
    errors = evaluate_population(networks, X, Y, cost, sample_rate, feedback_loop)
    elapsed = time.perf_counter() - t0
    # One compile pass and one kernel call serve the batch; their times are shared in
    # proportion to network size (compile time among the cache misses only).
    sizes = np.array([n.n_neurons + n.n_synapses for n in networks], dtype=np.float64)
    missed = sizes * ~np.array(hits, dtype=bool)
    compile_s = compiled * missed / missed.sum() if missed.sum() else np.zeros(len(flat))
    activate_s = elapsed * sizes / sizes.sum() if len(flat) else sizes
    scores = np.array([score(c, e, cost_of_growth) for c, e in zip(flat, errors.tolist())], dtype=np.float64)
    return Scores(errors, scores, compile_s, activate_s,
                  [c.structural_hash() for c in flat] if structural_hashes else None)


def evaluate_in_process(creatures: Sequence[Creature | FlatCreature], X: np.ndarray, Y: np.ndarray,
                        cost: str = DEFAULT_COST, cost_of_growth: float = 1e-7, sample_rate: float = 1.0,
                        feedback_loop: bool = False,
                        compiler: NetworkCompiler | None = None) -> tuple[list[float], list[float]]:
    """(errors, scores) in creature order: `evaluate_creatures` in the form an evolution's
    evaluate step takes (`Evolution.tell`, `Evolution.run`)."""
    results = evaluate_creatures(creatures, X, Y, cost, cost_of_growth, sample_rate, feedback_loop, compiler)
    return [r.error for r in results], [r.score for r in results]


# In-process callers score generation after generation of one evolution: room for several
# populations' networks (an evaluator sizes its own compiler from its config).
IN_PROCESS_NETWORK_CACHE = 4096
_COMPILER: NetworkCompiler | None = None


def _in_process_compiler() -> NetworkCompiler:
    global _COMPILER
    if _COMPILER is None:
        _COMPILER = NetworkCompiler(network_cache_size=IN_PROCESS_NETWORK_CACHE)
    return _COMPILER


def _chunks(n: int, max_chunks: int) -> list[tuple[int, int]]:
    """Up to `max_chunks` contiguous [a, b) ranges of near-equal size covering range(n)."""
    k = max(1, min(n, max_chunks))
    edges = [round(i * n / k) for i in range(k + 1)]
    return [(edges[i], edges[i + 1]) for i in range(k)]
